package consumers_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
)

// requireSubmission is middleware that dead-letters a message without a submission id before
// the handler sees it.
func requireSubmission(next consumers.Handler) consumers.Handler {
	return consumers.HandlerFunc(func(ctx context.Context, m *consumers.Message) consumers.Decision {
		if m.SubmissionID() == "" {
			return consumers.Terminate("no " + broker.HeaderSubmissionID + " header")
		}
		return next.Handle(ctx, m)
	})
}

// timeout is middleware that bounds every handler call by d.
func timeout(d time.Duration) consumers.Middleware {
	return func(next consumers.Handler) consumers.Handler {
		return consumers.HandlerFunc(func(ctx context.Context, m *consumers.Message) consumers.Decision {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next.Handle(ctx, m)
		})
	}
}

// Middleware wraps a Handler with behaviour that is not the handler's own; Chain applies a list
// of them, the first outermost. The runner (NewRunner takes middleware the same way) then turns
// each Decision into an acknowledgement.
func ExampleMiddleware() {
	slow := consumers.HandlerFunc(func(ctx context.Context, m *consumers.Message) consumers.Decision {
		select {
		case <-time.After(time.Second):
			return consumers.Ack()
		case <-ctx.Done():
			return consumers.Retry(fmt.Errorf("submission %s: %w", m.SubmissionID(), ctx.Err()))
		}
	})
	h := consumers.Chain(slow, requireSubmission, timeout(10*time.Millisecond))

	withID := &consumers.Message{Header: nats.Header{}}
	withID.Header.Set(broker.HeaderSubmissionID, "7")
	d := h.Handle(context.Background(), withID)
	fmt.Println(d)
	fmt.Println(d.Reason())

	d = h.Handle(context.Background(), &consumers.Message{})
	fmt.Println(d)
	// Output:
	// retry
	// submission 7: context deadline exceeded
	// terminate: no Jbg-Submission-Id header
}
