package fxmodules

import (
	"log/slog"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
)

// New returns the agent's application for the settings: the core modules plus the modules of the
// roles this process takes (ROLES). extra options come last, so a site or a test can add
// mappers, sources or decorate what is provided.
func New(s *config.Settings, logger *slog.Logger, extra ...fx.Option) *fx.App {
	return fx.New(
		fx.Supply(s, logger),
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: logger}
			l.UseLogLevel(slog.LevelDebug)
			l.UseErrorLevel(slog.LevelError)
			return l
		}),
		Options(s),
		fx.Options(extra...),
	)
}

// Options returns the modules for the settings' roles.
func Options(s *config.Settings) fx.Option {
	opts := []fx.Option{Supervisor, Broker, Telemetry, API}
	if s.HasRole(config.RoleSubmit) || s.HasRole(config.RoleUpdate) {
		opts = append(opts, Slurm)
	}
	if s.TaskSelfUpdateSeconds != nil {
		opts = append(opts, SelfUpdate)
	}
	if s.HasRole(config.RoleBridge) {
		opts = append(opts, Bridge)
	}
	for _, r := range roleModules {
		if s.HasRole(r.role) {
			opts = append(opts, r.module)
		}
	}
	return fx.Options(opts...)
}

// roleModules are the consumer modules, one per role; each registers its bridge sources and its
// runner task.
var roleModules []struct {
	role   string
	module fx.Option
}

// addRole registers the module of a consumer role (called from the files that define them).
func addRole(role string, m fx.Option) {
	roleModules = append(roleModules, struct {
		role   string
		module fx.Option
	}{role, m})
}
