package submit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/jobidentity"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/backoff"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// delivery is one submit message on its way through Handle: the submission it carries and its
// logger, on the handler that runs it. Its methods are the steps of the flow.
type delivery struct {
	*Handler
	sub *jobbergate.PendingSubmission
	log *slog.Logger // the handler's logger with the submission_id
	// adm is the delivery's admission among its owner's (prepare takes it); nil before, or
	// without owner limits.
	adm *admission
}

// handle runs the flow of the package doc for one delivery: resume from the claim when there is
// one (report, re-send a rejection, reconcile), else prepare, claim, sbatch, record and report.
func (d *delivery) handle(ctx context.Context) outcome {
	rec, rev, err := d.claims.load(ctx, d.sub.ID)
	if err != nil {
		return retry(err)
	}
	if rec == nil && d.o.LegacyMarkerDir != "" {
		if out, done := d.adoptLegacy(ctx); done {
			return out
		}
	}
	if rec != nil {
		switch {
		case rec.SlurmJobID != 0:
			return d.report(ctx, *rec, rev)
		case rec.Rejection != "":
			return d.sendRejection(ctx, *rec, rev)
		}
		if rec.Holder != d.o.HolderID {
			age := d.o.Now().Sub(rec.ClaimedAt)
			if age < d.o.ClaimStaleAfter && d.o.HolderGone != nil && d.o.HolderGone(rec.Holder, rec.marker()) {
				d.log.Info("claim holder has exited and left no sbatch running: reconciling now",
					"holder", rec.Holder, "claimed_at", rec.ClaimedAt)
			} else if age < d.o.ClaimStaleAfter {
				wait := d.o.ClaimStaleAfter - max(age, 0) + rand.N(time.Second)
				return retryAfter(wait, fmt.Errorf("submission %d is claimed by %s since %s", d.sub.ID, rec.Holder, rec.ClaimedAt.Format(time.RFC3339)))
			}
		}
		out, found := d.reconcile(ctx, *rec, rev)
		if found {
			return out
		}
		d.log.Warn("claim without slurm job id and no job of it in slurm: taking it over",
			"holder", rec.Holder, "claimed_at", rec.ClaimedAt)
	}

	p, err := d.prepare(ctx)
	defer d.adm.done()
	defer p.release() // the entrypoint's share of the download budget
	var (
		rej  *RejectionError
		busy *ownerBusyError
	)
	switch {
	case errors.As(err, &rej):
		return d.reject(ctx, rej.Message, rev)
	case errors.As(err, &busy):
		return deferred(busy.wait, fmt.Errorf("submission %d waits its turn: %w", d.sub.ID, err))
	case errors.Is(err, errStopping):
		return slotOutcome(err)
	case err != nil:
		return retry(err)
	}

	// The owner's share first: waiting for it holds no Slurm slot.
	releaseOwner, err := d.adm.slurmSlot(ctx)
	if err != nil {
		return slotOutcome(err)
	}
	defer releaseOwner()
	release, err := d.slurmSlot(ctx)
	if err != nil {
		return slotOutcome(err)
	}
	defer release()
	marker, err := slurm.NewMarker(int64(d.sub.ID))
	if err != nil {
		return retry(err)
	}
	uid := p.user.UID
	claim := Record{SubmissionID: d.sub.ID, Holder: d.o.HolderID, ClaimedAt: d.o.Now().UTC(),
		Marker: marker, Owner: p.user.Name, OwnerUID: &uid}
	rev, err = d.claims.store(ctx, claim, rev)
	if errors.Is(err, errConflict) {
		return retryAfter(conflictRetry, err)
	}
	if err != nil {
		return retry(err)
	}

	sctx, cancel := context.WithTimeout(ctx, d.o.SubmitTimeout)
	res, err := d.o.Slurm.Submit(sctx, slurm.SubmitRequest{
		User: p.user, Dir: p.dir, Script: p.script, SubmissionID: int64(d.sub.ID), Marker: marker, JobName: p.jobName,
	})
	cancel()
	// The slot bounds sbatch only: the state read has read slots of its own (newJobState) and
	// the record is a KV write, so the next sbatch need not wait for either. sbatch has read the
	// script, so its bytes and the owner's admission go back too.
	release()
	releaseOwner()
	p.release()
	d.adm.done()
	if err != nil {
		if rej := sbatchRejection(err); rej != nil {
			return d.reject(ctx, rej.Message, rev)
		}
		// The claim stays without job id: the next attempt reconciles by marker, since sbatch
		// may have created the job before failing (timeouts, unparsable output).
		return retry(fmt.Errorf("sbatch for submission %d: %w", d.sub.ID, err))
	}
	// sbatch runs as the owner, who can change what it prints: the job it names is read and
	// must be the claim's (owner and marker) before its id is recorded or anything of it is
	// reported. Until then the claim has no job id, so a failed read is retried through
	// reconciliation, which finds the claim's job by its marker.
	jd, err := d.newJobState(ctx, res.JobID)
	if err != nil {
		o := retry(fmt.Errorf("read state of new slurm job %d of submission %d: %w", res.JobID, d.sub.ID, err))
		o.jobID = res.JobID
		return o
	}
	if err := claim.identity().Check(jd); err != nil {
		return d.foreignJob(ctx, claim, res.JobID, err)
	}
	claim.SlurmJobID = res.JobID
	rev, err = d.recordJobID(ctx, claim, rev)
	if err != nil {
		d.log.Error("slurm job submitted but its id could not be recorded; the next attempt finds it by marker",
			"slurm_job_id", res.JobID, "error", err)
		o := retry(err)
		o.jobID = res.JobID
		return o
	}
	d.recordIdentity(ctx, res.JobID, claim.identity(), false, jd)
	return d.markSubmitted(ctx, claim, rev, jd)
}

// foreignJob is the outcome of an sbatch that printed the id of a job that is not the claim's:
// a security event. Nothing of that job is recorded or reported; the claim keeps no job id, so
// a retry of the dead-lettered message finds the claim's own job, if sbatch made one, by its
// marker.
func (d *delivery) foreignJob(ctx context.Context, claim Record, printed int64, cause error) outcome {
	var own []int64
	found, err := d.o.Slurm.FindMarkedJobs(ctx, int64(d.sub.ID), claim.identity())
	for _, j := range found.Jobs {
		own = append(own, j.JobID)
	}
	d.log.Error("security: sbatch printed the id of a slurm job that is not this submission's; nothing of that job is recorded or reported",
		"printed_slurm_job_id", printed, "marked_slurm_job_ids", own, "owner", claim.Owner, "error", cause, "marked_search_error", err)
	reason := fmt.Sprintf("sbatch, run as %s, printed slurm job id %d, which is not this submission's job (%v): its output was altered or is unreliable. "+
		"This submission's own job (marker %s): %v. Check the owner's processes, then retry this message (jobbergate-agent dead) to report the marked job, or discard it.",
		claim.Owner, printed, cause, claim.Marker, ownJobs(own, err))
	return terminate(reason, 0)
}

// ownJobs describes the result of the search for a claim's own job in a dead-letter reason.
func ownJobs(ids []int64, err error) string {
	switch {
	case err != nil:
		return fmt.Sprintf("not known (%v)", err)
	case len(ids) == 0:
		return "none found in Slurm"
	}
	return fmt.Sprintf("slurm job(s) %v", ids)
}

// reconcile looks for the job of a claim without job id in Slurm: a job of the claim's owner
// carrying the claim's marker (slurm.Client.FindMarkedJobs). found is true when the outcome is
// decided (a job was found and recorded, or an error must be retried or dead-lettered); false
// means no job of the claim exists and the claim may be taken over with a CAS on rev.
func (d *delivery) reconcile(ctx context.Context, rec Record, rev uint64) (outcome, bool) {
	id, err := d.claimIdentity(ctx, rec)
	if err != nil {
		return retry(fmt.Errorf("reconcile submission %d: %w", d.sub.ID, err)), true
	}
	release, err := d.slurmSlot(ctx)
	if err != nil {
		return slotOutcome(err), true
	}
	defer release() // also on a panic, which the runner recovers
	found, err := d.o.Slurm.FindMarkedJobs(ctx, int64(d.sub.ID), id)
	release()
	if len(found.Earlier) > 0 {
		d.log.Warn("slurm holds jobs of the owner with another marker of this submission (an earlier claim, an earlier run against this Slurm or another Jobbergate instance); they are not this claim's job",
			"slurm_job_ids", found.Earlier, "marker", rec.marker())
	}
	for _, r := range found.Refused {
		d.log.Warn("a job listed with this claim's marker failed the identity check and is ignored", "error", r)
	}
	switch {
	case errors.Is(err, slurm.ErrCommentsNotRecorded):
		return terminate(fmt.Sprintf("claim of %s has no slurm job id, and whether its sbatch made a job cannot be told: "+
			"slurmctld no longer holds jobs that old and accounting does not record job comments (%v). "+
			"Look for a job of %s whose comment holds %s (sacct -u %s -S %s -o JobID,Comment%%80); "+
			"report it by hand, or delete the record and retry this message to submit again.",
			rec.ClaimedAt.Format(time.RFC3339), id.Owner.Name, rec.marker(), id.Owner.Name, rec.ClaimedAt.Local().Format("2006-01-02T15:04:05"), err), 0), true
	case err != nil:
		return retry(fmt.Errorf("reconcile submission %d with slurm: %w", d.sub.ID, err)), true
	case len(found.Jobs) == 0:
		return outcome{}, false
	}
	ids := make([]int64, len(found.Jobs))
	for i, j := range found.Jobs {
		ids[i] = j.JobID
	}
	slices.Sort(ids)
	if len(ids) > 1 {
		d.log.Error("several slurm jobs of the owner carry this claim's marker; reporting the lowest",
			"slurm_job_ids", ids, "slurm_job_id", ids[0])
	}
	d.log.Info("claim reconciled: slurm job found by marker", "slurm_job_id", ids[0], "holder", rec.Holder)
	rec.SlurmJobID = ids[0]
	rec.Holder = d.o.HolderID
	rev, err = d.claims.store(ctx, rec, rev)
	if errors.Is(err, errConflict) {
		return retryAfter(conflictRetry, err), true
	}
	if err != nil {
		return retry(err), true
	}
	d.recordIdentity(ctx, rec.SlurmJobID, id, false, slurm.JobData{})
	return d.report(ctx, rec, rev), true
}

// adoptLegacy reports the job the Python agent submitted for sub and recorded in its marker
// file (CACHE_DIR/<id>.slurm_job_id) without telling the API, instead of a second sbatch. The
// job must be the mapped owner's (those jobs carry no marker); one Slurm no longer knows carries
// nobody's data and is reported UNKNOWN. done is false when there is no marker to act on (none,
// or one the agent does not trust, which is logged and left alone).
func (d *delivery) adoptLegacy(ctx context.Context) (outcome, bool) {
	jobID, ok, err := readLegacyMarker(d.o.LegacyMarkerDir, d.sub.ID)
	if errors.Is(err, errLegacyMarkerUntrusted) {
		d.log.Warn("Python-agent marker file ignored", "error", err)
		return outcome{}, false
	}
	if err != nil {
		return retry(err), true
	}
	if !ok {
		return outcome{}, false
	}
	username, err := d.o.Mapper.Username(ctx, d.sub.OwnerEmail)
	if err != nil {
		return retry(fmt.Errorf("map the owner of submission %d's Python-agent job %d: %w", d.sub.ID, jobID, err)), true
	}
	owner, err := d.o.Slurm.LookupUser(username)
	if err != nil {
		return retry(fmt.Errorf("look up the owner of submission %d's Python-agent job %d: %w", d.sub.ID, jobID, err)), true
	}
	jd, err := d.o.Slurm.JobState(ctx, jobID)
	if err != nil {
		return retry(fmt.Errorf("read submission %d's Python-agent job %d: %w", d.sub.ID, jobID, err)), true
	}
	id := slurm.Identity{Owner: owner}
	if jd.JobState != slurm.StateUnknown || jd.JobInfo != "{}" {
		if err := id.CheckOwner(jd); err != nil {
			d.log.Error("security: the Python agent's marker file names a slurm job that is not the owner's; nothing of it is reported",
				"slurm_job_id", jobID, "error", err)
			return terminate(fmt.Sprintf("the Python agent's marker file %s names slurm job %d, which is not this submission's (%v); remove the file once checked, then retry this message",
				legacyMarkerName(d.sub.ID), jobID, err), 0), true
		}
	}
	uid := owner.UID
	rec := Record{SubmissionID: d.sub.ID, Holder: d.o.HolderID, ClaimedAt: d.o.Now().UTC(), SlurmJobID: jobID, Owner: owner.Name, OwnerUID: &uid}
	rev, err := d.claims.store(ctx, rec, 0)
	if errors.Is(err, errConflict) {
		return retryAfter(conflictRetry, err), true
	}
	if err != nil {
		return retry(err), true
	}
	d.log.Info("slurm job submitted by the Python agent found in its marker file: reporting it instead of submitting again", "slurm_job_id", jobID)
	d.recordIdentity(ctx, jobID, id, true, jd)
	out := d.markSubmitted(ctx, rec, rev, jd)
	if out.dec.IsAck() {
		if err := os.Remove(filepath.Join(d.o.LegacyMarkerDir, legacyMarkerName(d.sub.ID))); err != nil && !os.IsNotExist(err) {
			d.log.Warn("could not remove the Python agent's marker file", "error", err)
		}
	}
	return out, true
}

// recordIdentity writes the identity of a submission's job (Options.Jobs), for the update path;
// unmarked says the job carries no marker (the Python agent's), reported is the job as it is
// about to be reported with SUBMITTED (zero when not read yet). It runs even when ctx was
// cancelled; a failure is logged, not retried: the update path then treats the job as one of
// unknown provenance.
func (d *delivery) recordIdentity(ctx context.Context, jobID int64, id slurm.Identity, unmarked bool, reported slurm.JobData) {
	if d.o.Jobs == nil {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kvWriteTimeout)
	defer cancel()
	rec := jobidentity.Record{SubmissionID: d.sub.ID, SlurmJobID: jobID, Owner: id.Owner.Name, OwnerUID: id.Owner.UID, Marker: id.Marker,
		Unmarked: unmarked, State: reported.JobState, Reason: reported.StateReason}
	if err := (jobidentity.Store{KV: d.o.Jobs}).Put(wctx, rec); err != nil {
		d.log.Error("could not record the job's identity; the update path cannot check the job's owner", "slurm_job_id", jobID, "error", err)
	}
}

// claimIdentity is what makes a job the claim's: the owner recorded in the claim (mapped again
// for claims written before owners were recorded), its marker and its time.
func (d *delivery) claimIdentity(ctx context.Context, rec Record) (slurm.Identity, error) {
	if rec.OwnerUID != nil {
		return rec.identity(), nil
	}
	username, err := d.o.Mapper.Username(ctx, d.sub.OwnerEmail)
	if err != nil {
		return slurm.Identity{}, fmt.Errorf("map the owner of a claim without owner: %w", err)
	}
	u, err := d.o.Slurm.LookupUser(username)
	if err != nil {
		return slurm.Identity{}, fmt.Errorf("look up the owner of a claim without owner: %w", err)
	}
	id := rec.identity()
	id.Owner = u
	return id, nil
}

// recordJobID writes the job id into the claim, retrying briefly: it runs even when ctx was
// cancelled after sbatch returned. A conflict is accepted only if the record already holds the
// same job id (someone reconciled it).
func (d *delivery) recordJobID(ctx context.Context, rec Record, rev uint64) (uint64, error) {
	wctx := context.WithoutCancel(ctx)
	retry := backoff.Policy{Initial: d.o.RecordBackoff}
	var err error
	for attempt := 1; attempt <= d.o.RecordAttempts; attempt++ {
		actx, cancel := context.WithTimeout(wctx, kvWriteTimeout)
		var n uint64
		n, err = d.claims.store(actx, rec, rev)
		cancel()
		if err == nil {
			return n, nil
		}
		if errors.Is(err, errConflict) {
			cur, curRev, lerr := d.claims.load(wctx, rec.SubmissionID)
			if lerr == nil && cur != nil && cur.SlurmJobID == rec.SlurmJobID {
				return curRev, nil
			}
			d.log.Error("claim changed while sbatch ran: another process took the submission over",
				"slurm_job_id", rec.SlurmJobID, "record", cur)
			return 0, err
		}
		if attempt < d.o.RecordAttempts {
			_ = backoff.Wait(wctx, retry.Delay(attempt)) // wctx is never cancelled
		}
	}
	return 0, err
}

// report reads the job's state (in a Slurm slot) and marks the submission SUBMITTED.
func (d *delivery) report(ctx context.Context, rec Record, rev uint64) outcome {
	if rec.Reported {
		return ack("already reported", rec.SlurmJobID)
	}
	release, err := d.slurmSlot(ctx)
	if err != nil {
		o := slotOutcome(err)
		o.jobID = rec.SlurmJobID
		return o
	}
	defer release() // also on a panic, which the runner recovers
	jd, err := d.o.Slurm.JobState(ctx, rec.SlurmJobID)
	release()
	if err != nil {
		o := retry(fmt.Errorf("read state of slurm job %d: %w", rec.SlurmJobID, err))
		o.jobID = rec.SlurmJobID
		return o
	}
	return d.markSubmitted(ctx, rec, rev, jd)
}

// markSubmitted marks the submission SUBMITTED with jd, the job's state read right before.
func (d *delivery) markSubmitted(ctx context.Context, rec Record, rev uint64, jd slurm.JobData) outcome {
	id := rec.SlurmJobID
	err := d.o.API.MarkSubmitted(ctx, d.sub.ID, jobbergate.NewSlurmJobData(id, jd.JobState, jd.JobInfo, jd.StateReason))
	o := d.apiOutcome(ctx, err, rec, rev, "submitted")
	o.jobID = id
	return o
}

// reject records the rejection in the submission's record (create-only or CAS on rev), then
// reports it.
func (d *delivery) reject(ctx context.Context, message string, rev uint64) outcome {
	rec := Record{SubmissionID: d.sub.ID, Holder: d.o.HolderID, ClaimedAt: d.o.Now().UTC(), Rejection: message}
	rev, err := d.claims.store(ctx, rec, rev)
	if errors.Is(err, errConflict) {
		return retryAfter(conflictRetry, err)
	}
	if err != nil {
		return retry(err)
	}
	return d.sendRejection(ctx, rec, rev)
}

// sendRejection marks the submission REJECTED with the recorded message.
func (d *delivery) sendRejection(ctx context.Context, rec Record, rev uint64) outcome {
	if rec.Reported {
		return ack("rejection already reported", 0)
	}
	err := d.o.API.MarkRejected(ctx, d.sub.ID, rec.Rejection)
	withMessage := *d
	withMessage.log = d.log.With("report_message", rec.Rejection)
	return withMessage.apiOutcome(ctx, err, rec, rev, "rejected")
}

// apiOutcome maps the answer to a MarkSubmitted/MarkRejected call: success and 400 (the
// submission is no longer CREATED: an earlier report landed) finish the record and ack; 403,
// 404 and 422 are permanent and dead-letter; anything else is retried.
func (d *delivery) apiOutcome(ctx context.Context, err error, rec Record, rev uint64, what string) outcome {
	code := jobbergate.StatusCode(err)
	switch {
	case err == nil:
	case code == 400:
		d.log.Info("submission no longer CREATED; an earlier report landed", "error", err)
		what = "already " + what
	case code == 403 || code == 404 || code == 422:
		return terminate(err.Error(), rec.SlurmJobID)
	default:
		return retry(err)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kvWriteTimeout)
	defer cancel()
	if ferr := d.claims.finish(fctx, rec, rev); ferr != nil {
		d.log.Warn("could not mark the submission record finished; it expires with the bucket TTL", "error", ferr)
	}
	return ack(what, rec.SlurmJobID)
}
