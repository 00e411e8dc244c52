package fxmodules

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/telemetry"
)

// Telemetry provides the Prometheus metrics and, unless METRICS_LISTEN is off, serves /metrics,
// /healthz and /readyz (ready once the agent started and while NATS is connected). When
// METRICS_LISTEN cannot be bound the agent runs on without them and binds when it can (see
// telemetry.Server.Serve): after 1 s, then twice as long each time up to every 30 s.
var Telemetry = fx.Module("telemetry",
	fx.Provide(telemetry.New),
	fx.Invoke(serveTelemetry),
)

// Waits between two attempts to bind METRICS_LISTEN.
const (
	metricsListenFirstRetry = time.Second
	metricsListenRetry      = 30 * time.Second
)

func serveTelemetry(lc fx.Lifecycle, s *config.Settings, m *telemetry.Metrics, b *broker.Broker, t broker.Topology, logger *slog.Logger) error {
	if err := m.RegisterQueues(b.JS, t); err != nil {
		return err
	}
	if s.MetricsListen == "" {
		return nil
	}
	srv := telemetry.NewServer(m, logger.With("component", "telemetry"))
	// Read by /readyz requests while the start hook sets it.
	var started atomic.Bool
	srv.AddCheck("started", func(context.Context) error {
		if !started.Load() {
			return errors.New("the agent is starting")
		}
		return nil
	})
	srv.AddCheck("nats", func(context.Context) error {
		if !b.Conn.IsConnected() {
			return errors.New("not connected to NATS: " + b.Conn.Status().String())
		}
		return nil
	})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			// The agent's work does not need the listener: a port another process holds (a
			// second agent on the host) is a warning, and the bind is retried until it works.
			srv.Serve(s.MetricsListen, metricsListenFirstRetry, metricsListenRetry)
			started.Store(true)
			return nil
		},
		OnStop: srv.Stop,
	})
	return nil
}
