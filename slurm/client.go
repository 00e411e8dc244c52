package slurm

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// Options configure a Client. Zero values take the defaults shown.
type Options struct {
	SbatchPath   string // default /usr/bin/sbatch
	SqueuePath   string // default /usr/bin/squeue
	ScontrolPath string // default /usr/bin/scontrol
	ScancelPath  string // default /usr/bin/scancel
	SacctPath    string // default /usr/bin/sacct

	// Accounting is where jobs slurmctld no longer holds (finished more than MinJobAge ago) are
	// looked up. AccountingAuto, the default, probes once (sacct --json, sacct -P, sacct -c).
	Accounting AccountingMode

	// GetExtraGroups gives commands run as a user the user's supplementary groups; otherwise
	// they get exactly the primary group.
	GetExtraGroups bool
	// AllowRoot permits running commands as uid 0. Off by default: a submission mapped to root
	// is refused with ErrRootUser.
	AllowRoot bool
	// UserEnv is added to PATH=/usr/bin:/bin in the environment of commands run as a user (for
	// example "SLURM_CONF=/etc/slurm-alt/slurm.conf"). Empty by default.
	UserEnv []string
	// AgentEnv is the environment of commands run as the agent, before Slurm's input variables
	// are removed. Nil means os.Environ().
	AgentEnv []string
	// StateSessions is how many long-lived scontrol processes read single job states (see
	// JobState); 0, the default, starts one scontrol per read. Sessions only save process
	// start-up: whatever they cannot answer cleanly is read with a scontrol of its own.
	StateSessions int
	// LocalReads lets single-job state reads skip Slurm's federation lookup: the client asks
	// slurmctld itself at most once an hour (scontrol show federation) and, while the cluster
	// is in no federation, passes --local, which gives the same answer with one slurmctld
	// request less per read (see federation.go). Off by default: plain scontrol show job.
	LocalReads bool

	// SlurmVersion, when set (for example "24.11"), is the version of the Slurm commands;
	// empty, the default, reads it with scontrol --version at most once an hour. It decides the
	// form of job records (JSON from 23.02 on, Key=Value pairs before).
	SlurmVersion string

	Logger *slog.Logger // default: discards
}

// Client runs Slurm commands. It is safe for concurrent use; its only mutable state is the
// accounting mode, probed once and cached (see AccountingMode), and the pool of state-reading
// scontrol sessions (see Options.StateSessions), ended by Close.
type Client struct {
	opts   Options
	logger *slog.Logger
	acct   *accountingProbe
	states *scontrolPool // nil without sessions
	// listings holds one token per owner listing (FindMarkedJobs) that may run at once.
	listings chan struct{}
	fed      federationProbe
	config   configProbe
}

// New checks the options (program paths must be absolute) and returns a Client. The programs
// are not required to exist yet: a missing program fails the call that needs it.
func New(opts Options) (*Client, error) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&opts.SbatchPath, "/usr/bin/sbatch")
	def(&opts.SqueuePath, "/usr/bin/squeue")
	def(&opts.ScontrolPath, "/usr/bin/scontrol")
	def(&opts.ScancelPath, "/usr/bin/scancel")
	def(&opts.SacctPath, "/usr/bin/sacct")
	for name, p := range map[string]string{
		"sbatch": opts.SbatchPath, "squeue": opts.SqueuePath,
		"scontrol": opts.ScontrolPath, "scancel": opts.ScancelPath, "sacct": opts.SacctPath,
	} {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("%s path must be absolute: %q", name, p)
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = logging.Discard()
	}
	if opts.Accounting < AccountingAuto || opts.Accounting > AccountingNone {
		return nil, fmt.Errorf("unknown accounting mode %d", int(opts.Accounting))
	}
	if opts.SlurmVersion != "" {
		if _, err := ParseVersion(opts.SlurmVersion); err != nil {
			return nil, fmt.Errorf("slurm version: %w", err)
		}
	}
	if opts.StateSessions < 0 {
		return nil, fmt.Errorf("state sessions must not be negative: %d", opts.StateSessions)
	}
	c := &Client{opts: opts, logger: logger, acct: &accountingProbe{}, listings: make(chan struct{}, maxConcurrentListings)}
	if opts.StateSessions > 0 {
		c.states = newScontrolPool(opts.ScontrolPath, c.agentEnviron(), opts.StateSessions, logger)
		c.states.flags = func(wait bool) []string { return c.stateReadFlags(context.Background(), wait) }
	}
	return c, nil
}

// Close ends the state-reading scontrol sessions (a read still running ends its session when
// it is done). The client stays usable: later reads start their own scontrol.
func (c *Client) Close() error {
	if c.states != nil {
		c.states.close()
	}
	return nil
}

// agentEnviron is the environment of commands run as the agent.
func (c *Client) agentEnviron() []string {
	env := c.opts.AgentEnv
	if env == nil {
		env = os.Environ()
	}
	return agentEnv(env)
}

// LookupUser resolves a local user with the client's group and root options.
func (c *Client) LookupUser(name string) (User, error) {
	return LookupUser(name, UserOptions{GetExtraGroups: c.opts.GetExtraGroups, AllowRoot: c.opts.AllowRoot})
}

// RunAsUser runs program (a bare name is looked up in /usr/bin:/bin) as u with an empty
// environment plus PATH and the configured UserEnv, no shell, entering dir (if not empty) after
// the identity switch. It returns the standard output. A uid 0 user is refused unless AllowRoot.
func (c *Client) RunAsUser(ctx context.Context, u User, dir string, stdin io.Reader, program string, args ...string) (string, error) {
	return c.runAsUser(ctx, u, dir, stdin, nil, program, args...)
}

func (c *Client) runAsUser(ctx context.Context, u User, dir string, stdin io.Reader, stdout io.Writer, program string, args ...string) (string, error) {
	if u.UID == 0 && !c.opts.AllowRoot {
		return "", fmt.Errorf("run %s as %q: %w", program, u.Name, ErrRootUser)
	}
	path, err := resolveUserProgram(program)
	if err != nil {
		return "", err
	}
	env := append([]string{UserPath}, c.opts.UserEnv...)
	return run(ctx, runSpec{user: &u, env: env, dir: dir, stdin: stdin, stdout: stdout, path: path, args: args})
}

// runAsAgent runs program with the agent's identity and its environment minus Slurm's input
// variables.
func (c *Client) runAsAgent(ctx context.Context, program string, args ...string) (string, error) {
	return run(ctx, runSpec{env: c.agentEnviron(), path: program, args: args})
}

// runAsAgentStream is runAsAgent with the standard output handed to consume as it is written.
func (c *Client) runAsAgentStream(ctx context.Context, consume func(io.Reader) error, program string, args ...string) (string, error) {
	return run(ctx, runSpec{env: c.agentEnviron(), path: program, args: args, consume: consume})
}
