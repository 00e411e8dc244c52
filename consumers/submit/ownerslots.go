package submit

import (
	"context"
	"sync"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
)

// ownerSlots bounds the Slurm slots one owner holds at once, so that no owner can take all of
// them: sbatch runs as its owner, who can stop it (SIGSTOP) or slow it down, and a stopped
// sbatch holds its slot until the submit timeout. Safe for concurrent use.
type ownerSlots struct {
	max   int
	mu    sync.Mutex
	held  map[string]int
	freed chan struct{} // closed and replaced whenever a slot is given back
}

func newOwnerSlots(max int) *ownerSlots {
	return &ownerSlots{max: max, held: map[string]int{}, freed: make(chan struct{})}
}

// acquire waits for one of owner's slots. The wait ends early with ctx, or when the runner
// begins to shut down (errStopping). The returned release may be called more than once.
func (o *ownerSlots) acquire(ctx context.Context, owner string) (release func(), err error) {
	for {
		o.mu.Lock()
		if o.held[owner] < o.max {
			o.held[owner]++
			o.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { o.give(owner) }) }, nil
		}
		freed := o.freed
		o.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-consumers.Stopping(ctx):
			return nil, errStopping
		}
	}
}

func (o *ownerSlots) give(owner string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.held[owner]--; o.held[owner] <= 0 {
		delete(o.held, owner)
	}
	close(o.freed)
	o.freed = make(chan struct{})
}
