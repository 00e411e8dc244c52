package submit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
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
}

var _ consumers.Handler = (*Handler)(nil)

// NewHandler checks opts, applies defaults and returns a Handler.
func NewHandler(opts Options) (*Handler, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	h := &Handler{
		o:        opts,
		claims:   claims{kv: opts.Claims, js: opts.JetStream, doneTTL: opts.DoneTTL},
		log:      opts.Logger,
		inflight: map[int]struct{}{},
	}
	if opts.SlurmConcurrency > 0 {
		h.slurmSlots = make(chan struct{}, opts.SlurmConcurrency)
		h.readSlots = make(chan struct{}, opts.SlurmConcurrency)
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
	if rec != nil {
		switch {
		case rec.SlurmJobID != 0:
			return h.report(ctx, log, sub, *rec, rev)
		case rec.Rejection != "":
			return h.sendRejection(ctx, sub, *rec, rev)
		}
		if rec.Holder != h.o.HolderID {
			age := h.o.Now().Sub(rec.ClaimedAt)
			if age < h.o.ClaimStaleAfter && h.o.HolderGone != nil && h.o.HolderGone(rec.Holder, sub.ID) {
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
		log.Warn("claim without slurm job id and no marked job in slurm: taking it over",
			"holder", rec.Holder, "claimed_at", rec.ClaimedAt)
	}

	p, rejection, err := h.prepare(ctx, sub)
	if err != nil {
		return retry(err)
	}
	if rejection != "" {
		return h.reject(ctx, sub, rejection, rev)
	}

	release, err := h.slurmSlot(ctx)
	if err != nil {
		return slotOutcome(err)
	}
	defer release()
	claim := Record{SubmissionID: sub.ID, Holder: h.o.HolderID, ClaimedAt: h.o.Now().UTC()}
	rev, err = h.claims.store(ctx, claim, rev)
	if errors.Is(err, errConflict) {
		return retryAfter(conflictRetry, err)
	}
	if err != nil {
		return retry(err)
	}

	sctx, cancel := context.WithTimeout(ctx, h.o.SubmitTimeout)
	res, err := h.o.Slurm.Submit(sctx, slurm.SubmitRequest{
		User: p.user, Dir: p.dir, Script: p.script, SubmissionID: int64(sub.ID),
	})
	cancel()
	// The slot bounds sbatch only: the record below is a KV write and the state read has read
	// slots of its own (newJobState), so the next sbatch need not wait for either.
	release()
	if err != nil {
		if msg, ok := sbatchRejection(err); ok {
			return h.reject(ctx, sub, msg, rev)
		}
		// The claim stays without job id: the next attempt reconciles by marker, since sbatch
		// may have created the job before failing (timeouts, unparsable output).
		return retry(fmt.Errorf("sbatch for submission %d: %w", sub.ID, err))
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
	jd, err := h.newJobState(ctx, res.JobID)
	return h.markSubmitted(ctx, log, sub, claim, rev, jd, err)
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

// reconcile looks for the job of a claim without job id in Slurm. found is true when the outcome
// is decided (a job was found and recorded, or an error must be retried); false means no job
// exists and the claim may be taken over with a CAS on rev.
func (h *Handler) reconcile(ctx context.Context, log *slog.Logger, sub *jobbergate.PendingSubmission, rec Record, rev uint64) (outcome, bool) {
	release, err := h.slurmSlot(ctx)
	if err != nil {
		return slotOutcome(err), true
	}
	defer release() // also on a panic, which the runner recovers
	jobs, err := h.o.Slurm.FindJobsBySubmission(ctx, int64(sub.ID))
	release()
	if err != nil {
		return retry(fmt.Errorf("reconcile submission %d with slurm: %w", sub.ID, err)), true
	}
	if len(jobs) == 0 {
		return outcome{}, false
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.JobID
	}
	slices.Sort(ids)
	if len(ids) > 1 {
		log.Error("several slurm jobs carry this submission's marker; reporting the lowest",
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
	return h.report(ctx, log, sub, rec, rev), true
}

// recordJobID writes the job id into the claim, retrying briefly: it runs even when ctx was
// cancelled after sbatch returned. A conflict is accepted only if the record already holds the
// same job id (someone reconciled it).
func (h *Handler) recordJobID(ctx context.Context, log *slog.Logger, rec Record, rev uint64) (uint64, error) {
	wctx := context.WithoutCancel(ctx)
	backoff := h.o.RecordBackoff
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
			time.Sleep(backoff)
			backoff *= 2
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
