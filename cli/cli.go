package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
)

// exitUsage and exitConfig are the exit codes for a bad command line and invalid settings.
const (
	exitUsage  = 2
	exitConfig = 1
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) int
}

// cliEnv is what every subcommand gets: its streams, how to load settings and the options the
// program was built with.
type cliEnv struct {
	stdout, stderr io.Writer
	environ        []string
	envFile        string
	opts           options
	// refusedDotenv is set when load refused the default .env file (see config.Notice).
	refusedDotenv bool
	// warnings are the unknown JOBBERGATE_AGENT_* variables load ignored, one per variable:
	// config and the inspection commands print them, run logs them.
	warnings []config.Warning
}

// load reads the settings; each notice about the .env file (refused, or read with a warning) is
// printed to stderr on one line; unknown variables are kept in e.warnings.
func (e *cliEnv) load() (*config.Settings, error) {
	e.warnings = nil
	return config.Load(config.Source{Environ: e.environ, Dotenv: e.envFile, Notify: func(n config.Notice) {
		e.refusedDotenv = e.refusedDotenv || n.Refused
		fmt.Fprintf(e.stderr, "jobbergate-agent: %s\n", n)
	}, Warn: func(w config.Warning) { e.warnings = append(e.warnings, w) }})
}

// printWarnings prints each unknown variable of the last load to stderr, one line each.
func (e *cliEnv) printWarnings() {
	for _, w := range e.warnings {
		fmt.Fprintf(e.stderr, "jobbergate-agent: warning: %s\n", w)
	}
}

// loadOrReport loads the settings; when they are invalid it prints every problem (one line
// each) or the error to stderr, after the unknown variables (a misspelt name may be why a
// setting has its default), and returns false (the caller exits with exitConfig).
func (e *cliEnv) loadOrReport() (*config.Settings, bool) {
	s, err := e.load()
	if err == nil {
		return s, true
	}
	e.printWarnings()
	var problems config.Problems
	if errors.As(err, &problems) {
		fmt.Fprintf(e.stderr, "jobbergate-agent: %d invalid setting(s):\n%s\n", len(problems), problems)
	} else {
		fmt.Fprintf(e.stderr, "jobbergate-agent: %v\n", err)
	}
	return nil, false
}

func commands() []command {
	return []command{
		{"run", "run the agent (default)", runCmd},
		{"config", "print the effective settings, secrets masked; exit 1 listing every problem", configCmd},
		{"version", "print the version", versionCmd},
		{"status", "show queues, consumers, bridge leader, agents and dead letters (--json)", statusCmd},
		{"dead", "list|show SEQ|retry SEQ|all|purge SEQ|all dead letters (--json)", deadCmd},
	}
}

// Main runs the command line args (without the program name) with the process's environment,
// stdout and stderr, until the command ends or SIGTERM/SIGINT stops it, and returns the exit
// code. A site's main is `os.Exit(cli.Main(os.Args[1:], cli.WithExtensions(reg)))`.
func Main(args []string, opts ...Option) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return Run(ctx, args, os.Environ(), os.Stdout, os.Stderr, opts...)
}

// Run is Main with explicit streams and environment (environ as os.Environ returns it); ctx
// cancelled is what SIGTERM does. Tests and wrappers call it.
func Run(ctx context.Context, args, environ []string, stdout, stderr io.Writer, opts ...Option) int {
	env := &cliEnv{stdout: stdout, stderr: stderr, environ: environ}
	for _, o := range opts {
		o(&env.opts)
	}
	fs := flag.NewFlagSet("jobbergate-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&env.envFile, "env-file", "", "settings file to read (default: the snap's .env if present, else ./.env, each only when owned by root or the caller and not writable by others; \"none\" reads none)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: jobbergate-agent [--env-file FILE] [command] [flags]\n\nCommands:\n")
		for _, c := range commands() {
			fmt.Fprintf(stderr, "  %-8s %s\n", c.name, c.summary)
		}
		fmt.Fprintf(stderr, "\nSettings are JOBBERGATE_AGENT_* environment variables; `jobbergate-agent config` lists them.\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	rest := fs.Args()
	name := "run"
	if len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, env, rest)
		}
	}
	fmt.Fprintf(stderr, "jobbergate-agent: unknown command %q\n", name)
	fs.Usage()
	return exitUsage
}
