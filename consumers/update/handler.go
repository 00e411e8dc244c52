package update

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/jobidentity"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// PendingCancelReason is the reason reported for a submission cancelled before a Slurm job was
// created (spec 9.3.1); the API then marks it ABORTED with this report message.
const PendingCancelReason = "Job was cancelled by the user before a slurm job was created"

// ErrNoAPI and ErrNoSlurm are returned by NewHandler when a dependency is missing.
var (
	ErrNoAPI   = errors.New("update: Options.API is required")
	ErrNoSlurm = errors.New("update: Options.Slurm is required")
)

// Slurm is what the handler needs from Slurm; *slurm.Client implements it. Methods may be called
// from several goroutines.
type Slurm interface {
	// JobStates reads the given jobs, each singly and after the call began (so a job missing
	// from slurmctld is gone), and jobs slurmctld no longer holds from accounting, else UNKNOWN;
	// its cost follows len(ids), not the cluster's job count. Ids it could not decide are
	// missing from the map and the error says why.
	JobStates(ctx context.Context, ids []int64) (map[int64]slurm.JobData, error)
	// OwnerStates lists the state and reason of every job of user uid that slurmctld holds,
	// with one call whose cost follows that user's jobs. A job it does not list may still
	// exist (the listing may be older than the job).
	OwnerStates(ctx context.Context, uid uint32) (map[int64]slurm.JobStatus, error)
	// Cancel runs scancel as the agent (jobs whose owner is not known).
	Cancel(ctx context.Context, id int64) error
	// CancelAs runs scancel as u: Slurm itself refuses a job that is not u's.
	CancelAs(ctx context.Context, u slurm.User, id int64) error
	// LookupUser resolves the local user a job's identity names.
	LookupUser(name string) (slurm.User, error)
}

// Identities gives the identity of a submission's job as the submit path recorded it;
// jobidentity.Store implements it. ok is false for jobs submitted before identities were
// recorded (by the Python agent, for one).
type Identities interface {
	Get(ctx context.Context, submissionID int) (rec jobidentity.Record, ok bool, err error)
}

// Updater reports job data to the API; *jobbergate.Client implements it.
type Updater interface {
	UpdateJob(ctx context.Context, id int, data jobbergate.SlurmJobData) error
}

// Options configures NewHandler. API and Slurm are required.
type Options struct {
	API   Updater
	Slurm Slurm
	// Identities, when set, is asked for the identity of every submission's job before its data
	// is reported or it is cancelled: a job id that is not the one recorded, or a job that is
	// not its owner's (or lacks its marker), is neither read out nor cancelled; the submission
	// is reported UNKNOWN with a reason saying why. Jobs without a record are checked only for
	// a marker of another submission in their comment.
	Identities Identities
	// RefreshCycles (UPDATE_REFRESH_CYCLES): an unchanged submission is PUT again once this
	// many cycles have passed since its last PUT; 1 sends every cycle. Default 10.
	RefreshCycles int
	// PutConcurrency bounds the PUTs in flight for one batch. Default 8.
	PutConcurrency int
	// OwnerListingMin: when a batch holds at least this many jobs of one owner that were
	// reported before and whose refresh is not due, that owner's jobs are listed with one
	// OwnerStates call and those whose state and reason are what was last reported are not
	// read (nor PUT); the others are read singly. A batch with fewer uses a listing of the
	// owner still fresh from an earlier batch (ListingMaxAge). Default 50 (a listing costs
	// slurmctld about as much as that many single reads on a busy cluster); negative: every
	// job is read.
	OwnerListingMin int
	// ListingMaxAge is how long one owner listing serves later batches. Only used to skip
	// reads of unchanged jobs, never to take a job for gone, so a change within that age is
	// reported one cycle later at worst. Default 5 s.
	ListingMaxAge time.Duration
	// ForgetAfter drops what is remembered about a submission not seen for that long (it was
	// handled by another agent, or left the active list). Default 1 h.
	ForgetAfter time.Duration
	// Now is the clock for forgetting; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Stats counts what a Handler did since it was created.
type Stats struct {
	// SlurmReads is the number of jobs read from Slurm (one single-job read each, plus one sacct
	// per batch for the jobs slurmctld no longer holds).
	SlurmReads int64
	// Cancels is the number of scancel calls.
	Cancels int64
	// OwnerListings counts OwnerStates calls (one squeue process each).
	OwnerListings int64
	// Puts counts UpdateJob calls; Skipped the updates left out because nothing changed
	// (whether or not the job was read).
	Puts, Skipped int64
}

// Handler is the update consumer's consumers.BatchHandler (see the package doc). It is safe for
// concurrent use, although the runner never overlaps two batches.
type Handler struct {
	api     Updater
	slurm   Slurm
	opts    Options
	log     *slog.Logger
	tracker *tracker

	listMu sync.Mutex
	lists  map[uint32]ownerListing

	slurmReads, cancels, puts, skipped, listings atomic.Int64
}

// ownerListing is one OwnerStates answer and when it was asked for.
type ownerListing struct {
	at     time.Time
	states map[int64]slurm.JobStatus
}

// NewHandler returns a Handler.
func NewHandler(opts Options) (*Handler, error) {
	if opts.API == nil {
		return nil, ErrNoAPI
	}
	if opts.Slurm == nil {
		return nil, ErrNoSlurm
	}
	if opts.RefreshCycles <= 0 {
		opts.RefreshCycles = 10
	}
	if opts.PutConcurrency <= 0 {
		opts.PutConcurrency = 8
	}
	if opts.OwnerListingMin == 0 {
		opts.OwnerListingMin = 50
	}
	if opts.ListingMaxAge <= 0 {
		opts.ListingMaxAge = 5 * time.Second
	}
	if opts.ForgetAfter <= 0 {
		opts.ForgetAfter = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = logging.Discard()
	}
	return &Handler{api: opts.API, slurm: opts.Slurm, opts: opts, log: log,
		tracker: newTracker(opts.RefreshCycles, opts.ForgetAfter), lists: map[uint32]ownerListing{}}, nil
}

// Stats returns the handler's counters.
func (h *Handler) Stats() Stats {
	return Stats{SlurmReads: h.slurmReads.Load(), Cancels: h.cancels.Load(), Puts: h.puts.Load(), Skipped: h.skipped.Load(),
		OwnerListings: h.listings.Load()}
}

// item is one message of a batch on its way through HandleBatch.
type item struct {
	idx    int
	msg    *consumers.Message
	sub    jobbergate.ActiveSubmission
	cycle  int64
	hasCyc bool
	data   jobbergate.SlurmJobData
	log    *slog.Logger
	ident  *jobidentity.Record // the recorded identity of its job; nil when none is known
}

func (it *item) slurmID() int64 {
	if it.sub.SlurmJobID == nil {
		return 0
	}
	return int64(*it.sub.SlurmJobID)
}

func (it *item) cancelled() bool {
	return it.sub.Status != nil && *it.sub.Status == jobbergate.StatusCancelled
}

// HandleBatch handles the messages of one batch and returns one decision per message.
func (h *Handler) HandleBatch(ctx context.Context, msgs []*consumers.Message) []consumers.Decision {
	decs := make([]consumers.Decision, len(msgs))
	now := h.opts.Now()
	var toCancel, toRead, toPut []*item
	for i, m := range msgs {
		it := &item{idx: i, msg: m}
		if err := json.Unmarshal(m.Data, &it.sub); err != nil {
			h.log.Error("undecodable update message", "subject", m.Subject, "error", err)
			decs[i] = consumers.Terminate("undecodable update message: " + err.Error())
			continue
		}
		if c, err := strconv.ParseInt(m.Header.Get(HeaderCycle), 10, 64); err == nil {
			it.cycle, it.hasCyc = c, true
		}
		it.log = h.log.With("submission_id", it.sub.ID)
		if it.sub.SlurmJobID != nil {
			it.log = it.log.With("slurm_job_id", *it.sub.SlurmJobID)
		}
		h.tracker.seen(it.sub.ID, it.slurmID(), now)
		if it.sub.SlurmJobID != nil && h.opts.Identities != nil {
			rec, ok, err := h.opts.Identities.Get(ctx, it.sub.ID)
			if err != nil {
				decs[i] = consumers.RetryUnlessLast(m, err)
				continue
			}
			if ok && rec.SlurmJobID != it.slurmID() {
				h.foreign(it, fmt.Sprintf("the agent submitted slurm job %d for this submission, not %d", rec.SlurmJobID, it.slurmID()))
				toPut = append(toPut, it)
				continue
			}
			if ok {
				it.ident = &rec
			}
		}
		switch {
		case it.sub.SlurmJobID == nil && it.cancelled():
			it.data = jobbergate.SlurmJobData{JobState: jobbergate.StateCancelled, JobInfo: "{}", StateReason: ptr(PendingCancelReason)}
			toPut = append(toPut, it)
		case it.sub.SlurmJobID == nil:
			it.log.Debug("active submission without a slurm job: nothing to update")
			decs[i] = consumers.Ack()
		case it.cancelled():
			toCancel = append(toCancel, it)
		default:
			toRead = append(toRead, it)
		}
	}

	for _, it := range toCancel {
		h.cancels.Add(1)
		if err := h.cancel(ctx, it); errors.Is(err, errNotOwners) {
			h.foreign(it, err.Error())
			toPut = append(toPut, it)
			continue
		} else if err != nil {
			it.log.Warn("scancel failed", "error", err)
			decs[it.idx] = consumers.RetryUnlessLast(it.msg, fmt.Errorf("cancel slurm job %d of submission %d: %w", it.slurmID(), it.sub.ID, err))
			continue
		}
		it.log.Info("slurm job cancelled as the user asked in the portal")
		toRead = append(toRead, it)
	}

	toRead = h.skipUnchanged(ctx, toRead, decs)
	if len(toRead) > 0 {
		ids := make([]int64, len(toRead))
		for i, it := range toRead {
			ids[i] = it.slurmID()
		}
		h.slurmReads.Add(int64(len(ids)))
		jobs, err := h.slurm.JobStates(ctx, ids)
		for _, it := range toRead {
			j, ok := jobs[it.slurmID()]
			if !ok {
				if err == nil {
					err = fmt.Errorf("slurm returned no data for job %d", it.slurmID())
				}
				it.log.Warn("reading slurm job state failed", "error", err)
				decs[it.idx] = consumers.RetryUnlessLast(it.msg, fmt.Errorf("read slurm job %d of submission %d: %w", it.slurmID(), it.sub.ID, err))
				continue
			}
			if err := it.check(j); err != nil {
				h.foreign(it, err.Error())
			} else {
				it.data = jobbergate.NewSlurmJobData(j.JobID, j.JobState, j.JobInfo, j.StateReason)
				ended(it, j)
			}
			toPut = append(toPut, it)
		}
	}

	h.putAll(ctx, toPut, decs)
	return decs
}

// cancel runs scancel for the item's job: as the owner its identity names (Slurm then refuses
// any job that is not theirs), or as the agent for a job whose owner is not known.
func (h *Handler) cancel(ctx context.Context, it *item) error {
	if it.ident == nil {
		return h.slurm.Cancel(ctx, it.slurmID())
	}
	u, err := h.slurm.LookupUser(it.ident.Owner)
	if err != nil {
		return fmt.Errorf("owner %s of slurm job %d: %w", it.ident.Owner, it.slurmID(), err)
	}
	if u.UID != it.ident.OwnerUID {
		return fmt.Errorf("owner %s of slurm job %d now has uid %d, not %d", u.Name, it.slurmID(), u.UID, it.ident.OwnerUID)
	}
	err = h.slurm.CancelAs(ctx, u, it.slurmID())
	var ce *slurm.CommandError
	if errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.Stderr), "permission denied") {
		return fmt.Errorf("%w: slurm refused to cancel it as %s: %s", errNotOwners, u.Name, strings.TrimSpace(ce.Stderr))
	}
	return err
}

// errNotOwners is a cancellation Slurm refused to the job's recorded owner: the job is not
// theirs.
var errNotOwners = errors.New("slurm job is not its recorded owner's")

// check returns an error when j, read for the item, is not the submission's job: for a known
// identity, a job of another owner or without the marker (accounting may lack comments, and the
// Python agent's jobs carry no marker: only the owner counts there); for any job, one whose comment carries a marker of another
// submission. A job Slurm does not know (UNKNOWN) carries nobody's data and passes.
func (it *item) check(j slurm.JobData) error {
	if j.JobState == slurm.StateUnknown && j.JobInfo == "{}" {
		return nil
	}
	if other, ok := slurm.MarkedSubmission(j.Comment); ok && other != int64(it.sub.ID) {
		return fmt.Errorf("slurm job %d carries the marker of submission %d", j.JobID, other)
	}
	if it.ident == nil {
		return nil
	}
	id := it.ident.Identity()
	if it.ident.Unmarked || (j.FromAccounting && j.Comment == "") {
		return id.CheckOwner(j)
	}
	if it.ident.Marker == "" {
		id.Marker = slurm.LegacyMarker(int64(it.sub.ID))
	}
	return id.Check(j)
}

// foreign makes the item's report the one of a job id that is not the submission's: state
// UNKNOWN (the portal ends the submission), no job data, and a reason saying why.
func (h *Handler) foreign(it *item, why string) {
	it.log.Error("security: the slurm job id the API has for this submission is not its job; nothing of that job is reported or cancelled", "reason", why)
	id := int(it.slurmID())
	it.data = jobbergate.SlurmJobData{JobID: &id, JobState: jobbergate.SlurmJobState(slurm.StateUnknown), JobInfo: "{}",
		StateReason: ptr(fmt.Sprintf("Slurm job %d is not this submission's job (%s); the agent reports nothing of it and does not cancel it", id, why))}
}

// skipUnchanged acks the items whose job an owner listing shows in the state and reason last
// reported (and whose refresh is not due), and returns the others, which must be read. What was
// last reported is the tracker's last PUT or, for a submission this process has not PUT yet,
// what the submit path reported with SUBMITTED (its identity record): so the first cycle after a
// start does not read and PUT every job again. Only owners with at least OwnerListingMin such
// items are listed (fewer are compared with a listing made for an earlier batch, if one is still
// fresh); a failed listing leaves their items to be read.
func (h *Handler) skipUnchanged(ctx context.Context, items []*item, decs []consumers.Decision) []*item {
	if h.opts.OwnerListingMin < 0 {
		return items
	}
	last := map[*item]slurm.JobStatus{}
	seeded := map[*item]bool{} // compared with the identity record's report, not a PUT of ours
	byOwner := map[uint32][]*item{}
	for _, it := range items {
		if it.ident == nil || it.cancelled() {
			continue
		}
		st, ok := h.tracker.lastReported(it.sub.ID, it.slurmID(), it.cycle, it.hasCyc)
		if !ok && it.hasCyc && it.ident.State != "" && !h.tracker.known(it.sub.ID, it.slurmID()) {
			st, ok = slurm.JobStatus{State: it.ident.State, Reason: it.ident.Reason}, true
			seeded[it] = true
		}
		if ok {
			last[it] = st
			byOwner[it.ident.OwnerUID] = append(byOwner[it.ident.OwnerUID], it)
		}
	}
	skip := map[*item]bool{}
	for uid, its := range byOwner {
		states, fresh := h.cachedStates(uid)
		if !fresh {
			if len(its) < h.opts.OwnerListingMin {
				continue // fewer reads than a listing costs
			}
			var err error
			if states, err = h.listOwner(ctx, uid); err != nil {
				h.log.Warn("listing an owner's job states failed: their jobs are read one by one", "uid", uid, "error", err)
				continue
			}
		}
		for _, it := range its {
			if st, ok := states[it.slurmID()]; ok && st == last[it] {
				skip[it] = true
			}
		}
	}
	if len(skip) == 0 {
		return items
	}
	out := make([]*item, 0, len(items)-len(skip))
	for _, it := range items {
		if !skip[it] {
			out = append(out, it)
			continue
		}
		if seeded[it] {
			h.tracker.seed(it.sub.ID, it.slurmID(), last[it], it.cycle)
		}
		h.skipped.Add(1)
		it.log.Debug("job state and reason unchanged in its owner's listing: not read, not sent")
		decs[it.idx] = consumers.Ack()
	}
	return out
}

// cachedStates returns uid's job states from a listing at most ListingMaxAge old, if there is one.
func (h *Handler) cachedStates(uid uint32) (map[int64]slurm.JobStatus, bool) {
	h.listMu.Lock()
	defer h.listMu.Unlock()
	l, ok := h.lists[uid]
	if !ok || h.opts.Now().Sub(l.at) > h.opts.ListingMaxAge {
		return nil, false
	}
	return l.states, true
}

// listOwner lists uid's job states with one OwnerStates call and keeps the listing for later
// batches (cachedStates), forgetting the listings older than ListingMaxAge.
func (h *Handler) listOwner(ctx context.Context, uid uint32) (map[int64]slurm.JobStatus, error) {
	now := h.opts.Now()
	h.listings.Add(1)
	states, err := h.slurm.OwnerStates(ctx, uid)
	if err != nil {
		return nil, err
	}
	h.listMu.Lock()
	defer h.listMu.Unlock()
	for k, v := range h.lists {
		if now.Sub(v.at) > h.opts.ListingMaxAge {
			delete(h.lists, k)
		}
	}
	h.lists[uid] = ownerListing{at: now, states: states}
	return states, nil
}

// putAll sends the PUTs of items (skipping unchanged ones) with bounded concurrency and fills in
// their decisions.
func (h *Handler) putAll(ctx context.Context, items []*item, decs []consumers.Decision) {
	sem := make(chan struct{}, h.opts.PutConcurrency)
	var wg sync.WaitGroup
	for _, it := range items {
		same, fp := h.tracker.unchanged(it.sub.ID, it.data, it.cycle, it.hasCyc)
		if same {
			h.skipped.Add(1)
			it.log.Debug("job data unchanged since the last report: not sent", "slurm_job_state", it.data.JobState)
			decs[it.idx] = consumers.Ack()
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			decs[it.idx] = h.put(ctx, it, fp)
		}()
	}
	wg.Wait()
}

func (h *Handler) put(ctx context.Context, it *item, fp fingerprint) consumers.Decision {
	h.puts.Add(1)
	err := h.api.UpdateJob(ctx, it.sub.ID, it.data)
	if err == nil {
		h.tracker.put(it.sub.ID, fp, it.cycle, it.hasCyc, it.data)
		it.log.Debug("job data reported", "slurm_job_state", it.data.JobState)
		if it.data.JobState.IsTerminal() {
			it.log.Info("final job state reported", "slurm_job_state", it.data.JobState,
				"status", jobbergate.StatusAfterUpdate(jobbergate.StatusSubmitted, it.data.JobState))
		}
		return consumers.Ack()
	}
	dec := apiDecision(it.msg, err)
	if dec.IsTerminate() {
		h.tracker.forget(it.sub.ID)
		it.log.Error("job data update refused by the API: message dead-lettered", "reason", dec.Reason())
	} else {
		it.log.Warn("job data update failed: will retry", "error", err)
	}
	return dec
}

// ended makes the report of a job slurmctld no longer holds (read from accounting) final: a
// state the API does not end a submission with (OUT_OF_MEMORY) would leave the submission
// SUBMITTED for ever, so it is reported UNKNOWN, as the reference does once Slurm forgets the
// job, with the job's real final state and reason in the reason.
func ended(it *item, j slurm.JobData) {
	if !j.FromAccounting || it.data.JobState.IsTerminal() {
		return
	}
	reason := fmt.Sprintf("The job ended %s", j.JobState)
	if j.StateReason != "" && j.StateReason != "None" {
		reason += " (" + j.StateReason + ")"
	}
	it.data.JobState = jobbergate.SlurmJobState(slurm.StateUnknown)
	it.data.StateReason = ptr(reason + "; Slurm no longer holds it")
}

func ptr[T any](v T) *T { return &v }
