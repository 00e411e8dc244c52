package fxmodules

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/metrics"
	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/telemetry"
)

// Metrics uploads per-job resource metrics from InfluxDB (when INFLUX_DSN or INFLUX_FLUX_URL is
// set): METRICS_CONCURRENCY jobs at a time in this process, on its own stream so slow InfluxDB
// queries never delay submissions or state updates.
var Metrics = fx.Module("metrics", fx.Provide(newInfluxSource, newMetricsTask))

// newActiveLister lists active submissions once per TASK_JOBS_INTERVAL_SECONDS for both the
// update and the metrics sources, so they see the same list (a job the update marks DONE still
// gets its last samples uploaded in that cycle).
func newActiveLister(api *jobbergate.Client, s *config.Settings) *metrics.SharedLister {
	return metrics.NewSharedLister(api, jobsInterval(s), nil)
}

func newMetricsSource(l *metrics.SharedLister, t broker.Topology, s *config.Settings) SourceResult {
	if !s.InfluxEnabled() {
		return SourceResult{}
	}
	src := metrics.NewSource(l, t, metrics.SourceOptions{Interval: jobsInterval(s)})
	return SourceResult{Source: TimedSource{Source: src, Interval: s.BridgePoll}}
}

// InfluxSource builds the InfluxDB backend the settings name, keeping INFLUX_POOL_SIZE
// connections to it open between queries.
func InfluxSource(s *config.Settings, logger *slog.Logger) (influx.Source, error) {
	var timeout time.Duration
	if s.InfluxTimeout != nil {
		timeout = time.Duration(*s.InfluxTimeout) * time.Second
	}
	log := logger.With("component", "influx")
	if s.InfluxFluxURL != "" {
		return influx.NewFlux(influx.FluxOptions{
			URL: s.InfluxFluxURL, Token: s.InfluxFluxToken, Org: s.InfluxFluxOrg, Bucket: s.InfluxFluxBucket, Timeout: timeout,
			PoolSize: s.InfluxPoolSize,
		}, log)
	}
	return influx.NewInfluxQL(influx.InfluxQLOptions{
		DSN: s.InfluxDSN, SSL: s.InfluxSSL, VerifySSL: s.InfluxVerify, CertPath: s.InfluxCertPath, Timeout: timeout,
		PoolSize: s.InfluxPoolSize,
	}, log)
}

func newInfluxSource(lc fx.Lifecycle, s *config.Settings, logger *slog.Logger) (influx.Source, error) {
	src, err := InfluxSource(s, logger)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func(context.Context) error { return src.Close() }))
	return src, nil
}

func newMetricsTask(s *config.Settings, b *broker.Broker, t broker.Topology, api *jobbergate.Client,
	src influx.Source, m *telemetry.Metrics, logger *slog.Logger) (TaskResult, error) {
	log := logger.With("component", "metrics")
	h, err := metrics.NewHandler(metrics.Options{
		Source: src, API: api, Logger: log, OnPoints: m.AddInfluxPoints, OnChunks: m.AddUploadChunks,
	})
	if err != nil {
		return TaskResult{}, err
	}
	r := consumers.NewRunner(b.JS, consumers.ConfigFor(t, t.Metrics, s.MetricsConc), h, log, m.Middleware("metrics"), telemetry.DebugMeasure(log, "metrics"))
	return TaskResult{Task: Task{Name: "metrics", Run: r.Run}}, nil
}
