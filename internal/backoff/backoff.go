package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Policy is an exponential schedule: Initial, then Multiplier times the previous delay, never
// more than Max, each randomised by Jitter. The zero Multiplier means 2.
type Policy struct {
	// Initial is the delay after the first failure. It must be positive; Delay returns 0 when
	// it is not.
	Initial time.Duration
	// Max caps the delay before jitter; 0 means no cap.
	Max time.Duration
	// Multiplier is the growth per failure; values below 1 mean 2.
	Multiplier float64
	// Jitter randomises the capped delay; nil leaves it as it is.
	Jitter Jitter
}

// Jitter turns a computed delay into the one waited, so that many clients failing together do
// not retry together.
type Jitter func(d time.Duration) time.Duration

// Equal is "equal jitter": a delay drawn uniformly from [d/2, d]. It never exceeds the cap and
// keeps at least half of the schedule.
func Equal(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Spread returns a Jitter drawing uniformly from [d×(1−f), d×(1+f)]; f is clamped to [0, 0.9].
func Spread(f float64) Jitter {
	f = min(max(f, 0), 0.9)
	return func(d time.Duration) time.Duration {
		if f == 0 || d <= 0 {
			return d
		}
		return time.Duration(float64(d) * (1 - f + 2*f*rand.Float64()))
	}
}

// Delay returns the wait after the n-th failed attempt (n counts from 1).
func (p Policy) Delay(n int) time.Duration {
	if p.Initial <= 0 {
		return 0
	}
	mult := p.Multiplier
	if mult < 1 {
		mult = 2
	}
	limit := float64(math.MaxInt64 / 2) // far beyond any wait, and still a valid Duration after Spread
	if p.Max > 0 {
		limit = float64(p.Max)
	}
	d := float64(p.Initial)
	if n > 1 {
		d *= math.Pow(mult, float64(n-1)) // +Inf when huge, and then the cap
	}
	out := time.Duration(min(d, limit))
	if p.Jitter != nil {
		out = p.Jitter(out)
	}
	return out
}

// Wait sleeps d, or until ctx is done, and returns ctx.Err() in that case (nil otherwise). A
// non-positive d returns at once, with ctx.Err().
func Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
