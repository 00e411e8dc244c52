package consumers

import "context"

type stoppingKey struct{}

// Stopping returns a channel that is closed once the Runner that handed ctx's message to the
// handler has begun to shut down: it fetches nothing more and waits up to ShutdownGrace for the
// handlers, whose ctx stays live meanwhile so that work already started can finish. A handler
// about to wait for a shared resource before starting work it cannot undo (an sbatch slot)
// should give up when it closes and return a retry, so that shutdown is not spent starting new
// work. Outside a Runner it returns nil, which never closes.
func Stopping(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stoppingKey{}).(<-chan struct{})
	return ch
}

// WithStopping returns ctx carrying stop as its Stopping channel. The Runner sets it for its
// handlers; it is exported for handlers run outside a Runner (tests, other dispatchers).
func WithStopping(ctx context.Context, stop <-chan struct{}) context.Context {
	return context.WithValue(ctx, stoppingKey{}, stop)
}
