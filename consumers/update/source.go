package update

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// HeaderCycle carries the update cycle number a message belongs to (decimal). The handler uses
// it to count cycles for RefreshCycles.
const HeaderCycle = "Jbg-Update-Cycle"

// SourceOptions configures NewSource.
type SourceOptions struct {
	// Interval is the update cycle (TASK_JOBS_INTERVAL_SECONDS); default 60 s. The source lists
	// the API at most once per cycle however often the bridge polls it.
	Interval time.Duration
	// Now is the clock the cycle number is derived from; default time.Now.
	Now func() time.Time
}

// MsgID is the Nats-Msg-Id of submission id's update in cycle.
func MsgID(id int, cycle int64) string {
	return "update-" + strconv.Itoa(id) + "-" + strconv.FormatInt(cycle, 10)
}

// NewSource returns the bridge source of the update path (see the package doc). Poll is safe
// for concurrent use; it returns no messages for a cycle it already listed successfully.
func NewSource(api jobbergate.ActiveLister, topo broker.Topology, opts SourceOptions) bridge.Source {
	if opts.Interval <= 0 {
		opts.Interval = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return bridge.PerCycle("update", opts.Interval, opts.Now, func(ctx context.Context, cycle int64) ([]bridge.Outgoing, error) {
		subs, err := api.ActiveSubmissions(ctx)
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
				Subject: topo.Update.Subject(id),
				Data:    data,
				Header:  nats.Header{broker.HeaderSubmissionID: []string{id}, HeaderCycle: []string{cyc}},
				MsgID:   MsgID(sub.ID, cycle),
			})
		}
		return out, nil
	})
}
