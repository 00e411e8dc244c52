package selfupdate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// VersionPlaceholder in an update command's arguments is replaced by the upstream version.
const VersionPlaceholder = "{version}"

// MinimalPath is the PATH of the update command, and where a command name without a slash is
// looked up (not in the agent's own PATH).
const MinimalPath = "/usr/sbin:/usr/bin:/sbin:/bin"

// MinimalEnv returns the whole environment of the update command, PATH=MinimalPath and LANG=C:
// nothing of the agent's environment is passed on.
func MinimalEnv() []string { return []string{"PATH=" + MinimalPath, "LANG=C"} }

// Options configure a Checker.
type Options struct {
	// Current is the running agent's version.
	Current string
	// Upstream returns the API's version (jobbergate.Client.APIVersion).
	Upstream func(ctx context.Context) (string, error)
	// Command is the site's update command as argv, run without a shell, in /, with MinimalEnv()
	// as its environment; a name without a slash is looked up in MinimalPath. "{version}" in an
	// argument is replaced by the upstream version. Empty: report only, never update.
	Command []string
	// CommandTimeout bounds the command (default 10 minutes).
	CommandTimeout time.Duration
	Logger         *slog.Logger
}

// Result is the outcome of one check.
type Result struct {
	Current, Upstream string
	// Needed is jobbergate.NeedUpdate's answer (upstream newer, same major); Updated says the
	// update command ran and succeeded.
	Needed, Updated bool
}

// ErrCommandFailed wraps a failed update command.
var ErrCommandFailed = errors.New("selfupdate: update command failed")

// Checker runs checks. It is safe for use by one goroutine at a time.
type Checker struct{ o Options }

// setDefaults fills the options left at their zero value.
func (o *Options) setDefaults() {
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = logging.Discard()
	}
}

// New returns a Checker.
func New(o Options) *Checker {
	o.setDefaults()
	return &Checker{o: o}
}

// Check compares versions, logs the result and, when an update is needed and a command is set,
// runs it. A version that is not MAJOR.MINOR.PATCH is an error (nothing is run); an upstream
// version older than the current one is logged as a warning and never installed.
func (c *Checker) Check(ctx context.Context) (Result, error) {
	r := Result{Current: c.o.Current}
	up, err := c.o.Upstream(ctx)
	if err != nil {
		return r, fmt.Errorf("selfupdate: read the API version: %w", err)
	}
	r.Upstream = up
	need, err := jobbergate.NeedUpdate(c.o.Current, up)
	if err != nil {
		return r, fmt.Errorf("selfupdate: %w", err)
	}
	r.Needed = need
	if cmp, _ := jobbergate.CompareVersions(up, c.o.Current); cmp < 0 {
		c.o.Logger.Warn("the API reports an older version than the agent's: not downgrading", "current", r.Current, "upstream", up)
	}
	c.o.Logger.Info("agent version check", "current", r.Current, "upstream", up, "update_needed", need,
		"update_command_set", len(c.o.Command) > 0)
	if !need || len(c.o.Command) == 0 {
		return r, nil
	}
	argv := make([]string, len(c.o.Command))
	for i, a := range c.o.Command {
		argv[i] = strings.ReplaceAll(a, VersionPlaceholder, up)
	}
	cctx, cancel := context.WithTimeout(ctx, c.o.CommandTimeout)
	defer cancel()
	path, err := lookPath(argv[0])
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrCommandFailed, err)
	}
	cmd := exec.CommandContext(cctx, path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = MinimalEnv()
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	c.o.Logger.Info("running the update command", "argv", argv)
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("%w: %s: %v: %s", ErrCommandFailed, argv[0], err, strings.TrimSpace(tail(out.String(), 2000)))
	}
	r.Updated = true
	c.o.Logger.Info("update command succeeded; the agent restarts on the new version", "upstream", up)
	return r, nil
}

// Run checks every interval (the first check one interval after start, as the reference's
// scheduler does) until ctx ends or an update succeeded, in which case it calls updated and
// returns nil. Failed checks are logged and retried at the next interval.
func (c *Checker) Run(ctx context.Context, interval time.Duration, updated func(Result)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		r, err := c.Check(ctx)
		if err != nil {
			c.o.Logger.Error("self-update check failed", "error", err)
			continue
		}
		if r.Updated {
			updated(r)
			return nil
		}
	}
}

// lookPath resolves a command name without a slash in MinimalPath, as the command's own PATH
// would, rather than in the agent's environment.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(MinimalPath) {
		p := filepath.Join(dir, name)
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in %s", name, MinimalPath)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
