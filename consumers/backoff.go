package consumers

import (
	"math/rand/v2"
	"time"
)

// Backoff computes the redelivery delay of a Retry from the delivery count:
// Initial * Multiplier^(n-1), capped at Max, then randomised by +/- Jitter (a fraction).
// Unset fields default to 1 s, x2 and 5 min; the zero Backoff also gets 20 % jitter.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Jitter     float64
}

// Delay returns the delay after the numDelivered-th delivery failed (numDelivered >= 1).
func (b Backoff) Delay(numDelivered uint64) time.Duration {
	initial, limit, mult, jitter := b.Initial, b.Max, b.Multiplier, b.Jitter
	if initial <= 0 {
		initial = time.Second
	}
	if limit <= 0 {
		limit = 5 * time.Minute
	}
	if mult < 1 {
		mult = 2
	}
	if b == (Backoff{}) {
		jitter = 0.2
	}
	jitter = min(max(jitter, 0), 0.9)
	d := float64(initial)
	for i := uint64(1); i < numDelivered && d < float64(limit); i++ {
		d *= mult
	}
	d = min(d, float64(limit))
	if jitter > 0 {
		d *= 1 - jitter + 2*jitter*rand.Float64()
	}
	return time.Duration(d)
}
