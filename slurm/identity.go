package slurm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MarkerPrefix starts the marker every job this agent submits carries in its comment:
// "jobbergate-submission:<submission id>:<32 hex digits>" (NewMarker). Jobs submitted by earlier
// versions carry "jobbergate-submission:<submission id>" alone (LegacyMarker).
const MarkerPrefix = "jobbergate-submission:"

// markerTokenBytes is the random part of a marker: 128 bits, which nobody guesses.
const markerTokenBytes = 16

// NewMarker returns a fresh marker for one claim of a submission. It cannot collide with the
// marker of another claim, another run against the same Slurm or another Jobbergate instance
// on the cluster, and nobody can write it into a job before the claim's own sbatch ran.
func NewMarker(submissionID int64) (string, error) {
	b := make([]byte, markerTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make submission marker: %w", err)
	}
	return LegacyMarker(submissionID) + ":" + hex.EncodeToString(b), nil
}

// LegacyMarker is the marker of submission id's jobs submitted by versions of the agent before
// random markers: the same for every claim of the submission.
func LegacyMarker(submissionID int64) string {
	return MarkerPrefix + strconv.FormatInt(submissionID, 10)
}

// CommentHasMarker reports whether a job comment carries marker as one of its
// white-space-separated words (the job's comment is the user's own comment, if any, followed by
// the marker: JoinComment).
func CommentHasMarker(comment, marker string) bool {
	if marker == "" {
		return false
	}
	for _, w := range strings.Fields(comment) {
		if w == marker {
			return true
		}
	}
	return false
}

// MarkersOf returns the words of comment that are markers of submission id (this claim's or
// earlier ones), so that a job left by an earlier claim can be named in the log.
func MarkersOf(comment string, submissionID int64) []string {
	legacy := LegacyMarker(submissionID)
	var out []string
	for _, w := range strings.Fields(comment) {
		if w == legacy || strings.HasPrefix(w, legacy+":") {
			out = append(out, w)
		}
	}
	return out
}

// JoinComment is the --comment of a submitted job: the user's own comment (from the script's
// #SBATCH lines or arguments) followed by the marker, so that both are kept.
func JoinComment(user, marker string) string {
	user = strings.TrimSpace(user)
	if user == "" {
		return marker
	}
	if marker == "" {
		return user
	}
	return user + " " + marker
}

// ErrForeignJob is wrapped by a *ForeignJobError: a job id that is not the job of the
// submission it was given for (another user's job, or a job without the claim's marker).
var ErrForeignJob = errors.New("slurm job does not belong to the submission")

// ForeignJobError is a job that failed the identity check of a submission: Reason says which
// part (owner or marker). It matches ErrForeignJob with errors.Is. Its message names ids, uids
// and the marker check only, never the job's other data.
type ForeignJobError struct {
	JobID  int64
	Owner  string // the submission's mapped owner, name(uid)
	Reason string
}

func (e *ForeignJobError) Error() string {
	return fmt.Sprintf("slurm job %d is not a job of %s: %s", e.JobID, e.Owner, e.Reason)
}

func (e *ForeignJobError) Is(target error) bool { return target == ErrForeignJob }

// Identity is what makes a Slurm job the job of one submission's claim: the mapped owner, the
// claim's marker (empty: no marker required, for jobs submitted before markers existed) and
// the claim's time (zero: no bound).
type Identity struct {
	Owner  User
	Marker string
	// Since is the claim's time: a job submitted before it (less SubmitSkew, for the clocks of
	// the login node and slurmctld) belongs to an earlier claim.
	Since time.Time
}

// SubmitSkew is how far slurmctld's clock may be behind the agent's when a job's submit time
// is compared with its claim's time.
const SubmitSkew = 2 * time.Minute

// Check returns nil when j is the identity's job: owned by its owner (by uid where Slurm printed
// one unambiguously, else by user name), carrying its marker when it has one, and submitted not
// before Since (where Slurm shows the submit time). Otherwise a *ForeignJobError.
func (id Identity) Check(j JobData) error {
	owner := fmt.Sprintf("%s(%d)", id.Owner.Name, id.Owner.UID)
	fail := func(format string, args ...any) error {
		return &ForeignJobError{JobID: j.JobID, Owner: owner, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case j.UserID >= 0:
		if j.UserID != int64(id.Owner.UID) {
			return fail("owned by uid %d", j.UserID)
		}
	case j.UserName != "":
		if j.UserName != id.Owner.Name {
			return fail("owned by user %q", j.UserName)
		}
	default:
		return fail("Slurm did not show its owner unambiguously")
	}
	if id.Marker != "" && !CommentHasMarker(j.Comment, id.Marker) {
		return fail("its comment does not carry this claim's marker")
	}
	if !id.Since.IsZero() && !j.SubmitTime.IsZero() && j.SubmitTime.Before(id.Since.Add(-SubmitSkew)) {
		return fail("submitted at %s, before the claim of %s", j.SubmitTime.UTC().Format(time.RFC3339), id.Since.UTC().Format(time.RFC3339))
	}
	return nil
}

// CheckOwner is Check of the owner alone (jobs whose marker is not known, such as jobs
// submitted by the Python agent).
func (id Identity) CheckOwner(j JobData) error {
	return Identity{Owner: id.Owner}.Check(j)
}

// MarkedSubmission returns the submission id named by the first marker in a job comment; ok is
// false when the comment has none. It says which submission a job claims to be for, not that
// it is: only Identity.Check says that.
func MarkedSubmission(comment string) (id int64, ok bool) {
	for _, w := range strings.Fields(comment) {
		rest, found := strings.CutPrefix(w, MarkerPrefix)
		if !found {
			continue
		}
		num, _, _ := strings.Cut(rest, ":")
		if n, err := strconv.ParseInt(num, 10, 64); err == nil && n > 0 {
			return n, true
		}
	}
	return 0, false
}
