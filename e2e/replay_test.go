package e2e

import (
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

const (
	replaySubmissions = 200
	replayKills       = 5
	replayMinKills    = 3
	// replayScript is the second run's job script: its jobs must run it, not the first run's.
	replayScript = "#!/bin/sh\n#SBATCH --time=1\n#SBATCH --output=/dev/null\necho second run\n"
)

// TestReplay runs the same submission ids twice against one Slurm, as after a Jobbergate
// database restore, or with a staging and a production Jobbergate on one cluster: 200
// submissions are submitted by a first agent, whose held jobs stay in Slurm; the development
// API is then reset to the same ids with a new job script, and a second agent with a state of
// its own submits them while it is SIGKILLed at least 3 times. Every submission of the second
// run must have a new job of its own (its owner's, running the new script), none may adopt a
// first-run job, and none may be submitted twice: each id has exactly its first-run job and its
// second-run job in Slurm.
func TestReplay(t *testing.T) {
	w := newWorld(t, "e2e-replay")
	ids := w.addSubmissions(replaySubmissions, crashArgs)
	first := newAgent(t, "first-run", w.agentEnv(t.TempDir()))
	first.start()
	testenv.Eventually(t, crashTimeout, func() bool {
		return w.statusCounts(ids)[jobbergatetest.StatusSubmitted] == len(ids)
	}, "first run: submissions not all SUBMITTED: %v", testenv.Lazy(func() string { return fmtCounts(w.statusCounts(ids)) }))
	first.stop()
	firstJob := map[int]int64{}
	for _, id := range ids {
		s, _ := w.api.Submission(id)
		firstJob[id] = int64(*s.SlurmJobID)
	}

	scripts := map[string]int{}
	for _, name := range owners {
		scripts[name] = w.api.AddJobScript(jobbergatetest.JobScript{Name: "e2e-replay-" + name, OwnerEmail: email(name),
			Files: []jobbergatetest.File{{Filename: "job.sh", FileType: jobbergatetest.FileTypeEntrypoint, Content: []byte(replayScript)}}})
	}
	for i, id := range ids {
		u := owners[i%len(owners)]
		dir := w.dirs[u]
		w.api.AddSubmission(jobbergatetest.Submission{ID: id, Name: "e2e-replay-" + strconv.Itoa(id), OwnerEmail: email(u),
			ClientID: w.clientID, JobScriptID: scripts[u], ExecutionDirectory: &dir, SbatchArguments: crashArgs})
	}
	// One sbatch at a time and downloads 100 ms away: the second run lasts long enough for its
	// kills, each of which waits for the restarted agent to finish a submission (without them
	// the 200 take two seconds).
	w.api.DelayNext(http.MethodGet, "/jobbergate/job-scripts/", 100*time.Millisecond, 10*replaySubmissions)
	second := newAgent(t, "second-run", w.agentEnv(t.TempDir(), "SUBMIT_CONCURRENCY=1"))
	second.start()
	killWhileWorking(t, w, ids, second, []*agentProc{second}, replayKills, replayMinKills)
	second.stop()

	marked, err := w.markedJobs(ids)
	if err != nil {
		t.Fatal(err)
	}
	adopted, twice := 0, 0
	for _, id := range ids {
		s, _ := w.api.Submission(id)
		if s.Status != jobbergatetest.StatusSubmitted || s.SlurmJobID == nil {
			t.Errorf("submission %d: status %s, slurm id %v, message %q", id, s.Status, deref(s.SlurmJobID), derefS(s.ReportMessage))
			continue
		}
		got := int64(*s.SlurmJobID)
		var jobs []int64
		for _, j := range marked[id] {
			jobs = append(jobs, j.JobID)
		}
		slices.Sort(jobs)
		want := []int64{firstJob[id], got}
		slices.Sort(want)
		switch {
		case got == firstJob[id]:
			adopted++
			t.Errorf("submission %d: the second run reported the first run's job %d", id, got)
		case !slices.Equal(jobs, want):
			twice++
			t.Errorf("submission %d: jobs with its markers %v, want the first run's %d and the reported %d", id, jobs, firstJob[id], got)
		}
		for _, j := range marked[id] {
			if j.JobID == got && j.UserName != w.ownerOf(s) {
				t.Errorf("submission %d: job %d is %s's, want %s's", id, got, j.UserName, w.ownerOf(s))
			}
		}
	}
	// Every reported job runs the second run's script and is its owner's.
	checked := 0
	for i, id := range ids {
		if i%10 != 0 { // a sample: one scontrol per job
			continue
		}
		s, _ := w.api.Submission(id)
		if s.SlurmJobID == nil {
			continue
		}
		out, err := exec.Command("scontrol", "write", "batch_script", strconv.Itoa(*s.SlurmJobID), "-").Output()
		if err != nil || !strings.Contains(string(out), "echo second run") {
			t.Errorf("submission %d: job %d runs %q (%v), want the second run's script", id, *s.SlurmJobID, out, err)
		}
		checked++
	}
	t.Logf("second run: %d submissions, %d adopted a first-run job, %d with other than one new job; %d scripts checked",
		len(ids), adopted, twice, checked)
	for _, a := range []*agentProc{second} {
		t.Logf("%s: %d claims reconciled from a marked job", a.name, a.countInLogs(reconciled, 1, a.startCount()))
	}
}

func fmtCounts(c map[string]int) string {
	var parts []string
	for k, v := range c {
		parts = append(parts, k+"="+strconv.Itoa(v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
