package slurm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

const (
	// maxMarkedCandidates bounds the jobs of one owner whose comment carries the marker that
	// are read singly: more can only be the owner's own copies of it.
	maxMarkedCandidates = 16
	// maxListingLine bounds one line of the owner's job listing (a job comment can be long);
	// the rest of a longer line is dropped.
	maxListingLine = 64 << 10
	// heldMargin is kept between a claim's age and MinJobAge before "slurmctld does not hold a
	// job of the claim" is taken as "there is none".
	heldMargin = 30 * time.Second
	// maxConcurrentListings bounds the owner listings of FindMarkedJobs running at once (per
	// Client): after a crash every in-flight submission is reconciled at the same moment, and
	// an owner with many jobs makes each listing a sizeable read.
	maxConcurrentListings = 2
)

// ErrNotSure is wrapped by FindMarkedJobs' error when no job was found but one may exist where
// it cannot look: the claim is older than slurmctld keeps finished jobs (MinJobAge) and
// accounting cannot be searched for the marker (ErrCommentsNotRecorded), or MinJobAge could
// not be read. The caller must not submit again on that answer.
var ErrNotSure = errors.New("cannot tell whether the submission's job exists")

// MarkedJobs is what FindMarkedJobs found.
type MarkedJobs struct {
	// Jobs passed Identity.Check: normally one.
	Jobs []JobData
	// Earlier are jobs of the owner that carry another marker of the same submission: jobs of
	// an earlier claim, another run against this Slurm or another Jobbergate instance. They are
	// never the claim's job; callers name them in the log.
	Earlier []int64
	// Refused are jobs whose comment carries the marker but that failed Identity.Check when
	// read singly (a listing line forged by another job's comment); never the claim's job.
	Refused []error
}

// FindMarkedJobs looks for the job of a claim of submission submissionID: a job of id.Owner
// whose comment carries id.Marker (the legacy marker when id.Marker is empty), submitted not
// before id.Since. Finished jobs count as much as pending ones, on every Slurm version.
//
// Its cost follows the owner's jobs, not the cluster's: one squeue listing of the owner's jobs
// in every state (ids and comments only), then a single-job read of each candidate, which must
// pass id.Check (so a listing line forged by text in another job's comment is never taken).
// When slurmctld holds no such job and the claim is younger than MinJobAge (less a margin),
// there is none. An older claim is searched in accounting, which must record comments;
// otherwise the error wraps ErrNotSure (and ErrCommentsNotRecorded).
func (c *Client) FindMarkedJobs(ctx context.Context, submissionID int64, id Identity) (MarkedJobs, error) {
	var res MarkedJobs
	marker := id.Marker
	if marker == "" {
		marker = LegacyMarker(submissionID)
	}
	candidates, earlier, err := c.listMarked(ctx, id.Owner.UID, submissionID, marker)
	if err != nil {
		return res, err
	}
	res.Earlier = earlier
	for _, jid := range candidates {
		j, ok, err := c.scontrolJob(ctx, jid)
		if err != nil {
			return res, err
		}
		if !ok {
			// Listed a moment ago and gone now: purged meanwhile. Look again later.
			return res, fmt.Errorf("slurm job %d of submission %d left slurmctld while being read: %w", jid, submissionID, ErrNotSure)
		}
		if err := (Identity{Owner: id.Owner, Marker: marker, Since: id.Since}).Check(j); err != nil {
			res.Refused = append(res.Refused, err)
			continue
		}
		res.Jobs = append(res.Jobs, j)
	}
	if len(res.Jobs) > 0 {
		return res, nil
	}
	minAge, err := c.MinJobAge(ctx)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrNotSure, err)
	}
	if !id.Since.IsZero() && time.Since(id.Since)+heldMargin < minAge {
		return res, nil // slurmctld still holds every job submitted since the claim
	}
	jobs, err := c.searchAccounting(ctx, submissionID, id.Owner.UID, id.Since)
	if err != nil {
		return res, err
	}
	for _, j := range jobs {
		if !CommentHasMarker(j.Comment, marker) {
			continue
		}
		if err := (Identity{Owner: id.Owner, Marker: marker, Since: id.Since}).Check(j); err != nil {
			res.Refused = append(res.Refused, err)
			continue
		}
		res.Jobs = append(res.Jobs, j)
	}
	return res, nil
}

// listMarked lists the owner's jobs slurmctld holds in every state with one squeue call (job id
// and comment) and returns the ids whose comment carries marker, and those carrying another
// marker of the submission.
func (c *Client) listMarked(ctx context.Context, uid uint32, submissionID int64, marker string) (candidates, earlier []int64, err error) {
	var tooMany bool
	err = c.listOwnerJobs(ctx, uid, "%i|%k", maxListingLine, func(line string) {
		idText, comment, _ := strings.Cut(line, "|")
		jid, perr := strconv.ParseInt(strings.TrimSpace(idText), 10, 64)
		if perr != nil || jid <= 0 {
			return
		}
		switch {
		case CommentHasMarker(comment, marker):
			if len(candidates) == maxMarkedCandidates {
				tooMany = true
			} else {
				candidates = append(candidates, jid)
			}
		case len(MarkersOf(comment, submissionID)) > 0 && len(earlier) < maxMarkedCandidates:
			earlier = append(earlier, jid)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	if tooMany {
		c.logger.WarnContext(ctx, "more jobs of the owner carry the claim's marker than are read; reading the first ones",
			"submission_id", submissionID, "limit", maxMarkedCandidates)
	}
	return candidates, earlier, nil
}

// listOwnerJobs runs squeue -h --states=all --user=<uid> --format=<format> (the controller
// filters by user) and hands each line of its output, cut at lineLimit bytes, to each as squeue
// writes it: nothing of the listing is held but what each keeps. At most maxConcurrentListings
// run at once per Client.
func (c *Client) listOwnerJobs(ctx context.Context, uid uint32, format string, lineLimit int, each func(line string)) error {
	select {
	case c.listings <- struct{}{}:
		defer func() { <-c.listings }()
	case <-ctx.Done():
		return fmt.Errorf("list slurm jobs of uid %d: %w", uid, ctx.Err())
	}
	_, err := c.runAsAgentStream(ctx, func(r io.Reader) error {
		br := bufio.NewReaderSize(r, 4096)
		for {
			line, err := readBoundedLine(br, lineLimit)
			if line != "" {
				each(line)
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}, c.opts.SqueuePath, "-h", "--states=all", "--user="+strconv.FormatUint(uint64(uid), 10), "--format="+format)
	if err != nil {
		return fmt.Errorf("list slurm jobs of uid %d: %w", uid, err)
	}
	return nil
}

// readBoundedLine reads one line without its newline, keeping at most limit bytes of it.
func readBoundedLine(br *bufio.Reader, limit int) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(b) < limit {
			b = append(b, chunk[:min(len(chunk), limit-len(b))]...)
		}
		if err != nil || !isPrefix {
			return string(b), err
		}
	}
}

// searchAccounting returns the jobs of uid submitted since the given time as accounting knows
// them, when accounting records comments; otherwise the error wraps ErrNotSure and
// ErrCommentsNotRecorded.
func (c *Client) searchAccounting(ctx context.Context, submissionID int64, uid uint32, since time.Time) ([]JobData, error) {
	mode, comments, err := c.accounting(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSure, err)
	}
	if !comments || (mode != AccountingJSON && mode != AccountingParsable) {
		return nil, fmt.Errorf("find the job of submission %d, claimed longer ago than slurmctld keeps finished jobs, in accounting (%s): %w: %w",
			submissionID, mode, ErrNotSure, ErrCommentsNotRecorded)
	}
	if since.IsZero() {
		since = time.Now().Add(-24 * time.Hour)
	}
	jobs, err := c.runSacct(ctx, mode, sacctQuery{since: since.Add(-SubmitSkew), uid: &uid}, nil)
	if err != nil { // an unreadable record might be the job
		return nil, fmt.Errorf("%w: %w", ErrNotSure, err)
	}
	return jobs, nil
}
