package slurm

import (
	"context"
	"strconv"
	"strings"
)

// maxOwnerStates bounds the jobs one OwnerStates listing keeps (a user with more jobs than that
// in slurmctld gets the first ones; the others are read singly).
const maxOwnerStates = 200_000

// JobStatus is a job's state and reason as squeue lists them (%T and %r).
type JobStatus struct {
	State, Reason string
}

// OwnerStates lists the state and reason of every job of the user uid that slurmctld holds, in
// every state, with one squeue call (squeue -h --states=all --user=<uid> --format=%i|%T|%r): the
// controller filters by user (one REQUEST_JOB_USER_INFO), and squeue prints three short fields
// per job, so its cost on the login node follows the owner's jobs, not the cluster's. Array
// tasks and lines that are not "id|state|reason" are skipped. It is meant to tell which jobs
// changed since they were last read: the fields come from Slurm, not from text the owner wrote,
// but a job missing from the listing is not thereby gone (it may be newer than the listing).
// Like FindMarkedJobs' listings, at most two run at once per Client.
func (c *Client) OwnerStates(ctx context.Context, uid uint32) (map[int64]JobStatus, error) {
	res := map[int64]JobStatus{}
	err := c.listOwnerJobs(ctx, uid, "%i|%T|%r", 1024, func(line string) {
		if id, st, ok := parseStatusLine(line); ok && len(res) < maxOwnerStates {
			res[id] = st
		}
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// parseStatusLine reads one "id|state|reason" line of OwnerStates' listing.
func parseStatusLine(line string) (int64, JobStatus, bool) {
	idText, rest, ok := strings.Cut(line, "|")
	if !ok {
		return 0, JobStatus{}, false
	}
	state, reason, ok := strings.Cut(rest, "|")
	id, err := strconv.ParseInt(strings.TrimSpace(idText), 10, 64)
	if !ok || err != nil || id <= 0 || state == "" {
		return 0, JobStatus{}, false
	}
	return id, JobStatus{State: strings.TrimSpace(state), Reason: strings.TrimSpace(reason)}, true
}
