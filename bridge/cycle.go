package bridge

import (
	"context"
	"sync"
	"time"
)

// Cycle returns the cycle number of instant t: the index of the interval-long slot of Unix time
// it falls in. Every bridge computes the same number for the same instant, so a MsgID built from
// it is the same on every login node.
func Cycle(t time.Time, interval time.Duration) int64 { return t.UnixNano() / int64(interval) }

// PerCycle returns a Source that calls poll at most once per cycle of interval (now: time.Now
// when nil), however often the poller runs it: after a successful poll, later polls in the same
// cycle return nothing; a failed poll is tried again at the next call. poll gets the cycle
// number to build its MsgIDs from. The Source is safe for concurrent use.
func PerCycle(name string, interval time.Duration, now func() time.Time,
	poll func(ctx context.Context, cycle int64) ([]Outgoing, error)) Source {
	if now == nil {
		now = time.Now
	}
	var (
		mu     sync.Mutex
		last   int64
		polled bool
	)
	return SourceFunc(name, func(ctx context.Context) ([]Outgoing, error) {
		cycle := Cycle(now(), interval)
		mu.Lock()
		defer mu.Unlock()
		if polled && cycle == last {
			return nil, nil
		}
		out, err := poll(ctx, cycle)
		if err != nil {
			return nil, err
		}
		last, polled = cycle, true
		return out, nil
	})
}
