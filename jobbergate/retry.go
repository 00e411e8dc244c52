package jobbergate

import (
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/backoff"
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

// setDefaults fills the fields left at their zero value.
func (p *RetryPolicy) setDefaults() {
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
}

// backoff is the wait after the given failed attempt (1-based): a random duration between half
// and all of min(InitialBackoff × 2^(attempt-1), MaxBackoff) ("equal jitter").
func (p RetryPolicy) backoff(attempt int) time.Duration {
	return backoff.Policy{Initial: p.InitialBackoff, Max: p.MaxBackoff, Jitter: backoff.Equal}.Delay(attempt)
}
