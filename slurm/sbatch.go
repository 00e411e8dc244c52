package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// ErrUnparsableJobID is returned when sbatch --parsable printed something that is not a job id.
var ErrUnparsableJobID = errors.New("Failed to parse slurm job id")

// SubmitRequest is one sbatch call.
type SubmitRequest struct {
	User User
	// Dir is the execution directory: sbatch's working directory (entered as the user), hence
	// the job's default working directory. Must be absolute.
	Dir string
	// ScriptPath, when set, is the job script file already written (as the user) and handed
	// to sbatch as an argument.
	ScriptPath string
	// Script is passed on sbatch's standard input when ScriptPath is empty, so the script
	// always exists when sbatch runs (fix of the reference's deleted temp file).
	Script []byte
	// SubmissionID names the submission in the log.
	SubmissionID int64
	// Marker (NewMarker) is added to the job's comment, after the user's own comment from the
	// script's #SBATCH lines or ExtraArgs (JoinComment), so that FindMarkedJobs can find the job
	// again after a crash. Empty adds nothing and leaves the user's comment alone.
	Marker string
	// ExtraArgs go before the script (for example "--hold" or "--partition=debug").
	ExtraArgs []string
	// JobName names the job (--job-name) unless the script's #SBATCH lines or ExtraArgs name it:
	// a script read on stdin would otherwise be named "sbatch", where sbatch <file> names the
	// job after the file. Empty adds nothing.
	JobName string
}

// SubmitResult is what sbatch --parsable printed.
type SubmitResult struct {
	JobID   int64
	Cluster string // empty unless the cluster is federated or named
}

var parsableRe = regexp.MustCompile(`^\s*(\d+)(?:[;,](.*))?\s*$`)

// ParseSbatchOutput parses sbatch --parsable output: "id", "id;cluster" (what Slurm prints) or
// "id,cluster" (what the reference accepted), with an optional trailing newline.
func ParseSbatchOutput(out string) (SubmitResult, error) {
	m := parsableRe.FindStringSubmatch(strings.TrimRight(out, "\r\n"))
	if m == nil || strings.Contains(strings.TrimRight(out, "\r\n"), "\n") {
		return SubmitResult{}, fmt.Errorf("%w from %q", ErrUnparsableJobID, out)
	}
	id, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || id <= 0 {
		return SubmitResult{}, fmt.Errorf("%w from %q", ErrUnparsableJobID, out)
	}
	return SubmitResult{JobID: id, Cluster: strings.TrimSpace(m[2])}, nil
}

// Submit runs sbatch --parsable as req.User in req.Dir. On a non-zero exit the error wraps a
// *CommandError whose message keeps sbatch's stderr verbatim. Submit does not retry: a caller
// that does not know whether an earlier call succeeded should look for the marker first
// (FindMarkedJobs).
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (SubmitResult, error) {
	if !filepath.IsAbs(req.Dir) {
		return SubmitResult{}, fmt.Errorf("submit: %w: %q", ErrRelativeDir, req.Dir)
	}
	if req.ScriptPath == "" && len(req.Script) == 0 {
		return SubmitResult{}, errors.New("submit: no job script")
	}
	args := []string{"--parsable"}
	if req.Marker != "" {
		user, extra := ScriptComment(req.Script), req.ExtraArgs
		if c, rest, ok := argsComment(extra); ok {
			user, extra = c, rest
		}
		args = append(args, "--comment="+JoinComment(user, req.Marker))
		args = append(args, extra...)
	} else {
		args = append(args, req.ExtraArgs...)
	}
	if req.JobName != "" && !argsSetJobName(req.ExtraArgs) && !ScriptSetsJobName(req.Script) {
		args = append(args, "--job-name="+req.JobName)
	}
	var stdin *bytes.Reader
	if req.ScriptPath != "" {
		args = append(args, req.ScriptPath)
	} else {
		stdin = bytes.NewReader(req.Script)
	}
	var out string
	var err error
	if stdin != nil {
		out, err = c.RunAsUser(ctx, req.User, req.Dir, stdin, c.opts.SbatchPath, args...)
	} else {
		out, err = c.RunAsUser(ctx, req.User, req.Dir, nil, c.opts.SbatchPath, args...)
	}
	if err != nil {
		return SubmitResult{}, fmt.Errorf("sbatch as %s: %w", req.User.Name, err)
	}
	res, err := ParseSbatchOutput(out)
	if err != nil {
		return SubmitResult{}, err
	}
	c.logger.InfoContext(ctx, "submitted slurm job", "job_id", res.JobID, "user", req.User.Name,
		"submission_id", req.SubmissionID, "dir", req.Dir)
	return res, nil
}
