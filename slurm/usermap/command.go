package usermap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// Defaults of CommandConfig.
const (
	DefaultCommandTimeout          = 10 * time.Second
	DefaultCommandNotFoundExitCode = 2
	DefaultCommandPath             = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	maxCommandOutput               = 4096
	// maxCachedNames bounds the cache; past it expired entries go, then all of them.
	maxCachedNames = 100_000
)

// CommandConfig configures command-mapper.
type CommandConfig struct {
	// Program is the absolute path of the site program (required). It is run directly, without
	// a shell, as argv [Program, email], in "/", with an environment holding only PATH, and
	// with the agent's identity. The e-mail is always a plain address (CheckPlainEmail): no
	// quotes, spaces, shell metacharacters or leading '-'.
	Program string
	// Timeout bounds one run (0: 10 s); the program's whole process group is killed after it.
	Timeout time.Duration
	// NotFoundExitCode is the exit status meaning "no user for this e-mail" (0: 2).
	NotFoundExitCode int
	// Path is the PATH given to the program ("": DefaultCommandPath).
	Path string
	// CacheTTL is how long a user name the program gave is reused for the same e-mail without
	// running it again (0: every lookup runs the program). "No user" answers and failures are
	// never cached, so a user added at the site is found on the next lookup.
	CacheTTL time.Duration
}

// Command is command-mapper: it asks a site program for the user name.
//
// The program's answers: exit 0 with one valid user name on stdout (surrounding white space
// ignored) -> that name; exit NotFoundExitCode, or exit 0 with empty output, or output that is
// not exactly one valid user name -> a not-found error (its first stderr line is in the
// detail). Any other exit status, a signal, a timeout or a failure to start -> transient error.
// Output beyond 4 KiB is cut. User names found are kept for CacheTTL (in memory). Safe for
// concurrent use (with a cache, lookups of one e-mail that miss it at the same time share one
// process; without, one process per lookup).
type Command struct {
	cfg    CommandConfig
	logger *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	cache  map[string]cachedName
	flight singleflight.Group // one run per e-mail at a time when caching
}

type cachedName struct {
	name    string
	expires time.Time
}

// NewCommand checks that cfg.Program is an absolute path to an executable regular file. A nil
// logger discards logs.
func NewCommand(cfg CommandConfig, logger *slog.Logger) (*Command, error) {
	if logger == nil {
		logger = logging.Discard()
	}
	if cfg.Program == "" {
		return nil, fmt.Errorf("%s: the program path is required", CommandMapperName)
	}
	if !filepath.IsAbs(cfg.Program) {
		return nil, fmt.Errorf("%s: program %q is not an absolute path", CommandMapperName, cfg.Program)
	}
	fi, err := os.Stat(cfg.Program)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CommandMapperName, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("%s: %s is not an executable file", CommandMapperName, cfg.Program)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultCommandTimeout
	}
	if cfg.NotFoundExitCode == 0 {
		cfg.NotFoundExitCode = DefaultCommandNotFoundExitCode
	}
	if cfg.Path == "" {
		cfg.Path = DefaultCommandPath
	}
	return &Command{cfg: cfg, logger: logger, now: time.Now, cache: map[string]cachedName{}}, nil
}

func (c *Command) cached(email string) (string, bool) {
	if c.cfg.CacheTTL <= 0 {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cache[email]
	if !ok || !c.now().Before(e.expires) {
		return "", false
	}
	return e.name, true
}

func (c *Command) remember(email, name string) {
	if c.cfg.CacheTTL <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.cache) >= maxCachedNames {
		for k, e := range c.cache {
			if !now.Before(e.expires) {
				delete(c.cache, k)
			}
		}
		if len(c.cache) >= maxCachedNames {
			clear(c.cache)
		}
	}
	c.cache[email] = cachedName{name: name, expires: now.Add(c.cfg.CacheTTL)}
}

// Username runs the program for email (unless the cache answers); see Command for the answers.
// Only plain addresses (CheckPlainEmail) reach the program; any other is a not-found error.
func (c *Command) Username(ctx context.Context, email string) (string, error) {
	if err := CheckPlainEmail(email); err != nil {
		return "", err
	}
	if name, ok := c.cached(email); ok {
		return name, nil
	}
	if c.cfg.CacheTTL <= 0 {
		return c.run(ctx, email)
	}
	// Lookups of the same e-mail that miss the cache together (a burst of one user's
	// submissions) share one run. It runs detached from any one caller's ctx (bounded by the
	// program timeout), so a caller that gives up does not fail the others.
	ch := c.flight.DoChan(email, func() (any, error) {
		name, err := c.run(context.WithoutCancel(ctx), email)
		if err == nil {
			c.remember(email, name)
		}
		return name, err
	})
	select {
	case r := <-ch:
		name, _ := r.Val.(string)
		return name, r.Err
	case <-ctx.Done():
		return "", fmt.Errorf("user mapper command %s for email=%s: %w", c.cfg.Program, email, ctx.Err())
	}
}

func (c *Command) run(ctx context.Context, email string) (string, error) {
	// Checked again right before the program sees it, whatever path led here.
	if err := CheckPlainEmail(email); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	var stdout, stderr cappedBuffer
	stdout.max, stderr.max = maxCommandOutput, maxCommandOutput
	cmd := exec.CommandContext(ctx, c.cfg.Program, email)
	cmd.Env = []string{"PATH=" + c.cfg.Path}
	cmd.Dir = "/"
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Kill the whole group so that children holding the pipes die too.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second

	start := time.Now()
	err := cmd.Run()
	c.logger.DebugContext(ctx, "user mapper command ran", "program", c.cfg.Program, "email", email,
		"elapsed", time.Since(start), "err", err)
	detail := firstLine(stderr.String())
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", fmt.Errorf("user mapper command %s for email=%s: %w", c.cfg.Program, email, ctxErr)
		}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && exitErr.ExitCode() == c.cfg.NotFoundExitCode {
			return "", NotFoundf("user mapper command found no user for email=%s: %s", email, detail)
		}
		return "", fmt.Errorf("user mapper command %s for email=%s: %w (stderr: %s)", c.cfg.Program, email, err, detail)
	}
	out := strings.TrimSpace(stdout.String())
	switch {
	case out == "":
		return "", NotFoundf("user mapper command printed no user for email=%s", email)
	case stdout.truncated || strings.ContainsAny(out, " \t\r\n"):
		return "", NotFoundf("user mapper command printed more than one user name for email=%s", email)
	}
	return checkResult(email, out)
}

// firstLine returns the first non-empty line of s, at most 200 bytes, for error details.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if len(l) > 200 {
				l = l[:200] + "..."
			}
			return l
		}
	}
	return "no message"
}

// cappedBuffer keeps the first max bytes written and drops the rest (without failing the
// writer, so that the program is not killed by SIGPIPE).
type cappedBuffer struct {
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room < len(p) {
		b.truncated = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *cappedBuffer) String() string { return b.buf.String() }
