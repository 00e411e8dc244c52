// Package logging builds the agent's slog logger from its LOG_LEVEL and LOG_FORMAT settings.
//
// # Conventions
//
// One key per concept, in snake_case, the same in every package: submission_id (the Jobbergate
// submission, whatever carries it: a payload or the Jbg-Submission-Id header), slurm_job_id,
// subject, stream, seq, error. A component names itself with "component". Code that has
// nowhere to log takes Discard, never a nil logger.
package logging

import (
	"io"
	"log/slog"
	"strings"
)

// New returns a logger writing to w in "text" or "json" format at the given level (debug, info,
// warn or error; anything else means info).
func New(w io.Writer, level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: Level(level)}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Level maps a level name to a slog.Level; unknown names mean info.
func Level(name string) slog.Level {
	switch strings.ToLower(name) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Discard returns a logger that drops every record: for tests and for callers that have nothing
// to report to.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
