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

func newSubmitSource(api *jobbergate.Client, b *broker.Broker, t broker.Topology, s *config.Settings, logger *slog.Logger) SourceResult {
	src := submit.NewSource(api, t, submit.SourceOptions{
		Backlog:  submitBacklog(b, t),
		Interval: s.BridgePoll,
		Logger:   logger.With("component", "bridge"),
	})
	return SourceResult{Source: TimedSource{Source: src, Interval: s.BridgePoll}}
}

// submitBacklog reads the SUBMIT consumer's waiting messages and ack floor.
func submitBacklog(b *broker.Broker, t broker.Topology) submit.Backlog {
	return func(ctx context.Context) (uint64, uint64, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		cons, err := b.JS.Consumer(ctx, t.Submit.Stream, t.Submit.Consumer)
		if err != nil {
			return 0, 0, err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, 0, err
		}
		return info.NumPending + uint64(info.NumAckPending), info.AckFloor.Consumer, nil
	}
}

// submitParams are what the submit task needs.
type submitParams struct {
	fx.In
	Start    StartContext
	Settings *config.Settings
	Broker   *broker.Broker
	Topology broker.Topology
	API      *jobbergate.Client
	Slurm    *slurm.Client
	Mapper   usermap.Mapper
	Metrics  *telemetry.Metrics
	Logger   *slog.Logger
	// Extensions is the site's registry (Extensions), if any: its pending middleware wraps the handler.
	Extensions *extend.Registry `optional:"true"`
}

func newSubmitTask(p submitParams) (TaskResult, error) {
	ctx, cancel := context.WithTimeout(p.Start, 30*time.Second)
	defer cancel()
	claims, err := p.Broker.JS.KeyValue(ctx, p.Topology.SubmissionsBucket)
	if err != nil {
		return TaskResult{}, fmt.Errorf("submissions bucket: %w", err)
	}
	jobs, err := p.Broker.JS.KeyValue(ctx, p.Topology.JobsBucket)
	if err != nil {
		return TaskResult{}, fmt.Errorf("jobs bucket: %w", err)
	}
	log := p.Logger.With("component", "submit")
	h, err := submit.NewHandler(submit.Options{
		API:                   p.API,
		Slurm:                 p.Metrics.SubmitSlurm(p.Slurm),
		Mapper:                p.Metrics.SubmitMapper(p.Mapper),
		Claims:                p.Metrics.SubmitRecords(claims),
		JetStream:             p.Metrics.SubmitPublisher(p.Broker.JS),
		Jobs:                  jobs,
		DefaultWorkDir:        p.Settings.DefaultWorkDir,
		WriteSubmissionFiles:  p.Settings.WriteSubmissionFiles,
		MaxFileBytes:          int64(p.Settings.MaxFileBytes),
		MinSubmitUID:          submit.MinSubmitUIDFor(p.Settings.MinSubmitUID),
		HolderID:              submit.NewHolderID(),
		HolderGone:            submit.LocalHolderGone,
		ClaimStaleAfter:       2 * p.Topology.Limits.AckWait,
		SlurmConcurrency:      p.Settings.SubmitConc,
		OwnerSlurmConcurrency: p.Settings.OwnerConc,
		AllowHiddenFiles:      p.Settings.AllowHiddenFiles,
		LegacyMarkerDir:       p.Settings.CacheDir,
		SlotWait:              func(d time.Duration) { p.Metrics.ObserveSubmitStep("slurm_slot_wait", d) },
		Logger:                log,
	})
	if err != nil {
		return TaskResult{}, err
	}
	r := consumers.NewRunner(p.Broker.JS, consumers.ConfigFor(p.Topology, p.Topology.Submit, submit.InFlight(p.Settings.SubmitConc)),
		p.Extensions.WrapPending(h), log, p.Metrics.Middleware("submit"), telemetry.DebugMeasure(log, "submit"))
	return TaskResult{Task: Task{Name: "submit", Run: r.Run}}, nil
}
