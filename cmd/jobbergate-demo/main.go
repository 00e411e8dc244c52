// Command jobbergate-demo shows the agent at work on a single-node Slurm cluster: it starts the
// development Jobbergate API seeded with example submissions for two users, runs the agent
// (embedded NATS) as a child process, shows live progress, and ends with a summary table of every
// submission's final status, Slurm job id and message. `make demo` runs it after starting Slurm.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "jobbergate-demo:", err)
		os.Exit(1)
	}
}

type options struct {
	agent, seed, mapper, workDir string
	timeout                      time.Duration
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("jobbergate-demo", flag.ContinueOnError)
	fs.StringVar(&o.agent, "agent", "bin/jobbergate-agent", "agent binary")
	fs.StringVar(&o.seed, "seed", "deploy/demo/seed.json", "job scripts and submissions to seed the development API with")
	fs.StringVar(&o.mapper, "mapper", "deploy/demo/map-user.sh", "command-mapper program (e-mail -> user)")
	fs.StringVar(&o.workDir, "work-dir", "", "agent cache dir and logs (default: a new temporary directory)")
	fs.DurationVar(&o.timeout, "timeout", 4*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, p := range []*string{&o.agent, &o.seed, &o.mapper} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%s: %w (run `make demo` from the repository root)", abs, err)
		}
	}
	if o.workDir == "" {
		d, err := os.MkdirTemp("", "jobbergate-demo-")
		if err != nil {
			return err
		}
		o.workDir = d
	}

	api := jobbergatetest.New(jobbergatetest.Options{})
	if err := api.LoadSeedFile(o.seed); err != nil {
		return err
	}
	if err := api.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer api.Close()
	total := len(api.Submissions())
	fmt.Fprintf(out, "Development Jobbergate API at %s with %d submissions for alice and bob.\n", api.URL(), total)

	logPath := filepath.Join(o.workDir, "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(o.agent, "--env-file", "none", "run")
	cmd.Env = append(os.Environ(),
		"JOBBERGATE_AGENT_BASE_API_URL="+api.URL(),
		"JOBBERGATE_AGENT_OIDC_DOMAIN="+api.OIDCDomain(),
		"JOBBERGATE_AGENT_OIDC_USE_HTTPS=false",
		"JOBBERGATE_AGENT_OIDC_CLIENT_ID=demo-cluster",
		"JOBBERGATE_AGENT_OIDC_CLIENT_SECRET=demo-secret",
		"JOBBERGATE_AGENT_CACHE_DIR="+filepath.Join(o.workDir, "cache"),
		"JOBBERGATE_AGENT_SLURM_USER_MAPPER=command-mapper",
		"JOBBERGATE_AGENT_COMMAND_MAPPER_PATH="+o.mapper,
		"JOBBERGATE_AGENT_BRIDGE_POLL_INTERVAL=2s",
		"JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS=10",
		"JOBBERGATE_AGENT_NATS_LISTEN=127.0.0.1:0",
		"JOBBERGATE_AGENT_METRICS_LISTEN=127.0.0.1:0",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}
	fmt.Fprintf(out, "Agent started (pid %d), embedded NATS; its log: %s\n\n", cmd.Process.Pid, logPath)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.After(o.timeout)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var outcome error
	tty := isTerminal(out)
	last := ""
loop:
	for {
		c := count(api.Submissions())
		switch line := c.line(total); {
		case tty:
			fmt.Fprintf(out, "\r%s", line)
		case line != last: // a log file or a pipe: one line per change
			fmt.Fprintln(out, line)
			last = line
		}
		if c.finished() == total {
			break
		}
		select {
		case <-ctx.Done():
			outcome = errors.New("interrupted")
			break loop
		case err := <-exited:
			outcome = fmt.Errorf("the agent exited early (%v); see %s", err, logPath)
			exited = nil
			break loop
		case <-deadline:
			outcome = fmt.Errorf("not every submission finished within %s; see %s", o.timeout, logPath)
			break loop
		case <-tick.C:
		}
	}
	fmt.Fprintln(out)
	if exited != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
	summary(out, api.Submissions())
	return outcome
}

// counts is the progress of the submissions.
type counts struct{ created, submitted, running, done, aborted, rejected int }

func count(subs []jobbergatetest.Submission) counts {
	var c counts
	for _, s := range subs {
		switch s.Status {
		case "CREATED":
			c.created++
		case "SUBMITTED", "CANCELLED":
			if s.SlurmJobState != nil && *s.SlurmJobState == "RUNNING" {
				c.running++
			} else {
				c.submitted++
			}
		case "DONE":
			c.done++
		case "ABORTED":
			c.aborted++
		case "REJECTED":
			c.rejected++
		}
	}
	return c
}

func (c counts) finished() int { return c.done + c.aborted + c.rejected }

func (c counts) line(total int) string {
	const width = 30
	filled := width * c.finished() / max(total, 1)
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	return fmt.Sprintf("[%s] %d/%d finished | waiting %d  submitted %d  running %d  done %d  aborted %d  rejected %d ",
		bar, c.finished(), total, c.created, c.submitted, c.running, c.done, c.aborted, c.rejected)
}

func summary(out io.Writer, subs []jobbergatetest.Submission) {
	sort.Slice(subs, func(i, j int) bool { return subs[i].ID < subs[j].ID })
	fmt.Fprintln(out, "\nSummary")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tOWNER\tSTATUS\tSLURM ID\tSLURM STATE\tMESSAGE")
	for _, s := range subs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Name, s.OwnerEmail, s.Status,
			intOr(s.SlurmJobID, "-"), strOr(s.SlurmJobState, "-"), oneLine(strOr(s.ReportMessage, "")))
	}
	_ = tw.Flush()
}

// isTerminal reports whether w is a character device (a terminal), where the progress line is
// redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func intOr(p *int, def string) string {
	if p == nil {
		return def
	}
	return fmt.Sprint(*p)
}

func strOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 110 {
		s = s[:107] + "..."
	}
	return s
}
