package fxmodules

import (
	"context"
	"log/slog"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
)

// StartContext bounds the network calls made while the application is built (connecting to NATS,
// provisioning streams, opening buckets): constructors derive their timeouts from it, so a stop
// requested while the agent is still starting ends them at once.
type StartContext context.Context

// New returns the agent's application for the settings: the core modules plus the modules of the
// roles this process takes (ROLES). ctx is its StartContext. extra options come last, so a site
// or a test can add mappers, sources or decorate what is provided.
func New(ctx context.Context, s *config.Settings, logger *slog.Logger, extra ...fx.Option) *fx.App {
	return fx.New(
		fx.Supply(s, logger),
		fx.Provide(func() StartContext { return ctx }),
		fx.WithLogger(func() fxevent.Logger { return newFxLogger(ctx, logger) }),
		Options(s),
		fx.Options(extra...),
	)
}

// Options returns the modules for the settings' roles.
func Options(s *config.Settings) fx.Option {
	opts := []fx.Option{Broker, Telemetry, API}
	if s.HasRole(config.RoleSubmit) || s.HasRole(config.RoleUpdate) {
		opts = append(opts, Slurm)
	}
	if s.TaskSelfUpdateSeconds != nil {
		opts = append(opts, SelfUpdate)
	}
	if s.HasRole(config.RoleBridge) {
		opts = append(opts, Bridge)
	}
	if s.HasRole(config.RoleSubmit) {
		opts = append(opts, Submit)
	}
	if s.HasRole(config.RoleUpdate) {
		opts = append(opts, Update)
	}
	if s.HasRole(config.RoleMetrics) && s.InfluxEnabled() {
		opts = append(opts, Metrics)
	}
	if s.HasRole(config.RoleHealth) {
		opts = append(opts, Health)
	}
	// Last: its start hook starts the tasks and logs "agent started" once every other start
	// hook (the metrics listener included) has run, and its stop hook stops the tasks first.
	opts = append(opts, Supervisor)
	return fx.Options(opts...)
}
