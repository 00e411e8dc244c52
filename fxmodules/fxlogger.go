package fxmodules

import (
	"context"
	"errors"
	"log/slog"

	"go.uber.org/fx/fxevent"
)

// fxLogger is fx's event logger for the agent: wiring at DEBUG, failures at ERROR. Once start is
// cancelled (a stop requested while the agent starts), the errors that cancellation causes are
// logged at DEBUG: they are the stop, not failures, and ERROR records also go to Sentry.
type fxLogger struct {
	start        context.Context
	normal, stop fxevent.Logger
}

func newFxLogger(start context.Context, logger *slog.Logger) *fxLogger {
	l := &fxevent.SlogLogger{Logger: logger}
	l.UseLogLevel(slog.LevelDebug)
	l.UseErrorLevel(slog.LevelError)
	q := &fxevent.SlogLogger{Logger: logger}
	q.UseLogLevel(slog.LevelDebug)
	q.UseErrorLevel(slog.LevelDebug)
	return &fxLogger{start: start, normal: l, stop: q}
}

// LogEvent logs e.
func (l *fxLogger) LogEvent(e fxevent.Event) {
	if l.start.Err() != nil && errors.Is(eventErr(e), context.Canceled) {
		l.stop.LogEvent(e)
		return
	}
	l.normal.LogEvent(e)
}

// eventErr returns the error an fx event carries, if any.
func eventErr(e fxevent.Event) error {
	switch e := e.(type) {
	case *fxevent.OnStartExecuted:
		return e.Err
	case *fxevent.OnStopExecuted:
		return e.Err
	case *fxevent.Supplied:
		return e.Err
	case *fxevent.Provided:
		return e.Err
	case *fxevent.Replaced:
		return e.Err
	case *fxevent.Decorated:
		return e.Err
	case *fxevent.Run:
		return e.Err
	case *fxevent.Invoked:
		return e.Err
	case *fxevent.Started:
		return e.Err
	case *fxevent.Stopped:
		return e.Err
	case *fxevent.RollingBack:
		return e.StartErr
	case *fxevent.RolledBack:
		return e.Err
	}
	return nil
}
