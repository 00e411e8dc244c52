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
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/submit"
	"github.com/omnivector-solutions/jobbergate-agent-go/extend"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
	"github.com/omnivector-solutions/jobbergate-agent-go/telemetry"
)

// Submit turns CREATED submissions into Slurm jobs: its runner handles SUBMIT_CONCURRENCY of
// them at once in this process (the bridge leader, wherever it runs, enqueues them).
var Submit = fx.Module("submit", fx.Provide(newSubmitTask))

func newSubmitSource(api *jobbergate.Client, t broker.Topology, s *config.Settings) SourceResult {
	return SourceResult{Source: TimedSource{Source: submit.NewSource(api, t), Interval: s.BridgePoll}}
}

// timedSlurm records sbatch latency.
type timedSlurm struct {
	submit.Slurm
	m *telemetry.Metrics
}

func (t timedSlurm) Submit(ctx context.Context, req slurm.SubmitRequest) (slurm.SubmitResult, error) {
	start := time.Now()
	res, err := t.Slurm.Submit(ctx, req)
	t.m.ObserveSbatch(time.Since(start), err)
	return res, err
}

type submitParams struct {
	fx.In
	Settings *config.Settings
	Broker   *broker.Broker
	Topology broker.Topology
	API      *jobbergate.Client
	Slurm    *slurm.Client
	Mapper   usermap.Mapper
	Metrics  *telemetry.Metrics
	Identity Identity
	Logger   *slog.Logger
	// Extensions is the site's registry (Extensions), if any: its pending middleware wraps the handler.
	Extensions *extend.Registry `optional:"true"`
}

func newSubmitTask(p submitParams) (TaskResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	claims, err := p.Broker.JS.KeyValue(ctx, p.Topology.SubmissionsBucket)
	if err != nil {
		return TaskResult{}, fmt.Errorf("submissions bucket: %w", err)
	}
	log := p.Logger.With("component", "submit")
	h, err := submit.NewHandler(submit.Options{
		API:                  p.API,
		Slurm:                timedSlurm{Slurm: p.Slurm, m: p.Metrics},
		Mapper:               p.Mapper,
		Claims:               claims,
		JetStream:            p.Broker.JS,
		DefaultWorkDir:       p.Settings.DefaultWorkDir,
		WriteSubmissionFiles: p.Settings.WriteSubmissionFiles,
		MaxFileBytes:         int64(p.Settings.MaxFileBytes),
		MinSubmitUID:         minSubmitUID(p.Settings.MinSubmitUID),
		SharedExecutionDirs:  p.Settings.SharedExecutionDirs,
		HolderID:             p.Identity.ID,
		ClaimStaleAfter:      2 * p.Topology.Limits.AckWait,
		Logger:               log,
	})
	if err != nil {
		return TaskResult{}, err
	}
	r := consumers.NewRunner(p.Broker.JS, consumers.ConfigFor(p.Topology, p.Topology.Submit, p.Settings.SubmitConc),
		p.Extensions.WrapPending(h), log, p.Metrics.Middleware("submit"), telemetry.DebugMeasure(log, "submit"))
	return TaskResult{Task: Task{Name: "submit", Run: r.Run}}, nil
}

// minSubmitUID maps MIN_SUBMIT_UID (0 disables the check) to submit.Options.MinSubmitUID (0
// means the default there, a negative value disables).
func minSubmitUID(v int) int {
	if v == 0 {
		return -1
	}
	return v
}
