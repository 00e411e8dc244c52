package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
)

// ErrDedupeWindowTooShort is returned by CheckDedupeWindow.
var ErrDedupeWindowTooShort = errors.New("bridge: stream dedupe window shorter than the bridge needs")

// Outgoing is one message a Source wants enqueued.
type Outgoing struct {
	Subject string
	Data    []byte
	Header  nats.Header
	// MsgID must be stable for the same piece of work (e.g. "submit-<id>-<status>"), so that
	// re-publishing it, from this bridge or another one, is deduplicated by JetStream.
	MsgID string
}

// Source produces the messages of one poll. Poll is called by one goroutine at a time.
type Source interface {
	Name() string
	Poll(ctx context.Context) ([]Outgoing, error)
}

type funcSource struct {
	name string
	fn   func(ctx context.Context) ([]Outgoing, error)
}

func (s funcSource) Name() string                                 { return s.name }
func (s funcSource) Poll(ctx context.Context) ([]Outgoing, error) { return s.fn(ctx) }

// SourceFunc adapts a function to a Source called name.
func SourceFunc(name string, fn func(ctx context.Context) ([]Outgoing, error)) Source {
	return funcSource{name: name, fn: fn}
}

// CycleStats counts what one poll cycle did.
type CycleStats struct {
	// Published were stored; Duplicates were dropped by the Msg-Id dedupe window;
	// AlreadyQueued were rejected because a message for the same subject still waits
	// (per-subject limit); Failed could not be published and will be retried next cycle.
	Published, Duplicates, AlreadyQueued, Failed int
	// SourceErrors counts sources whose Poll failed.
	SourceErrors int
}

// Poller publishes every Source's messages each interval. It is meant to run under an Elector.
type Poller struct {
	js       jetstream.JetStream
	interval time.Duration
	sources  []Source
	logger   *slog.Logger
}

// NewPoller returns a poller over sources.
func NewPoller(js jetstream.JetStream, interval time.Duration, logger *slog.Logger, sources ...Source) *Poller {
	return &Poller{js: js, interval: interval, sources: sources, logger: logger}
}

// Run polls at once and then every interval until ctx is done; it returns nil then. A cycle is
// abandoned as soon as ctx is cancelled (leadership lost), without further publishes.
func (p *Poller) Run(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.Cycle(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Cycle runs one poll of every source and publishes the results. A failing source or publish is
// logged and counted; it does not stop the other sources.
func (p *Poller) Cycle(ctx context.Context) CycleStats {
	var st CycleStats
	for _, src := range p.sources {
		if ctx.Err() != nil {
			return st
		}
		outs, err := src.Poll(ctx)
		if err != nil {
			st.SourceErrors++
			if ctx.Err() == nil {
				p.logger.Error("bridge source poll failed", "source", src.Name(), "error", err)
			}
			continue
		}
		for _, o := range outs {
			if ctx.Err() != nil {
				return st
			}
			switch dup, err := p.publish(ctx, o); {
			case err == nil && dup:
				st.Duplicates++
			case err == nil:
				st.Published++
			case broker.IsAlreadyQueued(err):
				st.AlreadyQueued++
			default:
				st.Failed++
				p.logger.Error("bridge publish failed", "source", src.Name(), "subject", o.Subject, "msg_id", o.MsgID, "error", err)
			}
		}
	}
	if st != (CycleStats{}) {
		p.logger.Info("bridge cycle", "published", st.Published, "duplicates", st.Duplicates,
			"already_queued", st.AlreadyQueued, "failed", st.Failed, "source_errors", st.SourceErrors)
	}
	return st
}

func (p *Poller) publish(ctx context.Context, o Outgoing) (duplicate bool, err error) {
	if o.MsgID == "" {
		return false, fmt.Errorf("bridge: outgoing message on %s has no msg id", o.Subject)
	}
	m := &nats.Msg{Subject: o.Subject, Data: o.Data, Header: o.Header}
	ack, err := p.js.PublishMsg(ctx, m, jetstream.WithMsgID(o.MsgID))
	if err != nil {
		return false, err
	}
	return ack.Duplicate, nil
}

// MinDuplicates is the shortest dedupe window that covers re-publishes by the next poll and by a
// bridge that took over the lease.
func MinDuplicates(interval, leaseTTL time.Duration) time.Duration {
	return max(2*interval, interval+2*leaseTTL)
}

// CheckDedupeWindow returns ErrDedupeWindowTooShort if a stream's Duplicates window is shorter
// than MinDuplicates(interval, leaseTTL).
func CheckDedupeWindow(ctx context.Context, js jetstream.JetStream, interval, leaseTTL time.Duration, streams ...string) error {
	need := MinDuplicates(interval, leaseTTL)
	for _, name := range streams {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return fmt.Errorf("bridge: stream %s: %w", name, err)
		}
		if w := s.CachedInfo().Config.Duplicates; w < need {
			return fmt.Errorf("%w: %s has %s, need at least %s", ErrDedupeWindowTooShort, name, w, need)
		}
	}
	return nil
}

// Ticker is a Source that yields one tick per interval on subject. Its MsgID is derived from the
// interval's start, so two bridges (or a restarted one) publish each tick once.
func Ticker(subject string, interval time.Duration, now func() time.Time) Source {
	if now == nil {
		now = time.Now
	}
	return SourceFunc("tick", func(ctx context.Context) ([]Outgoing, error) {
		slot := Cycle(now(), interval)
		return []Outgoing{{
			Subject: subject,
			Data:    fmt.Appendf(nil, `{"interval_seconds":%d}`, int64(interval/time.Second)),
			MsgID:   fmt.Sprintf("tick-%d", slot),
		}}, nil
	})
}

// Bridge is the elected poller: Run campaigns for the lease and polls while it holds it.
type Bridge struct {
	Elector *Elector
	Poller  *Poller
}

// Run runs the bridge until ctx is done.
func (b *Bridge) Run(ctx context.Context) error { return b.Elector.Run(ctx, b.Poller.Run) }
