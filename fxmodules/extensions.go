package fxmodules

import (
	"context"
	"log/slog"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/extend"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// Extensions wires a site's extension registry into the agent: its mappers join the
// user-mapper registry (when this process runs submit or update), its periodic tasks run as
// background tasks ("site:<name>"), and the submit and update modules wrap their handlers with
// its middleware. Pass it to New as an extra option; a nil registry adds nothing.
func Extensions(reg *extend.Registry) fx.Option {
	if reg == nil {
		return fx.Options()
	}
	// Not an fx.Module: a module's decorators would apply only inside the module.
	return fx.Options(
		fx.Supply(reg),
		fx.Decorate(func(r *usermap.Registry) (*usermap.Registry, error) {
			return r, reg.RegisterMappers(r)
		}),
		fx.Provide(func(logger *slog.Logger) TasksResult {
			var out TasksResult
			for _, t := range reg.Tasks() {
				log := logger.With("component", "extend")
				out.Tasks = append(out.Tasks, Task{Name: "site:" + t.Name, Run: func(ctx context.Context) error {
					_ = t.Loop(ctx, log)
					return nil
				}})
			}
			return out
		}),
	)
}
