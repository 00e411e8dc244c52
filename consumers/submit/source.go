package submit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// PendingLister lists every submission in status CREATED (all pages); *jobbergate.Client
// implements it.
type PendingLister interface {
	PendingSubmissions(ctx context.Context) ([]jobbergate.PendingSubmission, error)
}

// MsgID is the Nats-Msg-Id of the submit message of submission id. It is stable, so the same
// submission polled again within the stream's dedupe window is enqueued once.
func MsgID(id int) string { return "submit-" + strconv.Itoa(id) }

// Backlog reports the SUBMIT consumer's progress: waiting is the number of messages not yet
// handled (not delivered, or delivered and not acknowledged), done a counter that grows by one
// per message handled (the consumer's ack floor). Implementations are called from one poll at a
// time.
type Backlog func(ctx context.Context) (waiting, done uint64, err error)

// SourceOptions configures NewSource. The zero value lists the API at every poll.
type SourceOptions struct {
	// Backlog, when set, lets the source skip listing while the queue already holds more work
	// than the agents handle in two poll intervals (see NewSource).
	Backlog Backlog
	// Interval is the bridge's poll interval (BRIDGE_POLL_INTERVAL).
	Interval time.Duration
	// MinBacklog is the number of waiting messages below which the source always lists.
	// Default 64.
	MinBacklog uint64
	Now        func() time.Time
	Logger     *slog.Logger
}

// setDefaults fills the options left at their zero value.
func (o *SourceOptions) setDefaults() {
	if o.MinBacklog == 0 {
		o.MinBacklog = 64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = logging.Discard()
	}
}

// NewSource returns the bridge source of the submit path: each poll lists every CREATED
// submission and yields one message per submission on topo.Submit.Subject(<id>), with the
// submission's JSON as payload, the Jbg-Submission-Id header and MsgID(id). A failing list
// fails the whole poll (nothing is published from a partial list).
//
// Back-pressure: with opts.Backlog set, a poll that finds more messages waiting than the
// consumers handled in the last two intervals (and at least MinBacklog) lists nothing. Every
// submission still CREATED is already queued or will be listed before the queue runs dry, and
// a submission listed now would only wait behind the others; meanwhile the API is not asked for
// the same pages again and again. A failing Backlog call never skips a poll.
func NewSource(api PendingLister, topo broker.Topology, opts SourceOptions) bridge.Source {
	opts.setDefaults()
	bp := &backpressure{opts: opts}
	return bridge.SourceFunc("submit", func(ctx context.Context) ([]bridge.Outgoing, error) {
		if bp.skip(ctx) {
			return nil, nil
		}
		subs, err := api.PendingSubmissions(ctx)
		if err != nil {
			return nil, fmt.Errorf("submit source: %w", err)
		}
		out := make([]bridge.Outgoing, 0, len(subs))
		for _, s := range subs {
			data, err := json.Marshal(s)
			if err != nil {
				return nil, fmt.Errorf("submit source: encode submission %d: %w", s.ID, err)
			}
			id := strconv.Itoa(s.ID)
			h := nats.Header{}
			h.Set(broker.HeaderSubmissionID, id)
			out = append(out, bridge.Outgoing{Subject: topo.Submit.Subject(id), Data: data, Header: h, MsgID: MsgID(s.ID)})
		}
		return out, nil
	})
}

// backpressure decides whether a poll may skip listing, from the consumer's progress between
// polls.
type backpressure struct {
	opts SourceOptions

	mu       sync.Mutex
	lastAt   time.Time
	lastDone uint64
	rate     float64 // messages handled per second, smoothed
}

func (b *backpressure) skip(ctx context.Context) bool {
	if b.opts.Backlog == nil {
		return false
	}
	waiting, done, err := b.opts.Backlog(ctx)
	if err != nil {
		b.opts.Logger.Debug("submit queue backlog unknown; listing", "error", err)
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Now()
	if !b.lastAt.IsZero() && done >= b.lastDone {
		if dt := now.Sub(b.lastAt).Seconds(); dt > 0 {
			r := float64(done-b.lastDone) / dt
			if b.rate == 0 {
				b.rate = r
			} else {
				b.rate = (b.rate + r) / 2
			}
		}
	}
	b.lastAt, b.lastDone = now, done
	enough := uint64(b.rate * 2 * b.opts.Interval.Seconds())
	if waiting < b.opts.MinBacklog || waiting <= enough {
		return false
	}
	b.opts.Logger.Debug("submit queue holds enough work; not listing the API this poll",
		"waiting", waiting, "handled_per_second", b.rate)
	return true
}
