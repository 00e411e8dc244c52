package submit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

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
	// owners bounds what one owner's deliveries hold (see ownerLimits); nil without a bound.
	owners *ownerLimits
	// budget bounds the bytes of job-script files held in memory at once (DownloadBudget).
	budget *semaphore.Weighted
}

var _ consumers.Handler = (*Handler)(nil)

// NewHandler applies the defaults to opts, validates them and returns a Handler.
func NewHandler(opts Options) (*Handler, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
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
			// One owner's admitted deliveries hold at most half of the runner's slots
			// (InFlight), as many as keep its share of the Slurm slots fed; all owners' together
			// at most InFlight, however many waited without a slot. An owner's waiting
			// deliveries hold no slot, and at most OwnerWaiting of them wait; at most half of
			// the download budget is one owner's.
			inFlight := InFlight(opts.SlurmConcurrency)
			admitted := min(2*opts.SlurmConcurrency, inFlight/2)
			bytes := max(opts.DownloadBudget/2, min(opts.MaxFileBytes, opts.DownloadBudget))
			h.owners = newOwnerLimits(admitted, inFlight, opts.OwnerWaiting, perOwner, bytes, opts.Now)
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

// deferred is the outcome of a delivery whose owner's share is in use: it waits its turn in the
// queue, for wait, without counting as a failed delivery (consumers.Defer).
func deferred(wait time.Duration, err error) outcome {
	return outcome{dec: consumers.Defer(wait, err.Error()), what: "deferred"}
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
	d := &delivery{Handler: h, sub: &sub, log: log}
	if !h.enter(sub.ID) {
		log.Info("submission already being handled by this process; retrying later")
		return consumers.RetryAfter(busyRetry, fmt.Errorf("submission %d is being handled by this process", sub.ID))
	}
	defer h.leave(sub.ID)

	if msg.LastAttempt() {
		// Giving up at shutdown would dead-letter it: wait for a slot within the grace period.
		ctx = consumers.WithStopping(ctx, nil)
	}
	out := d.handle(ctx)
	if out.dec.IsRetry() && msg.LastAttempt() {
		out = terminate(out.dec.Reason(), out.jobID)
	}
	attrs := []any{"slurm_job_id", out.jobID, "outcome", out.what, "decision", out.dec.String(), "delivery", msg.NumDelivered}
	switch {
	case out.dec.IsTerminate():
		log.Error("submit message dead-lettered", attrs...)
	case out.what == leftAtShutdown:
		log.Info("submit message left for redelivery: shutting down before its sbatch", attrs...)
	case out.dec.IsDefer():
		log.Info("submit message deferred: its owner's other submissions hold the owner's share", attrs...)
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
