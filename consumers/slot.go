package consumers

import "context"

type slotKey struct{}

// ReleaseSlot gives back the Runner slot that ctx's message holds, so that the runner fetches
// another message while this one waits for something other than this process's work (a share
// of a resource that another message of the same owner holds). The message stays in flight: it
// is heartbeated, settled by its Decision and nak'ed at shutdown as before, but it no longer
// counts against Config.Concurrency, so the handler must bound on its own what it does from
// then on (how many such messages wait, how many of them work at once). Calling it more than
// once, in a batch handler or outside a Runner does nothing.
func ReleaseSlot(ctx context.Context) {
	if release, ok := ctx.Value(slotKey{}).(func()); ok {
		release()
	}
}

// withSlot returns ctx carrying release for ReleaseSlot.
func withSlot(ctx context.Context, release func()) context.Context {
	return context.WithValue(ctx, slotKey{}, release)
}
