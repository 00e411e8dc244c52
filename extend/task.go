package extend

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// PeriodicTask is a site's task: Run is called every Interval.
type PeriodicTask struct {
	Name     string
	Interval time.Duration
	Run      func(ctx context.Context) error
}

// Loop calls t.Run now and then every t.Interval until ctx is cancelled, and returns ctx's error.
// Calls never overlap (a call longer than the interval delays the next tick). An error or a
// panic from Run is logged at error level with the task's name and the loop goes on.
func (t PeriodicTask) Loop(ctx context.Context, logger *slog.Logger) error {
	if logger == nil {
		logger = logging.Discard()
	}
	log := logger.With("site_task", t.Name)
	tick := time.NewTicker(t.Interval)
	defer tick.Stop()
	for {
		start := time.Now()
		if err := t.once(ctx); err != nil && ctx.Err() == nil {
			log.Error("site task failed", "error", err)
		} else if err == nil {
			log.Debug("site task ran", "took", time.Since(start))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (t PeriodicTask) once(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return t.Run(ctx)
}
