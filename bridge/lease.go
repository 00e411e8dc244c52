package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/backoff"
)

// Elector campaigns for a lease key in a KV bucket whose TTL is the lease lifetime (see
// broker.Topology.LeasesBucket). Campaign: Create (succeeds only if no one holds the key).
// Renew: Update with the last revision every TTL/3. The leadership context handed to the leader
// function is cancelled at once when a renewal fails, and in any case before the lease can have
// expired on the server (last successful renewal start + TTL - TTL/10), so two leaders never
// overlap even when the old one is cut off from NATS. Leadership is announced (logged, IsLeader)
// only after the campaign has won.
type Elector struct {
	kv     jetstream.KeyValue
	key    string
	id     string
	ttl    time.Duration
	logger *slog.Logger
	leader atomic.Bool
}

// LeaseValue is what the holder writes in the lease key.
type LeaseValue struct {
	Holder string    `json:"holder"`
	Host   string    `json:"host"`
	PID    int       `json:"pid"`
	Since  time.Time `json:"since"`
}

// NewElector returns an elector for key in kv. holderID identifies this process (e.g.
// "<host>.<pid>"). ttl must equal the bucket's TTL; zero reads it from the bucket at Run.
func NewElector(kv jetstream.KeyValue, key, holderID string, ttl time.Duration, logger *slog.Logger) *Elector {
	return &Elector{kv: kv, key: key, id: holderID, ttl: ttl, logger: logger.With("lease", key, "holder", holderID)}
}

// IsLeader reports whether this elector currently holds the lease.
func (e *Elector) IsLeader() bool { return e.leader.Load() }

// Run campaigns until ctx is done. Each time it wins it calls lead with a context that ends with
// the leadership, waits for lead to return, and campaigns again. On ctx cancellation a held lease
// is released (deleted) so another bridge takes over at once. lead's error is logged.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	if e.ttl <= 0 {
		st, err := e.kv.Status(ctx)
		if err != nil {
			return fmt.Errorf("bridge: lease bucket status: %w", err)
		}
		e.ttl = st.TTL()
		if e.ttl <= 0 {
			return errors.New("bridge: lease bucket has no TTL; a crashed leader would hold it forever")
		}
	}
	host, _ := os.Hostname()
	interval := e.ttl / 3
	for ctx.Err() == nil {
		val, _ := json.Marshal(LeaseValue{Holder: e.id, Host: host, PID: os.Getpid(), Since: time.Now().UTC()})
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, interval)
		rev, err := e.kv.Create(cctx, e.key, val)
		cancel()
		switch {
		case err == nil:
			e.hold(ctx, start, rev, val, lead)
			continue
		case errors.Is(err, jetstream.ErrKeyExists):
		case ctx.Err() == nil:
			e.logger.Warn("lease campaign failed", "error", err)
		}
		_ = backoff.Wait(ctx, interval)
	}
	return nil
}

// hold runs lead while renewing the lease won at start with revision rev.
func (e *Elector) hold(ctx context.Context, start time.Time, rev uint64, val []byte, lead func(context.Context) error) {
	interval, margin := e.ttl/3, e.ttl/10
	leadCtx, stopLead := context.WithCancel(ctx)
	defer stopLead()
	watchdog := time.AfterFunc(time.Until(start.Add(e.ttl-margin)), func() {
		e.logger.Error("lease about to expire without renewal: stepping down")
		stopLead()
	})
	defer watchdog.Stop()

	e.leader.Store(true)
	e.logger.Info("became leader", "ttl", e.ttl)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := lead(leadCtx); err != nil && leadCtx.Err() == nil {
			e.logger.Error("leader function failed", "error", err)
		}
		stopLead()
	}()

	t := time.NewTicker(interval)
	defer t.Stop()
renew:
	for {
		select {
		case <-leadCtx.Done():
			break renew
		case <-t.C:
			s := time.Now()
			rctx, cancel := context.WithTimeout(leadCtx, interval)
			r, err := e.kv.Update(rctx, e.key, val, rev)
			cancel()
			if err != nil {
				if leadCtx.Err() == nil {
					e.logger.Error("lease renewal failed: stepping down", "error", err)
				}
				stopLead()
				break renew
			}
			rev = r
			watchdog.Reset(time.Until(s.Add(e.ttl - margin)))
		}
	}
	<-done
	e.leader.Store(false)
	e.logger.Info("leadership ended")
	if ctx.Err() != nil {
		// Clean shutdown: release the lease so a standby takes over without waiting for the TTL.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), interval)
		defer cancel()
		if err := e.kv.Delete(dctx, e.key, jetstream.LastRevision(rev)); err != nil {
			e.logger.Warn("lease release failed; it expires after its TTL", "error", err)
		}
	}
}
