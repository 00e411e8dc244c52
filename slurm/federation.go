package slurm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Without --local, every scontrol show job first asks slurmctld which federation the cluster
// belongs to (REQUEST_FED_INFO, an RPC authenticated with munge that costs about as much as the
// job read itself) and, when it belongs to none, reads the local cluster only. With
// Options.LocalReads the client asks that question itself, at most once per
// federationRecheck, and passes --local to single-job reads while the answer is "none": the
// same answer for one RPC less per read. In a federation, or when the question cannot be
// answered, reads stay as scontrol makes them.
const (
	// federationRecheck is how long an answer is trusted: a cluster joining a federation is
	// seen within that time (state sessions started with other flags are then replaced).
	federationRecheck = time.Hour
	// federationRetry is how long a failed check is trusted: reads are plain meanwhile.
	federationRetry = time.Minute
	// federationTimeout bounds one check.
	federationTimeout = 30 * time.Second
)

// errControllerDown is a federation check whose answer cannot be trusted: scontrol show
// federation prints nothing, and exits 0, both when there is no federation and when slurmctld
// cannot be reached, so the check pings the controllers after it.
var errControllerDown = errors.New("scontrol ping reports a slurmctld down")

// federationProbe caches whether the cluster is outside any federation. Safe for concurrent
// use. Checks run in the background, one at a time: until the first one has answered, callers
// that ask to wait do so; afterwards every caller gets the cached answer at once, and a stale
// one is refreshed behind them.
type federationProbe struct {
	mu       sync.Mutex
	local    bool      // the last answer: no federation
	until    time.Time // the answer is trusted until then
	checking bool
	answered chan struct{} // closed once the first check has answered
	failing  bool          // the last check failed (a failure is logged once)
	logged   bool          // an answer was logged (then only changes are)
}

// localReads reports whether single-job reads may pass --local, starting a check in the
// background when the cached answer is stale. With wait, a caller that comes before the first
// answer waits for it (until ctx is done, then plain reads). check returns true when the
// cluster is in no federation; report is told about changes and failures.
func (p *federationProbe) localReads(ctx context.Context, wait bool, check func(context.Context) (bool, error), report func(local bool, err error)) bool {
	p.mu.Lock()
	if p.answered == nil {
		p.answered = make(chan struct{})
	}
	answered := p.answered
	if !p.checking && !time.Now().Before(p.until) {
		p.checking = true
		go p.run(check, report)
	}
	local := p.local
	p.mu.Unlock()
	if !wait {
		return local
	}
	select {
	case <-answered:
	case <-ctx.Done():
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.local
}

// run performs one check and records its answer.
func (p *federationProbe) run(check func(context.Context) (bool, error), report func(local bool, err error)) {
	ctx, cancel := context.WithTimeout(context.Background(), federationTimeout)
	local, err := check(ctx)
	cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checking = false
	wait := federationRecheck
	if err != nil {
		local, wait = false, federationRetry
	}
	if (err != nil && !p.failing) || (err == nil && (!p.logged || p.failing || local != p.local)) {
		report(local, err)
	}
	p.failing, p.logged = err != nil, p.logged || err == nil
	p.local, p.until = local, time.Now().Add(wait)
	select {
	case <-p.answered:
	default:
		close(p.answered)
	}
}

// stateReadFlags returns the extra flags of single-job scontrol reads: --json where job records
// are read as JSON (jsonRecords), --local when Options.LocalReads is set and the cluster is in
// no federation. With wait, a call
// before the first federation check has answered waits for it (bounded by ctx).
func (c *Client) stateReadFlags(ctx context.Context, wait bool) []string {
	var flags []string
	if c.jsonRecords(ctx) {
		flags = append(flags, "--json")
	}
	if c.opts.LocalReads && c.fed.localReads(ctx, wait, c.outsideFederation, c.logFederation) {
		flags = append(flags, "--local")
	}
	return flags
}

// outsideFederation runs scontrol show federation as the agent, then scontrol ping: the first
// prints the federation ("Federation: <name>" and its clusters) when the cluster is in one and
// nothing otherwise, including when slurmctld cannot be reached; the ping, which fails then,
// tells the two apart.
func (c *Client) outsideFederation(ctx context.Context) (bool, error) {
	out, err := c.runAsAgent(ctx, c.opts.ScontrolPath, "show", "federation")
	if err != nil {
		return false, err
	}
	if inFederation(out) {
		return false, nil
	}
	if _, err := c.runAsAgent(ctx, c.opts.ScontrolPath, "ping"); err != nil {
		return false, fmt.Errorf("%w: %w", errControllerDown, err)
	}
	return true, nil
}

// inFederation reports whether scontrol show federation output names a federation.
func inFederation(out string) bool {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(strings.TrimSpace(line), "Federation:") {
			return true
		}
	}
	return false
}

func (c *Client) logFederation(local bool, err error) {
	switch {
	case err != nil:
		c.logger.Warn("could not tell whether the cluster is in a Slurm federation; job state reads ask slurmctld each time until a check succeeds",
			"error", err, "retry_every", federationRetry)
	case local:
		c.logger.Info("cluster is in no Slurm federation: job state reads pass --local (one slurmctld request per read instead of two)")
	default:
		c.logger.Info("cluster is in a Slurm federation: job state reads ask slurmctld for the federation each time")
	}
}
