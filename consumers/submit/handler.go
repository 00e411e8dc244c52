package submit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/jobidentity"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/backoff"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

const (
	// busyRetry is the redelivery delay of a message whose submission this process is already
	// handling (a duplicate delivered at the same time).
	busyRetry = 3 * time.Second
	// conflictRetry is the redelivery delay after losing a compare-and-set race on the record.
	conflictRetry = time.Second
	// kvWriteTimeout bounds one attempt at recording a job id.
	kvWriteTimeout = 5 * time.Second
)

// Handler is the SUBMIT consumer's handler (see the package doc for the flow). It is safe for
// concurrent use; two deliveries of the same submission to one process never run at the same
// time (the second is retried shortly), and two processes are kept apart by the KV claim.
type Handler struct {
	o      Options
	claims claims
	log    *slog.Logger

	mu       sync.Mutex
	inflight map[int]struct{}

	slurmSlots chan struct{} // nil without SlurmConcurrency
	// readSlots bounds the state reads of new jobs, which run outside slurmSlots, by the same
	// number, so that Slurm never sees more than twice SlurmConcurrency commands from this
	// handler even when the client's scontrol sessions are down and each read starts its own.
	readSlots chan struct{} // nil without SlurmConcurrency
	// owners bounds the Slurm slots of one owner (OwnerSlurmConcurrency); nil without a bound.
	owners *ownerSlots
	// budget bounds the bytes of job-script files held in memory at once (DownloadBudget).
	budget *semaphore.Weighted
}

var _ consumers.Handler = (*Handler)(nil)

// NewHandler checks opts, applies defaults and returns a Handler.
func NewHandler(opts Options) (*Handler, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	h := &Handler{
		budget:   semaphore.NewWeighted(opts.DownloadBudget),
		o:        opts,
		claims:   claims{kv: opts.Claims, js: opts.JetStream, doneTTL: opts.DoneTTL},
		log:      opts.Logger,
		inflight: map[int]struct{}{},
	}
	if opts.SlurmConcurrency > 0 {
		h.slurmSlots = make(chan struct{}, opts.SlurmConcurrency)
		h.readSlots = make(chan struct{}, opts.SlurmConcurrency)
		perOwner := opts.OwnerSlurmConcurrency
		if perOwner == 0 {
			perOwner = (opts.SlurmConcurrency + 1) / 2
		}
		if perOwner > 0 && perOwner < opts.SlurmConcurrency {
			h.owners = newOwnerSlots(perOwner)
		}
	}
	return h, nil
}

// errStopping is a wait for a Slurm slot given up because the runner is shutting down.
var errStopping = errors.New("agent shutting down: submission left for redelivery before its Slurm stage")

// leftAtShutdown is the outcome of a delivery that gave up waiting for a Slurm slot because
// the runner is shutting down.
const leftAtShutdown = "left for redelivery at shutdown"

// slotOutcome is the outcome of a failed wait for a Slurm slot: redelivered a second later.
func slotOutcome(err error) outcome {
	o := retryAfter(time.Second, err)
	if errors.Is(err, errStopping) {
		o.what = leftAtShutdown
	}
	return o
}

// slurmSlot waits for one of the SlurmConcurrency slots. The returned release may be called
// more than once. The wait ends early with ctx or when the runner begins to shut down
// (consumers.Stopping), and a slot obtained once shutdown has begun is given back: no new
// Slurm stage starts then (one already running finishes).
func (h *Handler) slurmSlot(ctx context.Context) (release func(), err error) {
	if h.slurmSlots == nil {
		return func() {}, nil
	}
	select {
	case <-consumers.Stopping(ctx):
		return nil, errStopping
	default:
	}
	start := time.Now()
	select {
	case h.slurmSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-consumers.Stopping(ctx):
		return nil, errStopping
	}
	select { // a slot freed as shutdown began: do not start new work with it
	case <-consumers.Stopping(ctx):
		<-h.slurmSlots
		return nil, errStopping
	default:
	}
	if h.o.SlotWait != nil {
		h.o.SlotWait(time.Since(start))
	}
	var once sync.Once
	return func() { once.Do(func() { <-h.slurmSlots }) }, nil
}

// outcome is what handling one delivery came to, before the last-attempt rule.
type outcome struct {
	dec   consumers.Decision
	jobID int64
	what  string // short description for the log
}

func ack(what string, jobID int64) outcome {
	return outcome{dec: consumers.Ack(), what: what, jobID: jobID}
}

func retry(err error) outcome { return outcome{dec: consumers.Retry(err), what: "retry"} }

func retryAfter(d time.Duration, err error) outcome {
	return outcome{dec: consumers.RetryAfter(d, err), what: "retry"}
}

func terminate(reason string, jobID int64) outcome {
	return outcome{dec: consumers.Terminate(reason), what: "dead-lettered", jobID: jobID}
}

// Handle processes one submit message. It never acknowledges itself: the decision is settled by
// the runner. ctx cancellation (shutdown) kills a running sbatch; a job id obtained from sbatch
// is still recorded (that write does not depend on ctx), so no claim is left half-written in a
// way that could lead to a second job.
func (h *Handler) Handle(ctx context.Context, msg *consumers.Message) consumers.Decision {
	var sub jobbergate.PendingSubmission
	if err := json.Unmarshal(msg.Data, &sub); err != nil {
		reason := fmt.Sprintf("undecodable submission payload: %v", err)
		h.log.Error("submit message dead-lettered", "submission_id", msg.SubmissionID(), "subject", msg.Subject, "reason", reason)
		return consumers.Terminate(reason)
	}
	log := h.log.With("submission_id", sub.ID)
	if !h.enter(sub.ID) {
		log.Info("submission already being handled by this process; retrying later")
		return consumers.RetryAfter(busyRetry, fmt.Errorf("submission %d is being handled by this process", sub.ID))
	}
	defer h.leave(sub.ID)

	if msg.LastAttempt() {
		// Giving up at shutdown would dead-letter it: wait for a slot within the grace period.
		ctx = consumers.WithStopping(ctx, nil)
	}
	out := h.handle(ctx, log, &sub)
	if out.dec.IsRetry() && msg.LastAttempt() {
		out = terminate(out.dec.Reason(), out.jobID)
	}
	attrs := []any{"slurm_job_id", out.jobID, "outcome", out.what, "decision", out.dec.String(), "delivery", msg.NumDelivered}
	switch {
	case out.dec.IsTerminate():
		log.Error("submit message dead-lettered", attrs...)
	case out.what == leftAtShutdown:
		log.Info("submit message left for redelivery: shutting down before its sbatch", attrs...)
	case out.dec.IsRetry():
		log.Warn("submit message will be retried", append(attrs, "error", out.dec.Reason())...)
	default:
		log.Info("submit message done", attrs...)
	}
	return out.dec
}

func (h *Handler) enter(id int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, busy := h.inflight[id]; busy {
		return false
	}
	h.inflight[id] = struct{}{}
	return true
}

func (h *Handler) leave(id int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.inflight, id)
}

func (h *Handler) handle(ctx context.Context, log *slog.Logger, sub *jobbergate.PendingSubmission) outcome {
	rec, rev, err := h.claims.load(ctx, sub.ID)
	if err != nil {
		return retry(err)
	}
	if rec == nil && h.o.LegacyMarkerDir != "" {
		if out, done := h.adoptLegacy(ctx, log, sub); done {
			return out
		}
	}
	if rec != nil {
		switch {
		case rec.SlurmJobID != 0:
			return h.report(ctx, log, sub, *rec, rev)
		case rec.Rejection != "":
			return h.sendRejection(ctx, sub, *rec, rev)
		}
		if rec.Holder != h.o.HolderID {
			age := h.o.Now().Sub(rec.ClaimedAt)
			if age < h.o.ClaimStaleAfter && h.o.HolderGone != nil && h.o.HolderGone(rec.Holder, rec.marker()) {
				log.Info("claim holder has exited and left no sbatch running: reconciling now",
					"holder", rec.Holder, "claimed_at", rec.ClaimedAt)
			} else if age < h.o.ClaimStaleAfter {
				wait := h.o.ClaimStaleAfter - max(age, 0) + rand.N(time.Second)
				return retryAfter(wait, fmt.Errorf("submission %d is claimed by %s since %s", sub.ID, rec.Holder, rec.ClaimedAt.Format(time.RFC3339)))
			}
		}
		out, found := h.reconcile(ctx, log, sub, *rec, rev)
		if found {
			return out
		}
		log.Warn("claim without slurm job id and no job of it in slurm: taking it over",
			"holder", rec.Holder, "claimed_at", rec.ClaimedAt)
	}

	p, rejection, err := h.prepare(ctx, sub)
	defer p.release() // the entrypoint's share of the download budget
	if err != nil {
		return retry(err)
	}
	if rejection != "" {
		return h.reject(ctx, sub, rejection, rev)
	}

	releaseOwner := func() {}
	if h.owners != nil { // the owner's share first: waiting for it holds no Slurm slot
		if releaseOwner, err = h.owners.acquire(ctx, p.user.Name); err != nil {
			return slotOutcome(err)
		}
		defer releaseOwner()
	}
	release, err := h.slurmSlot(ctx)
	if err != nil {
		return slotOutcome(err)
	}
	defer release()
	marker, err := slurm.NewMarker(int64(sub.ID))
	if err != nil {
		return retry(err)
	}
	uid := p.user.UID
	claim := Record{SubmissionID: sub.ID, Holder: h.o.HolderID, ClaimedAt: h.o.Now().UTC(),
		Marker: marker, Owner: p.user.Name, OwnerUID: &uid}
	rev, err = h.claims.store(ctx, claim, rev)
	if errors.Is(err, errConflict) {
		return retryAfter(conflictRetry, err)
	}
	if err != nil {
		return retry(err)
	}

	sctx, cancel := context.WithTimeout(ctx, h.o.SubmitTimeout)
	res, err := h.o.Slurm.Submit(sctx, slurm.SubmitRequest{
		User: p.user, Dir: p.dir, Script: p.script, SubmissionID: int64(sub.ID), Marker: marker, JobName: p.jobName,
	})
	cancel()
	// The slot bounds sbatch only: the state read has read slots of its own (newJobState) and
	// the record is a KV write, so the next sbatch need not wait for either.
	release()
	releaseOwner()
	if err != nil {
		if msg, ok := sbatchRejection(err); ok {
			return h.reject(ctx, sub, msg, rev)
		}
		// The claim stays without job id: the next attempt reconciles by marker, since sbatch
		// may have created the job before failing (timeouts, unparsable output).
		return retry(fmt.Errorf("sbatch for submission %d: %w", sub.ID, err))
	}
	// sbatch runs as the owner, who can change what it prints: the job it names is read and
	// must be the claim's (owner and marker) before its id is recorded or anything of it is
	// reported. Until then the claim has no job id, so a failed read is retried through
	// reconciliation, which finds the claim's job by its marker.
	jd, err := h.newJobState(ctx, res.JobID)
	if err != nil {
		o := retry(fmt.Errorf("read state of new slurm job %d of submission %d: %w", res.JobID, sub.ID, err))
		o.jobID = res.JobID
		return o
	}
	if err := claim.identity().Check(jd); err != nil {
		return h.foreignJob(ctx, log, sub, claim, res.JobID, err)
	}
	claim.SlurmJobID = res.JobID
	rev, err = h.recordJobID(ctx, log, claim, rev)
	if err != nil {
		log.Error("slurm job submitted but its id could not be recorded; the next attempt finds it by marker",
			"slurm_job_id", res.JobID, "error", err)
		o := retry(err)
		o.jobID = res.JobID
		return o
	}
	h.recordIdentity(ctx, log, sub.ID, res.JobID, claim.identity())
	return h.markSubmitted(ctx, log, sub, claim, rev, jd, nil)
}

// foreignJob is the outcome of an sbatch that printed the id of a job that is not the claim's:
// a security event. Nothing of that job is recorded or reported; the claim keeps no job id, so
// a retry of the dead-lettered message finds the claim's own job, if sbatch made one, by its
// marker.
func (h *Handler) foreignJob(ctx context.Context, log *slog.Logger, sub *jobbergate.PendingSubmission, claim Record, printed int64, cause error) outcome {
	var own []int64
	found, err := h.o.Slurm.FindMarkedJobs(ctx, int64(sub.ID), claim.identity())
	for _, j := range found.Jobs {
		own = append(own, j.JobID)
	}
	log.Error("security: sbatch printed the id of a slurm job that is not this submission's; nothing of that job is recorded or reported",
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

// newJobState reads the state of a job this delivery just submitted, in one of the read slots.
// It waits for a slot even once shutdown has begun (the job exists and reporting it is what is
// left to do); only ctx ends the wait, and the redelivery then reports the recorded job id.
func (h *Handler) newJobState(ctx context.Context, id int64) (slurm.JobData, error) {
	if h.readSlots != nil {
		select {
		case h.readSlots <- struct{}{}:
			defer func() { <-h.readSlots }()
		case <-ctx.Done():
			return slurm.JobData{}, ctx.Err()
		}
	}
	return h.o.Slurm.JobState(ctx, id)
}

// reconcile looks for the job of a claim without job id in Slurm: a job of the claim's owner
// carrying the claim's marker (slurm.Client.FindMarkedJobs). found is true when the outcome is
// decided (a job was found and recorded, or an error must be retried or dead-lettered); false
// means no job of the claim exists and the claim may be taken over with a CAS on rev.
func (h *Handler) reconcile(ctx context.Context, log *slog.Logger, sub *jobbergate.PendingSubmission, rec Record, rev uint64) (outcome, bool) {
	id, err := h.claimIdentity(ctx, sub, rec)
	if err != nil {
		return retry(fmt.Errorf("reconcile submission %d: %w", sub.ID, err)), true
	}
	release, err := h.slurmSlot(ctx)
	if err != nil {
		return slotOutcome(err), true
	}
	defer release() // also on a panic, which the runner recovers
	found, err := h.o.Slurm.FindMarkedJobs(ctx, int64(sub.ID), id)
	release()
	if len(found.Earlier) > 0 {
		log.Warn("slurm holds jobs of the owner with another marker of this submission (an earlier claim, an earlier run against this Slurm or another Jobbergate instance); they are not this claim's job",
			"slurm_job_ids", found.Earlier, "marker", rec.marker())
	}
	for _, r := range found.Refused {
		log.Warn("a job listed with this claim's marker failed the identity check and is ignored", "error", r)
	}
	switch {
	case errors.Is(err, slurm.ErrCommentsNotRecorded):
		return terminate(fmt.Sprintf("claim of %s has no slurm job id, and whether its sbatch made a job cannot be told: "+
			"slurmctld no longer holds jobs that old and accounting does not record job comments (%v). "+
			"Look for a job of %s whose comment holds %s (sacct -u %s -S %s -o JobID,Comment%%80); "+
			"report it by hand, or delete the record and retry this message to submit again.",
			rec.ClaimedAt.Format(time.RFC3339), id.Owner.Name, rec.marker(), id.Owner.Name, rec.ClaimedAt.Local().Format("2006-01-02T15:04:05"), err), 0), true
	case err != nil:
		return retry(fmt.Errorf("reconcile submission %d with slurm: %w", sub.ID, err)), true
	case len(found.Jobs) == 0:
		return outcome{}, false
	}
	ids := make([]int64, len(found.Jobs))
	for i, j := range found.Jobs {
		ids[i] = j.JobID
	}
	slices.Sort(ids)
	if len(ids) > 1 {
		log.Error("several slurm jobs of the owner carry this claim's marker; reporting the lowest",
			"slurm_job_ids", ids, "slurm_job_id", ids[0])
	}
	log.Info("claim reconciled: slurm job found by marker", "slurm_job_id", ids[0], "holder", rec.Holder)
	rec.SlurmJobID = ids[0]
	rec.Holder = h.o.HolderID
	rev, err = h.claims.store(ctx, rec, rev)
	if errors.Is(err, errConflict) {
		return retryAfter(conflictRetry, err), true
	}
	if err != nil {
		return retry(err), true
	}
	h.recordIdentity(ctx, log, sub.ID, rec.SlurmJobID, id)
	return h.report(ctx, log, sub, rec, rev), true
}

// adoptLegacy reports the job the Python agent submitted for sub and recorded in its marker
// file (CACHE_DIR/<id>.slurm_job_id) without telling the API, instead of a second sbatch. The
// job must be the mapped owner's (those jobs carry no marker); one Slurm no longer knows carries
// nobody's data and is reported UNKNOWN. done is false when there is no marker to act on (none,
// or one the agent does not trust, which is logged and left alone).
func (h *Handler) adoptLegacy(ctx context.Context, log *slog.Logger, sub *jobbergate.PendingSubmission) (outcome, bool) {
	jobID, ok, err := readLegacyMarker(h.o.LegacyMarkerDir, sub.ID)
	if errors.Is(err, errLegacyMarkerUntrusted) {
		log.Warn("Python-agent marker file ignored", "error", err)
		return outcome{}, false
	}
	if err != nil {
		return retry(err), true
	}
	if !ok {
		return outcome{}, false
	}
	username, err := h.o.Mapper.Username(ctx, sub.OwnerEmail)
	if err != nil {
		return retry(fmt.Errorf("map the owner of submission %d's Python-agent job %d: %w", sub.ID, jobID, err)), true
	}
	owner, err := h.o.Slurm.LookupUser(username)
	if err != nil {
		return retry(fmt.Errorf("look up the owner of submission %d's Python-agent job %d: %w", sub.ID, jobID, err)), true
	}
	jd, err := h.o.Slurm.JobState(ctx, jobID)
	if err != nil {
		return retry(fmt.Errorf("read submission %d's Python-agent job %d: %w", sub.ID, jobID, err)), true
	}
	id := slurm.Identity{Owner: owner}
	if jd.JobState != slurm.StateUnknown || jd.JobInfo != "{}" {
		if err := id.CheckOwner(jd); err != nil {
			log.Error("security: the Python agent's marker file names a slurm job that is not the owner's; nothing of it is reported",
				"slurm_job_id", jobID, "error", err)
			return terminate(fmt.Sprintf("the Python agent's marker file %s names slurm job %d, which is not this submission's (%v); remove the file once checked, then retry this message",
				legacyMarkerName(sub.ID), jobID, err), 0), true
		}
	}
	uid := owner.UID
	rec := Record{SubmissionID: sub.ID, Holder: h.o.HolderID, ClaimedAt: h.o.Now().UTC(), SlurmJobID: jobID, Owner: owner.Name, OwnerUID: &uid}
	rev, err := h.claims.store(ctx, rec, 0)
	if errors.Is(err, errConflict) {
		return retryAfter(conflictRetry, err), true
	}
	if err != nil {
		return retry(err), true
	}
	log.Info("slurm job submitted by the Python agent found in its marker file: reporting it instead of submitting again", "slurm_job_id", jobID)
	h.recordIdentity(ctx, log, sub.ID, jobID, id)
	out := h.markSubmitted(ctx, log, sub, rec, rev, jd, nil)
	if out.dec.IsAck() {
		if err := os.Remove(filepath.Join(h.o.LegacyMarkerDir, legacyMarkerName(sub.ID))); err != nil && !os.IsNotExist(err) {
			log.Warn("could not remove the Python agent's marker file", "error", err)
		}
	}
	return out, true
}

// recordIdentity writes the identity of a submission's job (Options.Jobs), for the update path.
// It runs even when ctx was cancelled; a failure is logged, not retried: the update path then
// treats the job as one of unknown provenance.
func (h *Handler) recordIdentity(ctx context.Context, log *slog.Logger, sub int, jobID int64, id slurm.Identity) {
	if h.o.Jobs == nil {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kvWriteTimeout)
	defer cancel()
	rec := jobidentity.Record{SubmissionID: sub, SlurmJobID: jobID, Owner: id.Owner.Name, OwnerUID: id.Owner.UID, Marker: id.Marker}
	if err := (jobidentity.Store{KV: h.o.Jobs}).Put(wctx, rec); err != nil {
		log.Error("could not record the job's identity; the update path cannot check the job's owner", "slurm_job_id", jobID, "error", err)
	}
}

// claimIdentity is what makes a job the claim's: the owner recorded in the claim (mapped again
// for claims written before owners were recorded), its marker and its time.
func (h *Handler) claimIdentity(ctx context.Context, sub *jobbergate.PendingSubmission, rec Record) (slurm.Identity, error) {
	if rec.OwnerUID != nil {
		return rec.identity(), nil
	}
	username, err := h.o.Mapper.Username(ctx, sub.OwnerEmail)
	if err != nil {
		return slurm.Identity{}, fmt.Errorf("map the owner of a claim without owner: %w", err)
	}
	u, err := h.o.Slurm.LookupUser(username)
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
func (h *Handler) recordJobID(ctx context.Context, log *slog.Logger, rec Record, rev uint64) (uint64, error) {
	wctx := context.WithoutCancel(ctx)
	retry := backoff.Policy{Initial: h.o.RecordBackoff}
	var err error
	for attempt := 1; attempt <= h.o.RecordAttempts; attempt++ {
		actx, cancel := context.WithTimeout(wctx, kvWriteTimeout)
		var n uint64
		n, err = h.claims.store(actx, rec, rev)
		cancel()
		if err == nil {
			return n, nil
		}
		if errors.Is(err, errConflict) {
			cur, curRev, lerr := h.claims.load(wctx, rec.SubmissionID)
			if lerr == nil && cur != nil && cur.SlurmJobID == rec.SlurmJobID {
				return curRev, nil
			}
			log.Error("claim changed while sbatch ran: another process took the submission over",
				"slurm_job_id", rec.SlurmJobID, "record", cur)
			return 0, err
		}
		if attempt < h.o.RecordAttempts {
			_ = backoff.Wait(wctx, retry.Delay(attempt)) // wctx is never cancelled
		}
	}
	return 0, err
}

// report reads the job's state (in a Slurm slot) and marks the submission SUBMITTED.
func (h *Handler) report(ctx context.Context, log *slog.Logger, sub *jobbergate.PendingSubmission, rec Record, rev uint64) outcome {
	if rec.Reported {
		return ack("already reported", rec.SlurmJobID)
	}
	release, err := h.slurmSlot(ctx)
	if err != nil {
		o := slotOutcome(err)
		o.jobID = rec.SlurmJobID
		return o
	}
	defer release() // also on a panic, which the runner recovers
	jd, err := h.o.Slurm.JobState(ctx, rec.SlurmJobID)
	release()
	return h.markSubmitted(ctx, log, sub, rec, rev, jd, err)
}

// markSubmitted marks the submission SUBMITTED with jd, the job's state read right before
// (err: that read failed, which is retried).
func (h *Handler) markSubmitted(ctx context.Context, log *slog.Logger, sub *jobbergate.PendingSubmission, rec Record, rev uint64, jd slurm.JobData, err error) outcome {
	id := rec.SlurmJobID
	if err != nil {
		o := retry(fmt.Errorf("read state of slurm job %d: %w", id, err))
		o.jobID = id
		return o
	}
	jobID := int(id)
	data := jobbergate.SlurmJobData{JobID: &jobID, JobState: jobbergate.SlurmJobState(jd.JobState), JobInfo: jd.JobInfo}
	if jd.StateReason != "" {
		reason := jd.StateReason
		data.StateReason = &reason
	}
	err = h.o.API.MarkSubmitted(ctx, sub.ID, data)
	o := h.apiOutcome(ctx, log, err, rec, rev, "submitted")
	o.jobID = id
	return o
}

// reject records the rejection in the submission's record (create-only or CAS on rev), then
// reports it.
func (h *Handler) reject(ctx context.Context, sub *jobbergate.PendingSubmission, message string, rev uint64) outcome {
	rec := Record{SubmissionID: sub.ID, Holder: h.o.HolderID, ClaimedAt: h.o.Now().UTC(), Rejection: message}
	rev, err := h.claims.store(ctx, rec, rev)
	if errors.Is(err, errConflict) {
		return retryAfter(conflictRetry, err)
	}
	if err != nil {
		return retry(err)
	}
	return h.sendRejection(ctx, sub, rec, rev)
}

// sendRejection marks the submission REJECTED with the recorded message.
func (h *Handler) sendRejection(ctx context.Context, sub *jobbergate.PendingSubmission, rec Record, rev uint64) outcome {
	if rec.Reported {
		return ack("rejection already reported", 0)
	}
	err := h.o.API.MarkRejected(ctx, sub.ID, rec.Rejection)
	o := h.apiOutcome(ctx, h.log.With("submission_id", sub.ID, "report_message", rec.Rejection), err, rec, rev, "rejected")
	return o
}

// apiOutcome maps the answer to a MarkSubmitted/MarkRejected call: success and 400 (the
// submission is no longer CREATED: an earlier report landed) finish the record and ack; 403,
// 404 and 422 are permanent and dead-letter; anything else is retried.
func (h *Handler) apiOutcome(ctx context.Context, log *slog.Logger, err error, rec Record, rev uint64, what string) outcome {
	code := jobbergate.StatusCode(err)
	switch {
	case err == nil:
	case code == 400:
		log.Info("submission no longer CREATED; an earlier report landed", "error", err)
		what = "already " + what
	case code == 403 || code == 404 || code == 422:
		return terminate(err.Error(), rec.SlurmJobID)
	default:
		return retry(err)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kvWriteTimeout)
	defer cancel()
	if ferr := h.claims.finish(fctx, rec, rev); ferr != nil {
		log.Warn("could not mark the submission record finished; it expires with the bucket TTL", "error", ferr)
	}
	return ack(what, rec.SlurmJobID)
}
