package submit

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
)

// errOwnerBusy is an admission refused at once: the owner has as many submissions admitted and
// waiting for admission as one owner may. The delivery is deferred (consumers.Defer) for the
// wait of its *ownerBusyError.
var errOwnerBusy = errors.New("this owner's share of the agent is in use by their other submissions")

// ownerLimits bounds what one owner's submissions hold of a Handler at once, so that one owner
// cannot starve the others: sbatch runs as its owner, who can stop it (SIGSTOP) or slow it
// down, and a stopped sbatch keeps what its delivery holds until the submit timeout. Per owner:
//   - admitted: deliveries past admission (resolving the directory, downloading, writing, in
//     sbatch) at most maxAdmitted, and all owners' together at most maxTotal;
//   - waiting: deliveries waiting for admission at most maxWaiting. A waiting delivery gives its
//     runner slot back (consumers.ReleaseSlot), so the runner goes on fetching other owners'
//     messages; it is admitted, without waiting for a runner slot again, as soon as one of
//     the owner's admissions comes free. One more delivery is refused at once
//     (*ownerBusyError, with its turn: see turn);
//   - Slurm slots at most maxSlurm;
//   - bytes of the download budget at most maxBytes.
//
// Safe for concurrent use.
type ownerLimits struct {
	maxAdmitted, maxTotal, maxWaiting, maxSlurm int
	maxBytes                                    int64

	now func() time.Time

	mu     sync.Mutex
	total  int // admissions held, all owners together
	owners map[string]*ownerUse
	freed  chan struct{} // closed and replaced whenever an admission or a Slurm slot is given back
}

// ownerUse is what one owner holds; it exists while the owner has deliveries admitted or waiting.
type ownerUse struct {
	admitted, waiting, slurm int
	bytes                    *semaphore.Weighted
	gap                      time.Duration // mean time between the ends of the owner's admissions
	lastDone                 time.Time     // when one of them last ended (or the entry was made)
	turn                     time.Time     // the last turn given to a deferred delivery
}

func newOwnerLimits(maxAdmitted, maxTotal, maxWaiting, maxSlurm int, maxBytes int64, now func() time.Time) *ownerLimits {
	return &ownerLimits{maxAdmitted: maxAdmitted, maxTotal: maxTotal, maxWaiting: maxWaiting, maxSlurm: maxSlurm, maxBytes: maxBytes,
		now: now, owners: map[string]*ownerUse{}, freed: make(chan struct{})}
}

// admission is one delivery's place among its owner's admitted deliveries. A nil *admission
// (no owner limits) bounds nothing. done gives it back and may be called more than once.
type admission struct {
	l     *ownerLimits
	owner string
	use   *ownerUse
	once  sync.Once
}

// admit waits for one of owner's admissions, having given its runner slot back, or returns an
// *ownerBusyError (errOwnerBusy) with the delivery's turn at once when maxWaiting of the owner's
// deliveries wait already. The wait ends early with ctx, or when the runner begins to shut down
// (errStopping). A nil l admits everyone (nil admission).
func (l *ownerLimits) admit(ctx context.Context, owner string) (*admission, error) {
	if l == nil {
		return nil, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	use := l.owners[owner]
	if use == nil {
		use = &ownerUse{bytes: semaphore.NewWeighted(l.maxBytes), gap: initialGap, lastDone: l.now()}
		l.owners[owner] = use
	}
	full := func() bool { return use.admitted >= l.maxAdmitted || l.total >= l.maxTotal }
	if full() {
		if use.waiting >= l.maxWaiting {
			return nil, &ownerBusyError{owner: owner, wait: l.turn(use, l.now())}
		}
		use.waiting++
		consumers.ReleaseSlot(ctx)
		for full() {
			freed := l.freed
			l.mu.Unlock()
			var err error
			select {
			case <-freed:
			case <-ctx.Done():
				err = ctx.Err()
			case <-consumers.Stopping(ctx):
				err = errStopping
			}
			l.mu.Lock()
			if err != nil {
				use.waiting--
				l.drop(owner, use)
				return nil, err
			}
		}
		use.waiting--
	}
	use.admitted++
	l.total++
	return &admission{l: l, owner: owner, use: use}, nil
}

// drop forgets owner's entry once nothing of it is held or waited for. Turns given to deferred
// deliveries go with it: with nothing of the owner admitted, the next turns rightly start from
// now. l.mu is held.
func (l *ownerLimits) drop(owner string, use *ownerUse) {
	if use.admitted == 0 && use.waiting == 0 && use.slurm == 0 {
		delete(l.owners, owner)
	}
}

// wake tells every waiter that something was given back. l.mu is held.
func (l *ownerLimits) wake() {
	close(l.freed)
	l.freed = make(chan struct{})
}

// done gives the admission back.
func (a *admission) done() {
	if a == nil {
		return
	}
	a.once.Do(func() {
		a.l.mu.Lock()
		defer a.l.mu.Unlock()
		a.l.released(a.use, a.l.now())
		a.l.drop(a.owner, a.use)
		a.l.wake()
	})
}

// takeBytes waits for n bytes of the owner's share of the download budget.
func (a *admission) takeBytes(ctx context.Context, n int64) error {
	if a == nil {
		return nil
	}
	return a.use.bytes.Acquire(ctx, n)
}

// giveBytes gives n bytes of the owner's share back.
func (a *admission) giveBytes(n int64) {
	if a != nil && n > 0 {
		a.use.bytes.Release(n)
	}
}

// slurmSlot waits for one of the owner's Slurm slots. The wait ends early with ctx, or when the
// runner begins to shut down (errStopping). The returned release may be called more than once.
func (a *admission) slurmSlot(ctx context.Context) (release func(), err error) {
	if a == nil {
		return func() {}, nil
	}
	l := a.l
	for {
		l.mu.Lock()
		if a.use.slurm < l.maxSlurm {
			a.use.slurm++
			l.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					l.mu.Lock()
					defer l.mu.Unlock()
					a.use.slurm--
					l.drop(a.owner, a.use)
					l.wake()
				})
			}, nil
		}
		freed := l.freed
		l.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-consumers.Stopping(ctx):
			return nil, errStopping
		}
	}
}
