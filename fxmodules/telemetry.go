package fxmodules

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/telemetry"
)

// Telemetry provides the Prometheus metrics and, unless METRICS_LISTEN is off, serves /metrics,
// /healthz and /readyz (ready once the agent started and while NATS is connected).
var Telemetry = fx.Module("telemetry",
	fx.Provide(telemetry.New),
	fx.Invoke(serveTelemetry),
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
			if err := srv.Start(s.MetricsListen); err != nil {
				return err
			}
			started.Store(true)
			return nil
		},
		OnStop: srv.Stop,
	})
	return nil
}
