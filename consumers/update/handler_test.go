package update

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

func runningJob(id int64) slurm.JobData {
	return slurm.JobData{JobID: id, JobState: "RUNNING", StateReason: "None",
		JobInfo: `{"job_id":` + strconv.FormatInt(id, 10) + `,"job_state":"RUNNING","last_sched_evaluation":1}`}
}

func addActive(e *env, status string, slurmID *int) int {
	return e.api.AddSubmission(jobbergatetest.Submission{Name: "s", OwnerEmail: "alice@example.com",
		ClientID: testClientID, Status: status, SlurmJobID: slurmID})
}

// Unchanged job data is not PUT again until RefreshCycles cycles have passed, and then in the
// submission's own slot ((cycle+id) mod RefreshCycles = 0): once in its slot, every
// RefreshCycles cycles. A change in a volatile field alone does not count, a change of state
// does.
func TestUnchangedStateNotResentUntilRefresh(t *testing.T) {
	sl := newFakeSlurm()
	e := newEnv(t, sl, func(o *Options) { o.RefreshCycles = 3 })
	e.start(t)
	sl.set(runningJob(501))
	id := addActive(e, "SUBMITTED", ptr2(501))
	puts := func() int { return e.api.Calls(http.MethodPut, agentPath+strconv.Itoa(id)) }

	var putCycles []int64
	for i := range 9 {
		if i == 1 {
			j := runningJob(501)
			j.JobInfo = strings.Replace(j.JobInfo, `"last_sched_evaluation":1`, `"last_sched_evaluation":2`, 1)
			sl.set(j)
		}
		before := puts()
		e.runCycle(t)
		if puts() > before {
			putCycles = append(putCycles, bridge.Cycle(e.clock.Now(), cycleLen))
		}
	}
	if len(putCycles) != 3 {
		t.Fatalf("PUT in cycles %v, want 3 PUTs in 9 cycles", putCycles)
	}
	for i, c := range putCycles[1:] {
		gap := c - putCycles[i]
		if gap < 3 || gap > 5 || (c+int64(id))%3 != 0 {
			t.Errorf("PUT in cycles %v: a refresh %d cycles after the last, want 3 to 5 and in the slot (cycle+%d) mod 3 = 0", putCycles, gap, id)
		}
	}
	if putCycles[2]-putCycles[1] != 3 {
		t.Errorf("PUT in cycles %v: once in its slot the period is 3", putCycles)
	}
	j := runningJob(501)
	j.JobState, j.StateReason = "COMPLETED", "None"
	sl.set(j)
	e.runCycle(t)
	if got := puts(); got != 4 {
		t.Fatalf("after a state change: %d PUTs, want 4", got)
	}
	if s := e.submission(t, id); s.Status != "DONE" {
		t.Fatalf("status %s, want DONE", s.Status)
	}
	if st := e.handler.Stats(); st.Skipped != 6 || st.Puts != 4 {
		t.Fatalf("stats %+v, want 4 puts and 6 skipped", st)
	}
}

// 409 (slurm id mismatch) and 400 (no longer updatable) terminate the message with the API's
// detail: it lands in DEAD and is not retried.
func TestConflictAndBadRequestLandInDead(t *testing.T) {
	sl := newFakeSlurm()
	e := newEnv(t, sl, nil)
	sl.set(runningJob(601))
	sl.set(runningJob(602))
	mismatch := addActive(e, "SUBMITTED", ptr2(601))
	finished := addActive(e, "SUBMITTED", ptr2(602))
	e.cycle(t) // published while no runner runs
	// The API's records change before the messages are handled.
	s := e.submission(t, mismatch)
	s.SlurmJobID = ptr2(699)
	e.api.AddSubmission(s)
	s = e.submission(t, finished)
	s.Status = "DONE"
	e.api.AddSubmission(s)
	e.start(t)
	e.drain(t)

	dead := e.deadLetters(t)
	cases := map[int]string{
		mismatch: "HTTP 409: Update slurm job id does not match the job id on record for job submission job_submission_id=" + strconv.Itoa(mismatch),
		finished: "HTTP 400: Only SUBMITTED or CANCELLED jobs may be updated by the agent, got DONE",
	}
	for id, want := range cases {
		if got := dead[strconv.Itoa(id)]; got != want {
			t.Errorf("dead letter of %d: reason %q, want %q", id, got, want)
		}
		if n := e.api.Calls(http.MethodPut, agentPath+strconv.Itoa(id)); n != 1 {
			t.Errorf("submission %d: %d PUTs, want exactly 1 (no retry)", id, n)
		}
	}
}

// 5xx answers retry and succeed later; a transient failure on every delivery ends in DEAD with
// the reason; 404 terminates at once.
func TestTransientFailuresRetryThenDead(t *testing.T) {
	sl := newFakeSlurm()
	e := newEnv(t, sl, nil)
	sl.set(runningJob(701))
	sl.set(runningJob(702))
	flaky := addActive(e, "SUBMITTED", ptr2(701))
	down := addActive(e, "SUBMITTED", ptr2(702))
	// The client itself tries twice per call; the queue delivers 3 times.
	e.api.FailNext(http.MethodPut, agentPath+strconv.Itoa(flaky), http.StatusServiceUnavailable, 2)
	e.api.FailNext(http.MethodPut, agentPath+strconv.Itoa(down), http.StatusBadGateway, 100)
	e.start(t)
	e.runCycle(t)
	if s := e.submission(t, flaky); s.SlurmJobState == nil || *s.SlurmJobState != "RUNNING" {
		t.Errorf("flaky submission not updated after a retry: %+v", s.SlurmJobState)
	}
	dead := e.deadLetters(t)
	if _, ok := dead[strconv.Itoa(flaky)]; ok {
		t.Errorf("flaky submission dead-lettered: %q", dead[strconv.Itoa(flaky)])
	}
	if r := dead[strconv.Itoa(down)]; !strings.Contains(r, "giving up after 3 deliveries") || !strings.Contains(r, "502") {
		t.Errorf("down submission: dead reason %q, want the last transient error", r)
	}
	if n := e.api.Calls(http.MethodPut, agentPath+strconv.Itoa(down)); n != 6 {
		t.Errorf("down submission: %d PUTs, want 6 (3 deliveries x 2 client attempts)", n)
	}
}

// A Slurm failure retries the batch's messages; when Slurm answers again they are reported.
func TestSlurmUnreachableRetries(t *testing.T) {
	sl := newFakeSlurm()
	e := newEnv(t, sl, nil)
	sl.set(runningJob(801))
	id := addActive(e, "SUBMITTED", ptr2(801))
	sl.mu.Lock()
	sl.readErr = errors.New("squeue: Unable to contact slurm controller (connect failure)")
	sl.mu.Unlock()
	e.start(t)
	e.cycle(t)
	testenv.Eventually(t, 10*time.Second, func() bool { sl.mu.Lock(); defer sl.mu.Unlock(); return sl.reads >= 1 }, "a slurm read")
	sl.mu.Lock()
	sl.readErr = nil
	sl.mu.Unlock()
	e.drain(t)
	if s := e.submission(t, id); s.SlurmJobState == nil || *s.SlurmJobState != "RUNNING" {
		t.Fatalf("not reported after Slurm came back: %+v", s.SlurmJobState)
	}
	if len(e.deadLetters(t)) != 0 {
		t.Fatalf("dead letters: %v", e.deadLetters(t))
	}
}

// A batch's jobs are read singly: one read per job of the batch, whatever else the cluster holds,
// and the next cycle reads them again.
func TestOneReadPerJobPerCycle(t *testing.T) {
	sl := newFakeSlurm()
	e := newEnv(t, sl, nil)
	for i := range 50 {
		sl.set(runningJob(int64(900 + i)))
		addActive(e, "SUBMITTED", ptr2(900+i))
	}
	for i := range 500 { // other users' jobs
		sl.set(runningJob(int64(5000 + i)))
	}
	e.cycle(t)
	e.start(t)
	e.drain(t)
	if st := e.handler.Stats(); st.SlurmReads != 50 || st.Puts != 50 {
		t.Fatalf("stats %+v: want 50 jobs read and 50 PUTs", st)
	}
	e.runCycle(t)
	if st := e.handler.Stats(); st.SlurmReads != 100 {
		t.Fatalf("stats %+v: want the 50 jobs read again in the second cycle", st)
	}
}

func TestNewHandlerRequiresDependencies(t *testing.T) {
	if _, err := NewHandler(Options{Slurm: newFakeSlurm()}); !errors.Is(err, ErrNoAPI) {
		t.Errorf("no API: %v", err)
	}
	if _, err := NewHandler(Options{API: nopUpdater{}}); !errors.Is(err, ErrNoSlurm) {
		t.Errorf("no Slurm: %v", err)
	}
}

type nopUpdater struct{}

func (nopUpdater) UpdateJob(context.Context, int, jobbergate.SlurmJobData) error { return nil }
