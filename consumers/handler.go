package consumers

import (
	"context"
	"fmt"
	"time"
)

// Handler processes one message. It must be safe for concurrent use: the runner calls it from up
// to Config.Concurrency goroutines. ctx is cancelled when the runner gives up on in-flight work
// at shutdown (after Config.ShutdownGrace), not when the runner merely stops fetching.
type Handler interface {
	Handle(ctx context.Context, msg *Message) Decision
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msg *Message) Decision

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, msg *Message) Decision { return f(ctx, msg) }

// BatchHandler processes up to Config.Concurrency messages at once and returns one Decision per
// message, in the same order. A result of the wrong length retries the whole batch. The update
// consumer uses it to read Slurm state once per batch. Calls never overlap within one runner.
type BatchHandler interface {
	HandleBatch(ctx context.Context, msgs []*Message) []Decision
}

// BatchHandlerFunc adapts a function to BatchHandler.
type BatchHandlerFunc func(ctx context.Context, msgs []*Message) []Decision

// HandleBatch calls f.
func (f BatchHandlerFunc) HandleBatch(ctx context.Context, msgs []*Message) []Decision {
	return f(ctx, msgs)
}

// Middleware wraps a Handler with cross-cutting behaviour.
type Middleware func(Handler) Handler

// Chain wraps h with mws; the first middleware is the outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Timeout is a Middleware that cancels the handler's context after d. A handler that returns
// because of it should return Retry; if it still returns Ack the message is acked.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, msg *Message) Decision {
			ctx, cancel := context.WithTimeoutCause(ctx, d, fmt.Errorf("handler timeout %s", d))
			defer cancel()
			return next.Handle(ctx, msg)
		})
	}
}
