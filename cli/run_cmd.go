package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/fxmodules"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/buildinfo"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/errreport"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// startTimeout bounds start-up (NATS, provisioning); stopTimeout bounds the graceful stop:
// consumers finish or nak in-flight work, the connection drains, the embedded server stops.
const (
	startTimeout = 2 * time.Minute
	stopTimeout  = 45 * time.Second
)

// runCmd runs the agent until SIGTERM/SIGINT (ctx) or a fatal error in a background task.
func runCmd(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	s, ok := env.loadOrReport()
	if env.refusedDotenv {
		// The inspection commands go on without a refused file; the daemon does not start on
		// settings other than the ones its admin wrote.
		fmt.Fprintln(env.stderr, "jobbergate-agent: not starting the agent without the refused settings file: "+
			"make it owned by root and writable only by its owner, or name the file to use with --env-file")
		return exitConfig
	}
	if !ok {
		return exitConfig
	}
	// Error records also go to Sentry once the agent has built its reporter (SENTRY_DSN).
	logs := errreport.NewLogHandler(logging.New(env.stderr, s.LogLevel, s.LogFormat).Handler())
	logger := slog.New(logs)
	mode := "embedded NATS"
	if !s.Embedded() {
		mode = "NATS client"
	}
	logger.Info("Starting Jobbergate-agent", "version", buildinfo.Version, "roles", s.Roles,
		"mode", mode, "api", config.RedactURLs(s.BaseAPIURL), "cluster", s.OIDCClientID)
	for _, w := range env.warnings {
		// Ignored as the reference ignores it; said once, at start, so a misspelling is seen.
		attrs := []any{"setting", w.Key, "from", w.From}
		if w.Suggestion != "" {
			attrs = append(attrs, "suggestion", w.Suggestion)
		}
		logger.Warn(w.String(), attrs...)
	}

	// Building the agent connects to NATS and provisions it; starting it opens the listeners and
	// starts the tasks. Both are bounded, and both end at once on SIGTERM/SIGINT.
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var restart *fxmodules.Restart
	app := fxmodules.New(startCtx, s, logger, fx.Supply(logs), fx.Populate(&restart), fxmodules.Extensions(env.opts.ext), fx.Invoke(recordEmbeddedAddr))
	err := app.Err()
	if err == nil {
		err = app.Start(startCtx)
	}
	if err != nil {
		stopCtx, cancelStop := context.WithTimeout(context.Background(), stopTimeout)
		defer cancelStop()
		if ctx.Err() != nil {
			// A stop requested while starting (or just as the last start hook returned: fx's
			// Start reports the cancelled context then too) is not a failure.
			logger.Info("Jobbergate-agent is shutting down (stop requested while starting)...")
			if err := app.Stop(stopCtx); err != nil {
				logger.Error("unclean stop", "error", err)
				return 1
			}
			logger.Info("Jobbergate-agent has been stopped")
			return 0
		}
		if app.Err() != nil {
			logger.Error("cannot build the agent", "error", err)
			return exitConfig
		}
		logger.Error("start failed", "error", err)
		_ = app.Stop(stopCtx)
		return 1
	}

	code := 0
	select {
	case <-ctx.Done():
	case sig := <-app.Wait():
		code = sig.ExitCode
	}
	logger.Info("Jobbergate-agent is shutting down...")
	stopCtx, cancelStop := context.WithTimeout(context.Background(), stopTimeout)
	defer cancelStop()
	if err := app.Stop(stopCtx); err != nil {
		logger.Error("unclean stop", "error", err)
		if code == 0 {
			code = 1
		}
	}
	logger.Info("Jobbergate-agent has been stopped")
	if restart.Requested() && code == 0 {
		return reexec(logger)
	}
	return code
}

// reexec replaces the process with the (updated) binary, same arguments and environment. It
// returns only on failure.
func reexec(logger *slog.Logger) int {
	self, err := os.Executable()
	if err != nil {
		logger.Error("cannot find the agent binary to restart", "error", err)
		return 1
	}
	logger.Info("restarting on the updated binary", "path", self)
	err = syscall.Exec(self, os.Args, os.Environ())
	logger.Error("restart failed", "path", self, "error", err)
	return 1
}
