package slurm

import (
	"context"
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
	// federationRecheck is how long an answer is trusted (a cluster joining a federation is
	// seen within that time; a state session keeps the flags it started with, and sessions
	// retire after sessionMaxAge).
	federationRecheck = time.Hour
	// federationRetry is how long a failed check is trusted: reads are plain meanwhile.
	federationRetry = time.Minute
	// federationTimeout bounds one check.
	federationTimeout = 15 * time.Second
)

// federationProbe caches whether the cluster is outside any federation. Safe for concurrent
// use; one check runs at a time and callers meanwhile get the previous answer.
type federationProbe struct {
	mu       sync.Mutex
	local    bool      // the last answer: no federation
	until    time.Time // the answer is trusted until then
	checking bool
	known    bool // an answer was logged (changes are logged once)
}

// localReads reports whether single-job reads may pass --local, checking with check when the
// cached answer is stale. check returns true when the cluster is in no federation.
func (p *federationProbe) localReads(ctx context.Context, check func(context.Context) (bool, error), onChange func(local bool, err error)) bool {
	p.mu.Lock()
	if p.checking || time.Now().Before(p.until) {
		local := p.local
		p.mu.Unlock()
		return local
	}
	p.checking = true
	p.mu.Unlock()

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), federationTimeout)
	local, err := check(cctx)
	cancel()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.checking = false
	wait := federationRecheck
	if err != nil {
		local, wait = false, federationRetry
	}
	if !p.known || local != p.local || err != nil {
		onChange(local, err)
	}
	p.known = err == nil
	p.local, p.until = local, time.Now().Add(wait)
	return local
}

// stateReadFlags returns the extra flags of single-job scontrol reads: --local when
// Options.LocalReads is set and the cluster is in no federation, else none.
func (c *Client) stateReadFlags(ctx context.Context) []string {
	if !c.opts.LocalReads {
		return nil
	}
	if c.fed.localReads(ctx, c.outsideFederation, c.logFederation) {
		return []string{"--local"}
	}
	return nil
}

// outsideFederation runs scontrol show federation as the agent: it prints the federation
// ("Federation: <name>" and its clusters) when the cluster is in one, and nothing otherwise.
func (c *Client) outsideFederation(ctx context.Context) (bool, error) {
	out, err := c.runAsAgent(ctx, c.opts.ScontrolPath, "show", "federation")
	if err != nil {
		return false, err
	}
	return !inFederation(out), nil
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
		c.logger.Warn("could not tell whether the cluster is in a Slurm federation; job state reads ask slurmctld each time",
			"error", err, "retry_in", federationRetry)
	case local:
		c.logger.Info("cluster is in no Slurm federation: job state reads pass --local (one slurmctld request per read instead of two)")
	default:
		c.logger.Info("cluster is in a Slurm federation: job state reads ask slurmctld for the federation each time")
	}
}
