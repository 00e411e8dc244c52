package slurm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// AccountingMode is how finished jobs that slurmctld no longer holds (older than MinJobAge) are
// looked up with sacct.
type AccountingMode int

const (
	// AccountingAuto (the zero value) probes once which of the modes below works, on the first
	// lookup that needs it, and keeps the answer.
	AccountingAuto AccountingMode = iota
	// AccountingJSON reads slurmdbd through sacct --json (Slurm 21.08 and later with slurmdbd).
	AccountingJSON
	// AccountingParsable reads slurmdbd through sacct -X -P (slurmdbd without the openapi plugin).
	AccountingParsable
	// AccountingJobComp reads the job completion file through sacct -c -P (no slurmdbd,
	// JobCompType=jobcomp/filetxt). The file has no job comments.
	AccountingJobComp
	// AccountingNone: no accounting source; ids slurmctld does not hold are UNKNOWN.
	AccountingNone
)

func (m AccountingMode) String() string {
	switch m {
	case AccountingAuto:
		return "auto"
	case AccountingJSON:
		return "sacct-json"
	case AccountingParsable:
		return "sacct-parsable"
	case AccountingJobComp:
		return "sacct-jobcomp"
	case AccountingNone:
		return "none"
	}
	return fmt.Sprintf("AccountingMode(%d)", int(m))
}

// ErrAccountingUnavailable is wrapped by errors of a sacct lookup that could not be done now
// (slurmdbd unreachable, sacct failing for an unexpected reason). The ids concerned are left out
// of JobStates' map rather than reported UNKNOWN, which the API would take as the job's end.
var ErrAccountingUnavailable = errors.New("slurm accounting unavailable")

// ErrCommentsNotRecorded is wrapped by FindMarkedJobs' error when the accounting source
// cannot be searched for the submission marker: the jobcomp file has no comments, slurmdbd keeps
// them only with AccountingStoreFlags=job_comment, and without accounting there is nothing to
// search. The caller cannot conclude that no job was submitted for a job older than MinJobAge.
var ErrCommentsNotRecorded = errors.New("slurm accounting does not record job comments")

// AccountingError is a failed sacct lookup of some job ids. It matches ErrAccountingUnavailable
// with errors.Is.
type AccountingError struct {
	IDs []int64
	Err error
}

func (e *AccountingError) Error() string {
	return fmt.Sprintf("sacct lookup of jobs %v: %v", e.IDs, e.Err)
}
func (e *AccountingError) Unwrap() error        { return e.Err }
func (e *AccountingError) Is(target error) bool { return target == ErrAccountingUnavailable }

// accountingProbe caches the detected mode. The zero value has not probed yet.
type accountingProbe struct {
	mu       sync.Mutex
	mode     AccountingMode
	comments bool // slurmdbd stores job comments (AccountingStoreFlags has job_comment)
}

// sacct messages that decide the mode.
const (
	msgStorageDisabled = "accounting storage is disabled"
	msgJobCompDisabled = "job completion is disabled"
)

// AccountingMode returns the accounting source used for jobs slurmctld no longer holds: the
// configured one, or the result of a probe run once (concurrent callers wait for the same probe).
// A probe that fails for a reason that may pass (slurmdbd down) is not cached and returns an error
// wrapping ErrAccountingUnavailable; the next call probes again.
func (c *Client) AccountingMode(ctx context.Context) (AccountingMode, error) {
	mode, _, err := c.accounting(ctx)
	return mode, err
}

func (c *Client) accounting(ctx context.Context) (AccountingMode, bool, error) {
	c.acct.mu.Lock()
	defer c.acct.mu.Unlock()
	if c.acct.mode != AccountingAuto {
		return c.acct.mode, c.acct.comments, nil
	}
	mode := c.opts.Accounting
	if mode == AccountingAuto {
		var err error
		mode, err = c.probeAccounting(ctx)
		if err != nil {
			return AccountingAuto, false, err
		}
	}
	comments := false
	if mode == AccountingJSON || mode == AccountingParsable {
		comments = c.storesComments(ctx)
	}
	c.acct.mode, c.acct.comments = mode, comments
	c.logger.InfoContext(ctx, "slurm accounting source", "mode", mode.String(), "job_comments", comments)
	return mode, comments, nil
}

// forgetAccounting drops the cached mode when sacct says the configuration changed under us
// (for example slurmdbd was turned off), so the next lookup probes again. A configured mode is
// kept.
func (c *Client) forgetAccounting(err error) {
	var ce *CommandError
	if !errors.As(err, &ce) || c.opts.Accounting != AccountingAuto {
		return
	}
	msg := strings.ToLower(ce.Stderr + ce.Stdout)
	if strings.Contains(msg, msgStorageDisabled) || strings.Contains(msg, msgJobCompDisabled) ||
		strings.Contains(msg, "not configured with slurmdbd") {
		c.acct.mu.Lock()
		c.acct.mode = AccountingAuto
		c.acct.mu.Unlock()
	}
}

// probeAccounting finds the first source that answers: sacct --json, sacct -P (slurmdbd),
// sacct -c (jobcomp file), else none. Each probe asks for job id 1 so that it reads almost nothing.
func (c *Client) probeAccounting(ctx context.Context) (AccountingMode, error) {
	out, err := c.runAsAgent(ctx, c.opts.SacctPath, "--json", "-X", "-j", "1")
	if err == nil {
		if _, perr := ParseSacctJSON([]byte(out), nil); perr == nil {
			return AccountingJSON, nil
		}
	}
	msg, missing := probeMessage(err)
	if missing {
		c.logger.WarnContext(ctx, "sacct cannot run: jobs that left slurmctld will be UNKNOWN", "path", c.opts.SacctPath, "error", err)
		return AccountingNone, nil
	}
	if !strings.Contains(msg, msgStorageDisabled) {
		// slurmdbd is configured: sacct without --json (no openapi plugin, or old Slurm).
		_, perr := c.runAsAgent(ctx, c.opts.SacctPath, "-X", "-P", "-n", "-j", "1", "-o", "JobIDRaw")
		if perr == nil {
			return AccountingParsable, nil
		}
		pmsg, _ := probeMessage(perr)
		if !strings.Contains(pmsg, msgStorageDisabled) {
			return AccountingAuto, &AccountingError{Err: fmt.Errorf("%w: probe sacct: %w", ErrAccountingUnavailable, perr)}
		}
	}
	_, err = c.runAsAgent(ctx, c.opts.SacctPath, "-c", "-P", "-n", "-j", "1", "-o", "JobIDRaw")
	if err == nil {
		return AccountingJobComp, nil
	}
	if msg, _ := probeMessage(err); strings.Contains(msg, msgJobCompDisabled) {
		return AccountingNone, nil
	}
	return AccountingAuto, &AccountingError{Err: fmt.Errorf("%w: probe sacct -c: %w", ErrAccountingUnavailable, err)}
}

// probeMessage returns the lower-cased output of a failed sacct and whether sacct could not be
// started at all (not installed).
func probeMessage(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	var ce *CommandError
	if errors.As(err, &ce) {
		return strings.ToLower(ce.Stderr + ce.Stdout), false
	}
	return strings.ToLower(err.Error()), errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission)
}

// storesComments reports whether slurmdbd keeps job comments (AccountingStoreFlags=job_comment
// in scontrol show config). On any failure it answers false, the safe side for searches.
func (c *Client) storesComments(ctx context.Context) bool {
	out, err := c.runAsAgent(ctx, c.opts.ScontrolPath, "show", "config")
	if err != nil {
		c.logger.WarnContext(ctx, "scontrol show config failed; assuming job comments are not in accounting", "error", err)
		return false
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "AccountingStoreFlags" {
			return strings.Contains(strings.ToLower(v), "job_comment")
		}
	}
	return false
}
