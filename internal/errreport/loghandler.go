package errreport

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/getsentry/sentry-go"
)

// LogHandler is a slog.Handler that hands every record to the handler it wraps and, as the
// reference agent's Sentry logging integration does, sends each record at ERROR or above to the
// Reporter set with SetReporter: the message as the event, the record's attributes as tags. The
// logger exists before the Reporter (whose settings it reports on), hence SetReporter; until then,
// and with a disabled Reporter, nothing is sent. Safe for concurrent use.
type LogHandler struct {
	next     slog.Handler
	reporter *atomic.Pointer[Reporter]
	attrs    []slog.Attr
	groups   []string
}

// NewLogHandler wraps next.
func NewLogHandler(next slog.Handler) *LogHandler {
	return &LogHandler{next: next, reporter: &atomic.Pointer[Reporter]{}}
}

// SetReporter makes h (and every handler derived from it with WithAttrs or WithGroup) send
// error records to r; nil stops sending.
func (h *LogHandler) SetReporter(r *Reporter) { h.reporter.Store(r) }

func (h *LogHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *LogHandler) Handle(ctx context.Context, rec slog.Record) error {
	err := h.next.Handle(ctx, rec)
	if r := h.reporter.Load(); rec.Level >= slog.LevelError && r.Enabled() {
		tags := map[string]string{}
		add := func(a slog.Attr) bool {
			key := a.Key
			for i := len(h.groups) - 1; i >= 0; i-- {
				key = h.groups[i] + "." + key
			}
			tags[key] = a.Value.Resolve().String()
			return true
		}
		for _, a := range h.attrs {
			add(a)
		}
		rec.Attrs(add)
		r.reportMessage(rec.Message, tags)
	}
	return err
}

func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

func (h *LogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	c.groups = append(append([]string(nil), h.groups...), name)
	return &c
}

// reportMessage sends one error-level event with msg and tags. It never blocks on the network.
func (r *Reporter) reportMessage(msg string, tags map[string]string) {
	scope := sentry.NewScope()
	scope.SetTags(tags)
	scope.SetLevel(sentry.LevelError)
	r.client.CaptureEvent(&sentry.Event{Message: msg, Level: sentry.LevelError, Logger: "jobbergate-agent"}, nil, scope)
}

var _ slog.Handler = (*LogHandler)(nil)

// String names the handler in debug output.
func (h *LogHandler) String() string { return fmt.Sprintf("errreport.LogHandler(%T)", h.next) }
