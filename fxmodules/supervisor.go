package fxmodules

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"go.uber.org/fx"
)

// Task is a piece of background work that runs from start until the application stops. Run must
// return when ctx is cancelled; a non-nil error returned before that is fatal for the agent.
type Task struct {
	Name string
	Run  func(ctx context.Context) error
}

// TaskResult lets a constructor contribute a Task to the "tasks" group.
type TaskResult struct {
	fx.Out
	Task Task `group:"tasks"`
}

// TasksResult lets a constructor contribute several Tasks.
type TasksResult struct {
	fx.Out
	Tasks []Task `group:"tasks,flatten"`
}

type supervisorParams struct {
	fx.In
	Lifecycle  fx.Lifecycle
	Shutdowner fx.Shutdowner
	Logger     *slog.Logger
	Tasks      []Task `group:"tasks"`
}

// Supervisor starts every Task on application start and stops them (cancel, then wait) on stop.
var Supervisor = fx.Module("supervisor", fx.Provide(func() *Restart { return &Restart{} }), fx.Invoke(runTasks))

func runTasks(p supervisorParams) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error {
			for _, t := range p.Tasks {
				wg.Add(1)
				go func(t Task) {
					defer wg.Done()
					log := p.Logger.With("task", t.Name)
					log.Debug("task started")
					err := t.Run(ctx)
					switch {
					case err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil:
						log.Error("task failed; stopping the agent", "error", err)
						_ = p.Shutdowner.Shutdown(fx.ExitCode(1))
					case ctx.Err() == nil:
						log.Warn("task ended before shutdown")
					default:
						log.Debug("task stopped")
					}
				}(t)
			}
			p.Logger.Info("agent started", "tasks", taskNames(p.Tasks))
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
				return nil
			case <-stop.Done():
				return errors.New("background tasks did not stop in time")
			}
		},
	})
}

func taskNames(ts []Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}
