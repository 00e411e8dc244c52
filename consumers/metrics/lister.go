package metrics

import (
	"context"
	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"slices"
	"sync"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// SharedLister lets several bridge sources that list the active submissions every cycle (the
// update source and this package's) share one API listing per cycle: the first call of a cycle
// fetches, later calls in the same cycle get a copy of that list. A failed fetch is not
// remembered (the next call fetches again). Safe for concurrent use: concurrent callers of a
// cycle not fetched yet wait for one fetch.
//
// Give the same *SharedLister to update.NewSource and NewSource, with the same interval as
// their SourceOptions, so both compute the same cycle numbers.
type SharedLister struct {
	api      jobbergate.ActiveLister
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	cycle  int64
	subs   []jobbergate.ActiveSubmission
	cached bool
	calls  int
}

var _ jobbergate.ActiveLister = (*SharedLister)(nil)

// NewSharedLister returns a lister over api whose cache lasts one interval-long slot of Unix
// time (interval <= 0: 60 s; now nil: time.Now).
func NewSharedLister(api jobbergate.ActiveLister, interval time.Duration, now func() time.Time) *SharedLister {
	if interval <= 0 {
		interval = 60 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	return &SharedLister{api: api, interval: interval, now: now}
}

// ActiveSubmissions returns the active submissions of the current cycle (see SharedLister).
func (l *SharedLister) ActiveSubmissions(ctx context.Context) ([]jobbergate.ActiveSubmission, error) {
	cycle := bridge.Cycle(l.now(), l.interval)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cached && l.cycle == cycle {
		return slices.Clone(l.subs), nil
	}
	l.calls++
	subs, err := l.api.ActiveSubmissions(ctx)
	if err != nil {
		l.cached = false
		return nil, err
	}
	l.subs, l.cycle, l.cached = subs, cycle, true
	return slices.Clone(subs), nil
}

// Fetches returns how many times the lister called the API.
func (l *SharedLister) Fetches() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}
