package slurm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// QueueJobs reads every job slurmctld holds with one command run as the agent: squeue --json,
// parsed as it streams (a queue of 10,000 jobs prints about 40 MB), or, where squeue has no
// JSON output, scontrol show job -o. A job object that cannot be read is missing from the map
// and named in the error (*JobParseError, errors.Join of them); the other jobs are returned, so
// one odd job never hides the rest. Jobs slurmctld no longer holds are not in the map: see
// ResolveGone.
func (c *Client) QueueJobs(ctx context.Context) (map[int64]JobData, error) {
	jobs, err := c.queueJobs(ctx, nil)
	if errors.Is(err, errNoSqueueJSON) {
		c.logger.WarnContext(ctx, "squeue --json unavailable, reading the queue with scontrol", "error", err)
		jobs, err = c.scontrolAll(ctx)
	}
	if jobs == nil {
		return nil, err
	}
	res := make(map[int64]JobData, len(jobs))
	for _, j := range jobs {
		res[j.JobID] = j
	}
	return res, err
}

// errNoSqueueJSON is returned by queueJobs when squeue has no JSON output (no openapi plugin).
var errNoSqueueJSON = errors.New("squeue has no JSON output")

// queueJobs returns the jobs of squeue --json that keep accepts (all when keep is nil). A nil
// slice with an error means nothing could be read; errNoSqueueJSON asks for a fallback.
func (c *Client) queueJobs(ctx context.Context, keep func(int64) bool) ([]JobData, error) {
	var jobs []JobData
	_, err := c.runAsAgentStream(ctx, func(r io.Reader) error {
		var perr error
		jobs, perr = DecodeJobsJSON(r, keep)
		return perr
	}, c.opts.SqueuePath, "--json")
	var ce *CommandError
	switch {
	case errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.Stderr), "json"):
		return nil, fmt.Errorf("%w: %w", errNoSqueueJSON, err)
	case err != nil && ce != nil:
		return nil, fmt.Errorf("squeue --json: %w", err)
	case err != nil && jobs == nil:
		return nil, fmt.Errorf("squeue --json: %w", err)
	}
	return jobs, err
}

// scontrolAll reads every job with one scontrol show job -o (all Slurm versions).
func (c *Client) scontrolAll(ctx context.Context) ([]JobData, error) {
	out, err := c.runAsAgent(ctx, c.opts.ScontrolPath, "show", "job", "-o")
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr+ce.Stdout, "No jobs in the system") {
			return []JobData{}, nil
		}
		return nil, fmt.Errorf("scontrol show job: %w", err)
	}
	jobs := []JobData{}
	var errs []error
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "No jobs in the system") {
			continue
		}
		j, err := ParseScontrolLine(line)
		if err != nil {
			errs = append(errs, &JobParseError{Err: err})
			continue
		}
		jobs = append(jobs, j)
	}
	return jobs, errors.Join(errs...)
}

// ResolveGone looks up jobs slurmctld no longer holds (finished more than MinJobAge ago, or
// never existed) with one accounting call for all of them (see AccountingMode): each id comes
// back as accounting knows it, or as UnknownJob when accounting does not know it either. When
// the lookup fails (slurmdbd down) the map holds none of them and the error is an
// *AccountingError, never a wrong UNKNOWN; an unreadable accounting record leaves its id out and
// is named in the error (*JobParseError).
func (c *Client) ResolveGone(ctx context.Context, ids []int64) (map[int64]JobData, error) {
	res := make(map[int64]JobData, len(ids))
	return res, c.resolveMissing(ctx, res, ids)
}
