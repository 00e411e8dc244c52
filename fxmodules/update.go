package fxmodules

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/jobidentity"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/metrics"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/update"
	"github.com/omnivector-solutions/jobbergate-agent-go/extend"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
	"github.com/omnivector-solutions/jobbergate-agent-go/telemetry"
)

// Update keeps the portal's view of active jobs current: its batch runner reads up to
// UPDATE_BATCH_SIZE jobs' states with one Slurm call, cancels what users cancelled, and PUTs
// what changed (the bridge leader enqueues every SUBMITTED or CANCELLED submission once per
// TASK_JOBS_INTERVAL_SECONDS, the reference's active-jobs interval).
var Update = fx.Module("update", fx.Provide(newUpdateTask))

func jobsInterval(s *config.Settings) time.Duration {
	return time.Duration(s.TaskJobsInterval) * time.Second
}

func newUpdateSource(l *metrics.SharedLister, t broker.Topology, s *config.Settings) SourceResult {
	src := update.NewSource(l, t, update.SourceOptions{Interval: jobsInterval(s)})
	return SourceResult{Source: TimedSource{Source: src, Interval: s.BridgePoll}}
}

// extensionsParams hold the site's registry (Extensions), if any.
type extensionsParams struct {
	fx.In
	Registry *extend.Registry `optional:"true"`
}

func newUpdateTask(start StartContext, s *config.Settings, b *broker.Broker, t broker.Topology, api *jobbergate.Client,
	sc *slurm.Client, m *telemetry.Metrics, logger *slog.Logger, ext extensionsParams) (TaskResult, error) {
	log := logger.With("component", "update")
	ctx, cancel := context.WithTimeout(start, 30*time.Second)
	defer cancel()
	jobs, err := b.JS.KeyValue(ctx, t.JobsBucket)
	if err != nil {
		return TaskResult{}, fmt.Errorf("jobs bucket: %w", err)
	}
	h, err := update.NewHandler(update.Options{API: api, Slurm: sc, Identities: jobidentity.Store{KV: jobs},
		RefreshCycles: s.UpdateRefresh, Logger: log})
	if err != nil {
		return TaskResult{}, err
	}
	n := min(s.UpdateBatch, t.Limits.MaxAckPending)
	r := consumers.NewBatchRunner(b.JS, consumers.ConfigFor(t, t.Update, n), m.WrapBatch("update", ext.Registry.WrapActive(h)), log)
	return TaskResult{Task: Task{Name: "update", Run: r.Run}}, nil
}
