// Command jobbergate-agent connects a Jobbergate deployment to a Slurm cluster through NATS
// JetStream. Subcommands:
//
//	run      (default) run the agent
//	config   print the effective settings (secrets masked); non-zero exit with one line per problem
//	version  print the version
package main

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

// cliEnv is what every subcommand gets: its streams and how to load settings.
type cliEnv struct {
	stdout, stderr io.Writer
	environ        []string
	envFile        string
}

func (e *cliEnv) load() (*config.Settings, error) {
	return config.Load(config.Source{Environ: e.environ, Dotenv: e.envFile})
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := realMain(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func realMain(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	env := &cliEnv{stdout: stdout, stderr: stderr, environ: environ}
	fs := flag.NewFlagSet("jobbergate-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&env.envFile, "env-file", "", "settings file to read (default: the snap's .env if present, else ./.env; \"none\" reads none)")
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
