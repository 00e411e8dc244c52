package fxmodules

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// timedSlurm records sbatch latency and the time of the handler's other Slurm-side steps.
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

func (t timedSlurm) LookupUser(name string) (slurm.User, error) {
	defer t.step("lookup_user", time.Now())
	return t.Slurm.LookupUser(name)
}

func (t timedSlurm) ResolveExecutionDir(ctx context.Context, u slurm.User, dir string) (string, error) {
	defer t.step("check_dir", time.Now())
	return t.Slurm.ResolveExecutionDir(ctx, u, dir)
}

func (t timedSlurm) WriteFile(ctx context.Context, u slurm.User, dir, name string, content []byte) (string, error) {
	defer t.step("write_file", time.Now())
	return t.Slurm.WriteFile(ctx, u, dir, name, content)
}

func (t timedSlurm) JobState(ctx context.Context, id int64) (slurm.JobData, error) {
	defer t.step("job_state", time.Now())
	return t.Slurm.JobState(ctx, id)
}

func (t timedSlurm) step(name string, start time.Time) {
	t.m.ObserveSubmitStep(name, time.Since(start))
}

// timedMapper records the user mapping's time.
type timedMapper struct {
	usermap.Mapper
	m *telemetry.Metrics
}

func (t timedMapper) Username(ctx context.Context, email string) (string, error) {
	start := time.Now()
	defer func() { t.m.ObserveSubmitStep("map_user", time.Since(start)) }()
	return t.Mapper.Username(ctx, email)
}

// timedRecords records the time of the submission record reads and writes.
type timedRecords struct {
	jetstream.KeyValue
	m *telemetry.Metrics
}

func (t timedRecords) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	start := time.Now()
	defer func() { t.m.ObserveSubmitStep("record_get", time.Since(start)) }()
	return t.KeyValue.Get(ctx, key)
}

func (t timedRecords) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	start := time.Now()
	defer func() { t.m.ObserveSubmitStep("record_create", time.Since(start)) }()
	return t.KeyValue.Create(ctx, key, value, opts...)
}

func (t timedRecords) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	start := time.Now()
	defer func() { t.m.ObserveSubmitStep("record_update", time.Since(start)) }()
	return t.KeyValue.Update(ctx, key, value, revision)
}

// timedPublisher records the time of the record's final (TTL) write.
type timedPublisher struct {
	jetstream.JetStream
	m *telemetry.Metrics
}

func (t timedPublisher) Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	start := time.Now()
	defer func() { t.m.ObserveSubmitStep("record_finish", time.Since(start)) }()
	return t.JetStream.Publish(ctx, subject, data, opts...)
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
	jobs, err := p.Broker.JS.KeyValue(ctx, p.Topology.JobsBucket)
	if err != nil {
		return TaskResult{}, fmt.Errorf("jobs bucket: %w", err)
	}
	log := p.Logger.With("component", "submit")
	h, err := submit.NewHandler(submit.Options{
		API:                   p.API,
		Slurm:                 timedSlurm{Slurm: p.Slurm, m: p.Metrics},
		Mapper:                timedMapper{Mapper: p.Mapper, m: p.Metrics},
		Claims:                timedRecords{KeyValue: claims, m: p.Metrics},
		JetStream:             timedPublisher{JetStream: p.Broker.JS, m: p.Metrics},
		Jobs:                  jobs,
		DefaultWorkDir:        p.Settings.DefaultWorkDir,
		WriteSubmissionFiles:  p.Settings.WriteSubmissionFiles,
		MaxFileBytes:          int64(p.Settings.MaxFileBytes),
		MinSubmitUID:          minSubmitUID(p.Settings.MinSubmitUID),
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
	r := consumers.NewRunner(p.Broker.JS, consumers.ConfigFor(p.Topology, p.Topology.Submit, SubmitInFlight(p.Settings.SubmitConc)),
		p.Extensions.WrapPending(h), log, p.Metrics.Middleware("submit"), telemetry.DebugMeasure(log, "submit"))
	return TaskResult{Task: Task{Name: "submit", Run: r.Run}}, nil
}

// submitPrefetch is how many submissions per Slurm slot a process handles at once: while
// SUBMIT_CONCURRENCY of them are in sbatch, the others are mapped, downloaded, written or
// reported, so the API's round trips do not leave the slots idle.
const submitPrefetch = 4

// SubmitInFlight returns how many SUBMIT messages a process handles at once for
// SUBMIT_CONCURRENCY n (n of them in their Slurm stage at most): submitPrefetch times n, at
// most n+256.
func SubmitInFlight(n int) int { return min(submitPrefetch*n, n+256) }

// minSubmitUID maps MIN_SUBMIT_UID (0 disables the check) to submit.Options.MinSubmitUID (0
// means the default there, a negative value disables).
func minSubmitUID(v int) int {
	if v == 0 {
		return -1
	}
	return v
}
