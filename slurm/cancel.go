package slurm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// endedJob are scancel's messages for a job that already ended or that slurmctld no longer
// holds: nothing is left to cancel, which is not an error.
var endedJob = []string{"Invalid job id specified", "Job/step already completing or completed"}

// cancelled maps scancel's outcome: a job that ended or left slurmctld is not an error.
func cancelled(err error) error {
	var ce *CommandError
	if errors.As(err, &ce) {
		for _, m := range endedJob {
			if strings.Contains(ce.Stderr, m) {
				return nil
			}
		}
	}
	return err
}

// Cancel runs scancel <id> as the agent. A non-zero exit (slurmctld unreachable, permission
// denied...) is returned as a wrapped *CommandError carrying scancel's message. Cancelling a job
// that already ended, or an id slurmctld does not know, is not an error (scancel exits 0 for
// them, or 1 with "Invalid job id specified" or "already completing or completed" in some
// setups), so callers read the state back to know the outcome.
func (c *Client) Cancel(ctx context.Context, id int64) error {
	if id <= 0 {
		return fmt.Errorf("scancel: invalid job id %d", id)
	}
	if _, err := c.runAsAgent(ctx, c.opts.ScancelPath, strconv.FormatInt(id, 10)); cancelled(err) != nil {
		return fmt.Errorf("scancel job %d: %w", id, err)
	}
	c.logger.InfoContext(ctx, "cancelled slurm job", "job_id", id)
	return nil
}

// CancelAs runs scancel <id> as u: Slurm refuses a job that is not u's (scancel then exits
// non-zero with "Access/permission denied", returned as a wrapped *CommandError).
func (c *Client) CancelAs(ctx context.Context, u User, id int64) error {
	if id <= 0 {
		return fmt.Errorf("scancel: invalid job id %d", id)
	}
	if _, err := c.RunAsUser(ctx, u, "/", nil, c.opts.ScancelPath, strconv.FormatInt(id, 10)); cancelled(err) != nil {
		return fmt.Errorf("scancel job %d as %s: %w", id, u.Name, err)
	}
	c.logger.InfoContext(ctx, "cancelled slurm job as its owner", "job_id", id, "user", u.Name)
	return nil
}
