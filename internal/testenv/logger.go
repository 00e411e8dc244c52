package testenv

import (
	"log/slog"
	"os"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// Logger returns the logger for the code under test: one that drops every record, or, when
// JBG_TEST_LOG is set, one that writes every record (debug and up) to standard error with the
// test's name, to follow a failing test.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("JBG_TEST_LOG") == "" {
		return logging.Discard()
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}
