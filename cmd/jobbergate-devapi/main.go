// Command jobbergate-devapi runs the development Jobbergate API (package
// jobbergate/jobbergatetest) as its own process: the agent-facing API, a Keycloak-style token
// endpoint and the /dev/ read endpoints on one port, seeded from a JSON file.
//
// Usage:
//
//	jobbergate-devapi -listen 127.0.0.1:8000 -seed seed.json -version 5.11.0
//
// It prints the BASE_API_URL and OIDC_DOMAIN an agent should use and stops cleanly on SIGTERM or
// SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "jobbergate-devapi:", err)
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	listen   string
	seed     string
	version  string
	tokenTTL time.Duration
	debug    bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("jobbergate-devapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8000", "address to listen on (API, token endpoint and /dev/ reads)")
	fs.StringVar(&c.seed, "seed", "", "JSON seed file with clients, job scripts and submissions")
	fs.StringVar(&c.version, "version", jobbergatetest.DefaultVersion, "API version reported by /jobbergate/openapi.json")
	fs.DurationVar(&c.tokenTTL, "token-ttl", 5*time.Minute, "lifetime of the tokens the token endpoint issues")
	fs.BoolVar(&c.debug, "debug", false, "log every request")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return c, nil
}

// run starts the server, prints the settings to use on stdout, and serves until ctx ends, then
// shuts down gracefully. started, when not nil, is called with the running server.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, started func(*jobbergatetest.Server)) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if c.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	s := jobbergatetest.New(jobbergatetest.Options{Version: c.version, TokenTTL: c.tokenTTL, Logger: log})
	if c.seed != "" {
		if err := s.LoadSeedFile(c.seed); err != nil {
			return err
		}
		log.Info("seed loaded", "file", c.seed, "submissions", len(s.Submissions()))
	}
	if err := s.Start(c.listen); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "BASE_API_URL=%s\nOIDC_DOMAIN=%s\nOIDC_USE_HTTPS=false\n", s.URL(), s.OIDCDomain())
	if started != nil {
		started(s)
	}
	<-ctx.Done()
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(shutdownCtx); err != nil {
		_ = s.Close()
		return err
	}
	log.Info("stopped")
	return nil
}
