package update

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// HeaderCycle carries the update cycle number a message belongs to (decimal). The handler uses
// it to count cycles for RefreshCycles.
const HeaderCycle = "Jbg-Update-Cycle"

// ActiveLister lists every active submission (all pages); *jobbergate.Client implements it.
type ActiveLister interface {
	ActiveSubmissions(ctx context.Context) ([]jobbergate.ActiveSubmission, error)
}

// SourceOptions configures NewSource.
type SourceOptions struct {
	// Interval is the update cycle (TASK_JOBS_INTERVAL_SECONDS); default 60 s. The source lists
	// the API at most once per cycle however often the bridge polls it.
	Interval time.Duration
	// Now is the clock the cycle number is derived from; default time.Now.
	Now func() time.Time
}

// Cycle returns the cycle number of instant t: the index of the Interval-long slot of Unix time
// it falls in. Every bridge computes the same number for the same instant.
func Cycle(t time.Time, interval time.Duration) int64 { return t.UnixNano() / int64(interval) }

// MsgID is the Nats-Msg-Id of submission id's update in cycle.
func MsgID(id int, cycle int64) string {
	return "update-" + strconv.Itoa(id) + "-" + strconv.FormatInt(cycle, 10)
}

type source struct {
	api  ActiveLister
	topo broker.Topology
	opts SourceOptions

	mu        sync.Mutex
	lastCycle int64
	polled    bool
}

// NewSource returns the bridge source of the update path (see the package doc). Poll is safe
// for concurrent use; it returns no messages for a cycle it already listed successfully.
func NewSource(api ActiveLister, topo broker.Topology, opts SourceOptions) bridge.Source {
	if opts.Interval <= 0 {
		opts.Interval = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &source{api: api, topo: topo, opts: opts}
}

func (s *source) Name() string { return "update" }

func (s *source) Poll(ctx context.Context) ([]bridge.Outgoing, error) {
	cycle := Cycle(s.opts.Now(), s.opts.Interval)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.polled && cycle == s.lastCycle {
		return nil, nil
	}
	subs, err := s.api.ActiveSubmissions(ctx)
	if err != nil {
		return nil, fmt.Errorf("update source: %w", err)
	}
	cyc := strconv.FormatInt(cycle, 10)
	out := make([]bridge.Outgoing, 0, len(subs))
	for _, sub := range subs {
		data, err := json.Marshal(sub)
		if err != nil {
			return nil, fmt.Errorf("update source: encode submission %d: %w", sub.ID, err)
		}
		id := strconv.Itoa(sub.ID)
		out = append(out, bridge.Outgoing{
			Subject: s.topo.Update.Subject(id),
			Data:    data,
			Header:  nats.Header{broker.HeaderSubmissionID: []string{id}, HeaderCycle: []string{cyc}},
			MsgID:   MsgID(sub.ID, cycle),
		})
	}
	s.lastCycle, s.polled = cycle, true
	return out, nil
}
