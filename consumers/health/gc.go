package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// ErrBadHour is returned by NewGarbageCollector for an hour outside 0..23.
var ErrBadHour = errors.New("health: garbage-collection hour must be within 0..23")

// GCCaller triggers one garbage-collection endpoint; *jobbergate.Client implements it.
type GCCaller interface {
	CollectGarbage(ctx context.Context, ep jobbergate.GCEndpoint) error
}

// GCOptions configures NewGarbageCollector.
type GCOptions struct {
	// Hour (TASK_GARBAGE_COLLECTION_HOUR, local time) is when the calls run each day.
	Hour int
	// Pause is waited before each call, as the reference does (TASK_JOBS_INTERVAL_SECONDS).
	Pause time.Duration
	// Endpoints default to jobbergate.GCEndpoints.
	Endpoints []jobbergate.GCEndpoint
	// ShouldRun, when set, is asked at the scheduled time; false skips that day (for example
	// the bridge elector's IsLeader, so one agent per cluster calls).
	ShouldRun func() bool
	// Now and After are the clock (defaults time.Now and time.After).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Logger: nil discards.
	Logger *slog.Logger
}

// GarbageCollector runs the garbage-collection calls once a day. Run is meant for one goroutine;
// RunOnce is safe for concurrent use.
type GarbageCollector struct {
	api        GCCaller
	opts       GCOptions
	log        *slog.Logger
	notFoundAt atomic.Bool
}

// setDefaults fills the options left at their zero value.
func (o *GCOptions) setDefaults() {
	if o.Endpoints == nil {
		o.Endpoints = jobbergate.GCEndpoints
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Logger == nil {
		o.Logger = logging.Discard()
	}
}

// Validate reports an Hour outside 0..23 (ErrBadHour).
func (o GCOptions) Validate() error {
	if o.Hour < 0 || o.Hour > 23 {
		return fmt.Errorf("%w: %d", ErrBadHour, o.Hour)
	}
	return nil
}

// NewGarbageCollector returns a collector; it fails on an hour outside 0..23.
func NewGarbageCollector(api GCCaller, opts GCOptions) (*GarbageCollector, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &GarbageCollector{api: api, opts: opts, log: opts.Logger}, nil
}

// Next returns the first Hour:00 strictly after now, in now's location.
func (g *GarbageCollector) Next(now time.Time) time.Time {
	next := time.Date(now.Year(), now.Month(), now.Day(), g.opts.Hour, 0, 0, 0, now.Location())
	if !next.After(now) {
		next = time.Date(now.Year(), now.Month(), now.Day()+1, g.opts.Hour, 0, 0, 0, now.Location())
	}
	return next
}

// Run waits for each day's Hour and then calls RunOnce, until ctx is done (it returns nil then).
// Failures are logged, never returned.
func (g *GarbageCollector) Run(ctx context.Context) error {
	for {
		now := g.opts.Now()
		wait := g.Next(now).Sub(now)
		g.log.Debug("next garbage collection scheduled", "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-g.opts.After(wait):
		}
		if ctx.Err() != nil {
			return nil
		}
		if g.opts.ShouldRun != nil && !g.opts.ShouldRun() {
			g.log.Debug("garbage collection skipped: another agent runs it")
			continue
		}
		_ = g.RunOnce(ctx)
	}
}

// RunOnce calls every endpoint, waiting Pause before each. A 404 (the API no longer has the
// endpoint) is not a failure: the first one is logged at info level, later ones at debug. Other
// failures are logged as errors and returned joined.
func (g *GarbageCollector) RunOnce(ctx context.Context) error {
	var errs []error
	for _, ep := range g.opts.Endpoints {
		if g.opts.Pause > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(append(errs, ctx.Err())...)
			case <-g.opts.After(g.opts.Pause):
			}
		}
		if ctx.Err() != nil {
			return errors.Join(append(errs, ctx.Err())...)
		}
		err := g.api.CollectGarbage(ctx, ep)
		switch {
		case ctx.Err() != nil:
			return errors.Join(append(errs, ctx.Err())...)
		case err == nil:
			g.log.Info("garbage collection triggered", "endpoint", string(ep))
		case jobbergate.IsStatus(err, http.StatusNotFound):
			if g.notFoundAt.CompareAndSwap(false, true) {
				g.log.Info("garbage-collection endpoint not found: the API (5.7.0 or later) cleans up by itself",
					"endpoint", string(ep))
			} else {
				g.log.Debug("garbage-collection endpoint not found", "endpoint", string(ep))
			}
		default:
			g.log.Error("garbage collection failed", "endpoint", string(ep), "error", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
