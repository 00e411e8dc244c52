package fxmodules

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/health"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/telemetry"
)

// Health reports the cluster alive: the bridge leader publishes one tick per
// TASK_JOBS_INTERVAL_SECONDS and one health runner, on whichever login node takes it, PUTs the
// cluster status with that interval.
var Health = fx.Module("health", fx.Provide(newHealthTask))

func newHealthSource(t broker.Topology, s *config.Settings) SourceResult {
	d := jobsInterval(s)
	return SourceResult{Source: TimedSource{Source: health.NewSource(t, d, nil), Interval: d}}
}

func newHealthTask(s *config.Settings, b *broker.Broker, t broker.Topology, api *jobbergate.Client,
	m *telemetry.Metrics, logger *slog.Logger) TaskResult {
	log := logger.With("component", "health")
	h := health.NewHandler(api, jobsInterval(s), log)
	r := consumers.NewRunner(b.JS, consumers.ConfigFor(t, t.Health, 1), h, log, m.Middleware("health"), telemetry.DebugMeasure(log, "health"))
	return TaskResult{Task: Task{Name: "health", Run: r.Run}}
}
