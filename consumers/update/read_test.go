package update

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/jobidentity"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// recordingUpdater is an Updater that keeps what it was sent. The handler's puts run at once;
// the test reads got after HandleBatch returns.
type recordingUpdater struct {
	mu  sync.Mutex
	got map[int]jobbergate.SlurmJobData
}

func (r *recordingUpdater) UpdateJob(_ context.Context, id int, d jobbergate.SlurmJobData) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[id] = d
	return nil
}

// batchOf returns one update message per (submission id, slurm job id) pair, all of cycle.
func batchOf(t *testing.T, cycle int64, pairs ...[2]int) []*consumers.Message {
	t.Helper()
	var msgs []*consumers.Message
	for _, p := range pairs {
		jid, st := p[1], jobbergate.StatusSubmitted
		data, err := json.Marshal(jobbergate.ActiveSubmission{ID: p[0], SlurmJobID: &jid, Status: &st})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, &consumers.Message{Subject: "update." + strconv.Itoa(p[0]), Data: data,
			Header: nats.Header{HeaderCycle: []string{strconv.FormatInt(cycle, 10)}}})
	}
	return msgs
}

// A job submitted after an earlier batch of the same cycle was handled is read, not taken for
// gone: with two bridges a cycle can be listed twice (the second leader lists it again), so a
// batch of a cycle may name jobs newer than any earlier read. Seen before the fix as live jobs
// reported UNKNOWN ("Slurm did not find a job matching id") and their submissions ABORTED.
func TestBatchOfACycleReadsJobsNewerThanTheCyclesFirstBatch(t *testing.T) {
	sl := newFakeSlurm()
	up := &recordingUpdater{got: map[int]jobbergate.SlurmJobData{}}
	h, err := NewHandler(Options{API: up, Slurm: sl})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sl.set(runningJob(1))
	decs := h.HandleBatch(ctx, batchOf(t, 7, [2]int{10, 1}))
	if !decs[0].IsAck() || up.got[10].JobState != "RUNNING" {
		t.Fatalf("first batch: %v, %+v", decs, up.got[10])
	}
	sl.set(runningJob(2)) // submitted after the first batch; listed by a second leader for cycle 7
	decs = h.HandleBatch(ctx, batchOf(t, 7, [2]int{20, 2}))
	if !decs[0].IsAck() || up.got[20].JobState != "RUNNING" || len(sl.gone) != 0 {
		t.Fatalf("second batch of cycle 7: %v, %+v, accounting asked for %v; want job 2 RUNNING", decs, up.got[20], sl.gone)
	}
	// A job slurmctld does not hold is asked of accounting, once, and reported from its answer.
	decs = h.HandleBatch(ctx, batchOf(t, 7, [2]int{30, 3}))
	if !decs[0].IsAck() || up.got[30].JobState != slurm.StateUnknown || !slices.Equal(sl.gone, []int64{3}) {
		t.Fatalf("gone job: %v, %+v, accounting asked for %v", decs, up.got[30], sl.gone)
	}
	if h.Stats().SlurmReads != 3 {
		t.Errorf("stats %+v: want 3 jobs read", h.Stats())
	}
}

// A job whose record Slurm printed but could not be read is neither reported nor taken for
// gone: its message is retried, the batch's other jobs are reported.
func TestBatchUnreadableJobIsNotGone(t *testing.T) {
	sl := newFakeSlurm()
	sl.set(runningJob(1))
	sl.set(runningJob(4))
	sl.unreadable = []int64{4}
	up := &recordingUpdater{got: map[int]jobbergate.SlurmJobData{}}
	h, err := NewHandler(Options{API: up, Slurm: sl})
	if err != nil {
		t.Fatal(err)
	}
	decs := h.HandleBatch(context.Background(), batchOf(t, 1, [2]int{10, 1}, [2]int{40, 4}))
	if !decs[0].IsAck() || !decs[1].IsRetry() {
		t.Fatalf("decisions %v: want job 1 acked and job 4 retried", decs)
	}
	if !strings.Contains(decs[1].Reason(), "unreadable job record") {
		t.Errorf("job 4's retry reason %q: want its parse error", decs[1].Reason())
	}
	if _, ok := up.got[40]; ok || up.got[10].JobState != "RUNNING" || len(sl.gone) != 0 {
		t.Fatalf("reported %+v, accounting asked for %v; want job 1 only and no accounting lookup", up.got, sl.gone)
	}
}

// Jobs reported before whose owner's listing shows the state and reason last reported are not
// read again (nor PUT) until their refresh is due; a changed job, one the listing does not show
// and one whose refresh is due are read. Owners with few such jobs are not listed.
func TestOwnerListingSkipsUnchangedJobs(t *testing.T) {
	h, sl, up, ids := newListingHandler(t, nil)
	var pairs [][2]int
	for i := range 60 { // alice's jobs 1000..1059 of submissions 1..60
		sub, jid := i+1, int64(1000+i)
		j := runningJob(jid)
		j.UserID, j.Comment = 1000, slurm.LegacyMarker(int64(sub))
		sl.set(j)
		ids[sub] = jobidentity.Record{SubmissionID: sub, SlurmJobID: jid, Owner: "alice", OwnerUID: 1000}
		pairs = append(pairs, [2]int{sub, int(jid)})
	}
	bob := runningJob(2000) // bob's one job: too few to list
	bob.UserID, bob.Comment = 2000, slurm.LegacyMarker(61)
	sl.set(bob)
	ids[61] = jobidentity.Record{SubmissionID: 61, SlurmJobID: 2000, Owner: "bob", OwnerUID: 2000}
	pairs = append(pairs, [2]int{61, 2000})
	ctx := context.Background()

	h.HandleBatch(ctx, batchOf(t, 1, pairs...))
	if st := h.Stats(); st.SlurmReads != 61 || st.Puts != 61 || st.OwnerListings != 0 {
		t.Fatalf("first cycle: %+v; want every job read and PUT, no listing", st)
	}
	changed := sl.jobs[1005]
	changed.JobState, changed.StateReason = "COMPLETING", "None"
	sl.set(changed)
	delete(sl.jobs, 1006) // left slurmctld: the listing does not show it, a read asks accounting
	before := h.Stats()
	decs := h.HandleBatch(ctx, batchOf(t, 2, pairs...))
	for i, d := range decs {
		if !d.IsAck() {
			t.Fatalf("decision %d: %v", i, d)
		}
	}
	st := h.Stats()
	wantReads := int64(2 + 1) // the changed and the gone job, bob's (no refresh due one cycle on)
	if st.OwnerListings != 1 || st.SlurmReads-before.SlurmReads != wantReads {
		t.Errorf("second cycle: %d listings, %d reads; want 1 listing and %d reads", st.OwnerListings, st.SlurmReads-before.SlurmReads, wantReads)
	}
	if up.got[6].JobState != "COMPLETING" || up.got[7].JobState != slurm.StateUnknown {
		t.Errorf("changed job reported %q, gone job %q; want COMPLETING and UNKNOWN", up.got[6].JobState, up.got[7].JobState)
	}
	// Ten cycles after the first report, the refreshes due in cycle 11 (slot (11+id) mod 10 = 0:
	// submissions 9, 19, ... 59) are read; the listing of the second cycle is reused.
	before = h.Stats()
	h.HandleBatch(ctx, batchOf(t, 11, pairs...))
	st = h.Stats()
	if st.OwnerListings != 1 || st.SlurmReads-before.SlurmReads != 6+1+1 {
		t.Errorf("cycle 11: %d listings, %d reads; want the listing reused and 8 reads (6 refreshes, the gone job, bob's)",
			st.OwnerListings, st.SlurmReads-before.SlurmReads)
	}
}

// After a start the tracker knows nothing, but the identity records hold what the submit path
// reported with SUBMITTED: jobs whose owner listing still shows that state and reason are
// neither read nor PUT, in the first cycle or later ones until their refresh; a job that
// changed since, or whose record lacks the report, is read and PUT.
func TestFirstCycleComparesWithTheSubmittedReport(t *testing.T) {
	h, sl, up, ids := newListingHandler(t, nil)
	var pairs [][2]int
	for i := range 40 {
		sub, jid := i+1, int64(3000+i)
		j := runningJob(jid)
		j.JobState, j.StateReason = "PENDING", "JobHeldUser"
		j.UserID, j.Comment = 1000, slurm.LegacyMarker(int64(sub))
		sl.set(j)
		ids[sub] = jobidentity.Record{SubmissionID: sub, SlurmJobID: jid, Owner: "alice", OwnerUID: 1000, State: "PENDING", Reason: "JobHeldUser"}
		pairs = append(pairs, [2]int{sub, int(jid)})
	}
	released := sl.jobs[3004] // released since it was submitted
	released.JobState, released.StateReason = "RUNNING", "None"
	sl.set(released)
	noReport := ids[6] // a record written before reports were recorded
	noReport.State, noReport.Reason = "", ""
	ids[6] = noReport
	ctx := context.Background()

	h.HandleBatch(ctx, batchOf(t, 1, pairs...))
	if st := h.Stats(); st.OwnerListings != 1 || st.SlurmReads != 2 || st.Puts != 2 || st.Skipped != 38 {
		t.Fatalf("first cycle: %+v; want 1 listing, the released job and the one without report read and PUT, 38 skipped", st)
	}
	if up.got[5].JobState != "RUNNING" || up.got[6].JobState != "PENDING" {
		t.Errorf("PUT %q for the released job and %q for the unreported one", up.got[5].JobState, up.got[6].JobState)
	}
	h.HandleBatch(ctx, batchOf(t, 2, pairs...))
	if st := h.Stats(); st.SlurmReads != 2 || st.Puts != 2 {
		t.Errorf("second cycle: %+v; want nothing read or PUT", st)
	}
}

// A batch with fewer of an owner's jobs than OwnerListingMin (the end of a cycle's messages)
// uses the owner's listing of an earlier batch while it is fresh, and makes none of its own.
func TestSmallBatchUsesAFreshListing(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1_800_000_000, 0))
	h, sl, _, ids := newListingHandler(t, clk.Now)
	var pairs [][2]int
	for i := range 30 {
		sub, jid := i+1, int64(4000+i)
		j := runningJob(jid)
		j.UserID, j.Comment = 1000, slurm.LegacyMarker(int64(sub))
		sl.set(j)
		ids[sub] = jobidentity.Record{SubmissionID: sub, SlurmJobID: jid, Owner: "alice", OwnerUID: 1000, State: "RUNNING", Reason: "None"}
		pairs = append(pairs, [2]int{sub, int(jid)})
	}
	ctx := context.Background()
	h.HandleBatch(ctx, batchOf(t, 1, pairs[:25]...)) // lists alice's jobs
	h.HandleBatch(ctx, batchOf(t, 1, pairs[25:]...)) // 5 jobs: the fresh listing serves
	if st := h.Stats(); st.OwnerListings != 1 || st.SlurmReads != 0 || st.Skipped != 30 {
		t.Fatalf("%+v: want one listing serving both batches, nothing read", st)
	}
	clk.Advance(6 * time.Second) // past ListingMaxAge: a small batch reads singly
	h.HandleBatch(ctx, batchOf(t, 2, pairs[25:]...))
	if st := h.Stats(); st.OwnerListings != 1 || st.SlurmReads != 5 {
		t.Fatalf("%+v: want the 5 jobs read singly once the listing aged", st)
	}
}

// newListingHandler returns a Handler that lists an owner's jobs from 20 of them in a batch and
// reads reported jobs again every 10 cycles, on a fake Slurm, a recording API and identities
// held in memory; now is its clock (nil: time.Now).
func newListingHandler(t *testing.T, now func() time.Time) (*Handler, *fakeSlurm, *recordingUpdater, identities) {
	t.Helper()
	sl := newFakeSlurm()
	up := &recordingUpdater{got: map[int]jobbergate.SlurmJobData{}}
	ids := identities{}
	h, err := NewHandler(Options{API: up, Slurm: sl, Identities: ids, RefreshCycles: 10, OwnerListingMin: 20, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return h, sl, up, ids
}
