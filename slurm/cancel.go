package slurm

import (
	"context"
	"fmt"
	"strconv"
)

// Cancel runs scancel <id> as the agent. A non-zero exit is returned as a wrapped *CommandError
// carrying scancel's message; cancelling a job that already ended is not an error for scancel
// on a job slurmctld still holds.
func (c *Client) Cancel(ctx context.Context, id int64) error {
	if id <= 0 {
		return fmt.Errorf("scancel: invalid job id %d", id)
	}
	if _, err := c.runAsAgent(ctx, c.opts.ScancelPath, strconv.FormatInt(id, 10)); err != nil {
		return fmt.Errorf("scancel job %d: %w", id, err)
	}
	c.logger.InfoContext(ctx, "cancelled slurm job", "job_id", id)
	return nil
}
