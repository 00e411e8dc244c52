package consumers

import (
	"math"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/backoff"
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
	p := backoff.Policy{Initial: b.Initial, Max: b.Max, Multiplier: b.Multiplier, Jitter: backoff.Spread(b.Jitter)}
	if p.Initial <= 0 {
		p.Initial = time.Second
	}
	if p.Max <= 0 {
		p.Max = 5 * time.Minute
	}
	if b == (Backoff{}) {
		p.Jitter = backoff.Spread(0.2)
	}
	return p.Delay(int(min(numDelivered, math.MaxInt)))
}
