package fxmodules

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/buildinfo"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/selfupdate"
)

// Restart records that the agent should re-execute itself once it has stopped (after a
// successful self-update). The run command reads it after the graceful stop.
type Restart struct{ requested atomic.Bool }

// Request asks for a re-exec after the stop.
func (r *Restart) Request() { r.requested.Store(true) }

// Requested reports whether a re-exec was asked for.
func (r *Restart) Requested() bool { return r != nil && r.requested.Load() }

// SelfUpdate checks the API's version every TASK_SELF_UPDATE_INTERVAL_SECONDS (when set). After
// SELF_UPDATE_COMMAND succeeded, it stops the agent gracefully (in-flight work drained) and asks
// the run command to re-execute the new binary with the same arguments.
var SelfUpdate = fx.Module("selfupdate", fx.Provide(newSelfUpdateTask))

func newSelfUpdateTask(s *config.Settings, api *jobbergate.Client, restart *Restart, sd fx.Shutdowner, logger *slog.Logger) TaskResult {
	checker := selfupdate.New(selfupdate.Options{
		Current:  buildinfo.Version,
		Upstream: api.APIVersion,
		Command:  strings.Fields(s.SelfUpdateCommand),
		Logger:   logger.With("component", "selfupdate"),
	})
	interval := time.Duration(*s.TaskSelfUpdateSeconds) * time.Second
	return TaskResult{Task: Task{Name: "self-update", Run: func(ctx context.Context) error {
		return checker.Run(ctx, interval, func(selfupdate.Result) {
			restart.Request()
			_ = sd.Shutdown()
		})
	}}}
}
