package jobbergate

import (
	"context"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds the retries of idempotent calls (GET, PUT) after a transport error or an
// HTTP 5xx, 408 or 429 answer. POST calls are never retried by the Client: the caller's message
// redelivery retries them. The zero value means the defaults.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt: 1 disables retries; 0 means 3.
	MaxAttempts int
	// InitialBackoff is the base wait before the second attempt; 0 means 200 ms. The base
	// doubles after each attempt.
	InitialBackoff time.Duration
	// MaxBackoff caps the base wait; 0 means 5 s.
	MaxBackoff time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 3
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = 200 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 5 * time.Second
	}
	if p.MaxBackoff < p.InitialBackoff {
		p.MaxBackoff = p.InitialBackoff
	}
	return p
}

// backoff is the wait after the given failed attempt (1-based): a random duration between half
// and all of min(InitialBackoff × 2^(attempt-1), MaxBackoff) ("equal jitter").
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.InitialBackoff
	for i := 1; i < attempt && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleepCtx waits d or until ctx is done, whichever comes first, and returns ctx.Err() then.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
