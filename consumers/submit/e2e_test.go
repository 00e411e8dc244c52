package submit

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

var heldArgs = []string{"--hold", "--job-name=jbg-submit-e2e"}

const jobScript = "#!/bin/sh\n#SBATCH --time=1\necho hello\n"

// TestEndToEndFiftySubmissions: 50 submissions for alice and bob, through the bridge poller,
// the SUBMIT stream and the runner, end SUBMITTED with the id of the Slurm job that carries
// their marker; the jobs belong to the right users and the files are in place, owned by them.
func TestEndToEndFiftySubmissions(t *testing.T) {
	e := newE2E(t, nil)
	aliceDir := e.tempDir(e.users["alice"].UID, e.users["alice"].GID, 0o700)
	type want struct {
		user, dir, entry, support string
	}
	wants := map[int]want{}
	var ids []int
	for i := range 50 {
		email, user, dir := "alice@example.com", "alice", &aliceDir
		if i%2 == 1 {
			email, user, dir = "bob@example.com", "bob", nil // bob uses DefaultWorkDir
		}
		entry, support := fmt.Sprintf("job-%d.sh", i), fmt.Sprintf("input-%d.txt", i)
		id, _ := e.add(email, dir, heldArgs, entryScript(entry, jobScript, support))
		d := filepath.Join(e.base, user)
		if dir != nil {
			d = *dir
		}
		wants[id] = want{user: user, dir: d, entry: entry, support: support}
		ids = append(ids, id)
	}
	start := time.Now()
	e.poll()
	e.run(e.handler("node-a/1"), 8)
	final := e.waitFinal(ids, 3*time.Minute)
	t.Logf("50 submissions SUBMITTED in %s", time.Since(start).Round(time.Millisecond))

	marked := e.markedJobs(ids)
	var jobIDs []int64
	for _, id := range ids {
		s, w := final[id], wants[id]
		if s.Status != jobbergatetest.StatusSubmitted || s.SlurmJobID == nil {
			t.Fatalf("submission %d: status %s slurm id %v report %v", id, s.Status, s.SlurmJobID, deref(s.ReportMessage))
		}
		jobs := marked[id]
		if len(jobs) != 1 || jobs[0].JobID != int64(*s.SlurmJobID) {
			t.Fatalf("submission %d reported job %d; marked jobs in slurm %+v", id, *s.SlurmJobID, jobs)
		}
		if s.SlurmJobState == nil || *s.SlurmJobState != "PENDING" {
			t.Errorf("submission %d state %v, want PENDING (held)", id, deref(s.SlurmJobState))
		}
		jobIDs = append(jobIDs, int64(*s.SlurmJobID))
		if jobs[0].UserName != w.user {
			t.Errorf("job %d of submission %d belongs to %q, want %q", jobs[0].JobID, id, jobs[0].UserName, w.user)
		}
		uid, content := fileOwner(t, filepath.Join(w.dir, w.entry))
		if uid != e.users[w.user].UID || !strings.Contains(content, "#SBATCH --hold") || !strings.Contains(content, slurm.InjectionHeader) {
			t.Errorf("%s: uid %d (want %d), content %q", w.entry, uid, e.users[w.user].UID, content)
		}
		if uid, _ := fileOwner(t, filepath.Join(w.dir, w.support)); uid != e.users[w.user].UID {
			t.Errorf("%s: uid %d, want %d", w.support, uid, e.users[w.user].UID)
		}
	}
	states, err := e.sl.JobStates(context.Background(), jobIDs)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		j := states[int64(*final[id].SlurmJobID)]
		if j.UserName != wants[id].user || j.CurrentWorkingDirectory != wants[id].dir {
			t.Errorf("job %d: user %q cwd %q, want %q %q", j.JobID, j.UserName, j.CurrentWorkingDirectory, wants[id].user, wants[id].dir)
		}
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// TestEndToEndRejections: each permanent cause ends REJECTED with a message naming it, and no
// job exists for any of them.
func TestEndToEndRejections(t *testing.T) {
	e := newE2E(t, nil)
	alice := e.users["alice"]
	aliceDir := e.tempDir(alice.UID, alice.GID, 0o700)
	rootDir := e.tempDir(0, 0, 0o755)
	missing := filepath.Join(aliceDir, "does-not-exist")
	rel := "relative/dir"
	ok := entryScript("job.sh", jobScript)
	cases := []struct {
		name  string
		email string
		dir   *string
		args  []string
		sc    script
		want  string
	}{
		{"unmapped email", "nobody@example.com", &aliceDir, heldArgs, ok,
			"Username could not be resolved from owner email: no user with mail nobody@example.com"},
		{"relative dir", "alice@example.com", &rel, heldArgs, ok,
			`Execution directory is invalid -- Execution directory must be an absolute path: "relative/dir"`},
		{"missing dir", "alice@example.com", &missing, heldArgs, ok,
			"Execution directory is invalid -- Execution directory does not exist or is not writable by the user: " + missing},
		{"unwritable dir", "alice@example.com", &rootDir, heldArgs, ok,
			"Execution directory is invalid -- Execution directory does not exist or is not writable by the user: " + rootDir},
		{"unknown local user", "ghost@example.com", &aliceDir, heldArgs, ok,
			`Execution directory is invalid -- look up user "ghost": unknown local user`},
		{"root", "root@example.com", &aliceDir, heldArgs, ok,
			"Execution directory is invalid -- user \"root\": refusing to run commands as root (uid 0)"},
		{"no entrypoint", "alice@example.com", &aliceDir, heldArgs, script{files: map[string]string{"a.txt": "x"}, order: []string{"a.txt"}, noEntry: true},
			"Error processing job-script files -- Could not find an executable script in retrieved job script data."},
		{"file 404", "alice@example.com", &aliceDir, heldArgs, entryScript("job.sh", jobScript, "gone.txt"),
			`Error processing job-script files -- Failed to download file "gone.txt" of job script`},
		{"bad partition", "alice@example.com", &aliceDir, append([]string{"--partition=nosuch"}, heldArgs...), ok,
			"Failed to submit job to slurm -- sbatch: error: invalid partition specified: nosuch"},
	}
	ids := make([]int, len(cases))
	scripts := make([]int, len(cases))
	for i, c := range cases {
		ids[i], scripts[i] = e.add(c.email, c.dir, c.args, c.sc)
	}
	// Publish, then delete gone.txt from its job script so that its download answers 404.
	st := e.poller.Cycle(context.Background())
	if st.Published != len(cases) {
		t.Fatalf("published %+v, want %d", st, len(cases))
	}
	for i, c := range cases {
		if c.name == "file 404" {
			e.api.AddJobScript(jobbergatetest.JobScript{ID: scripts[i], Name: "js", OwnerEmail: c.email,
				Files: []jobbergatetest.File{{Filename: "job.sh", FileType: jobbergatetest.FileTypeEntrypoint, Content: []byte(jobScript)}}})
		}
	}
	e.run(e.handler("node-a/1"), 4)
	final := e.waitFinal(ids, time.Minute)
	for i, c := range cases {
		s := final[ids[i]]
		msg := deref(s.ReportMessage)
		if s.Status != jobbergatetest.StatusRejected || !strings.HasPrefix(msg, c.want) {
			t.Errorf("%s: status %s, report %q, want REJECTED with a message starting %q", c.name, s.Status, msg, c.want)
		}
	}
	if c := cases[len(cases)-1]; !strings.Contains(deref(final[ids[len(ids)-1]].ReportMessage), "Invalid partition name specified") {
		t.Errorf("%s: report lacks sbatch's own message: %q", c.name, deref(final[ids[len(ids)-1]].ReportMessage))
	}
	if jobs := e.markedJobs(ids); len(jobs) != 0 {
		t.Errorf("rejected submissions have jobs: %+v", jobs)
	}
}

// TestEndToEndAPIOutage: the API answers 503 to everything for a while in the middle of a
// burst, then the submitted reports fail a few more times; nothing is rejected, everything ends
// SUBMITTED with exactly one job each.
func TestEndToEndAPIOutage(t *testing.T) {
	e := newE2E(t, func(l *broker.Limits) { l.MaxDeliver = 40 })
	alice := e.users["alice"]
	dir := e.tempDir(alice.UID, alice.GID, 0o700)
	var ids []int
	for i := range 20 {
		id, _ := e.add("alice@example.com", &dir, heldArgs, entryScript(fmt.Sprintf("job-%d.sh", i), jobScript))
		ids = append(ids, id)
	}
	if st := e.poller.Cycle(context.Background()); st.Published != 20 {
		t.Fatalf("published %+v", st)
	}
	// The first reports after the outage fail too: the jobs then exist and must only be
	// re-reported, never submitted again.
	e.api.FailNext("POST", "/jobbergate/job-submissions/agent/submitted", 503, 10)
	e.out.on.Store(true)
	outageEnds := time.AfterFunc(8*time.Second, func() { e.out.on.Store(false) })
	defer outageEnds.Stop()
	e.poll()
	e.run(e.handler("node-a/1"), 8)
	final := e.waitFinal(ids, 3*time.Minute)
	if e.out.served.Load() < 20 {
		t.Fatalf("only %d requests met the outage", e.out.served.Load())
	}
	marked := e.markedJobs(ids)
	for _, id := range ids {
		s := final[id]
		if s.Status != jobbergatetest.StatusSubmitted || len(marked[id]) != 1 || int64(*s.SlurmJobID) != marked[id][0].JobID {
			t.Errorf("submission %d: %s %q, jobs %+v", id, s.Status, deref(s.ReportMessage), marked[id])
		}
	}
	if n := e.api.Calls("POST", "/jobbergate/job-submissions/agent/rejected"); n != 0 {
		t.Errorf("%d reject calls", n)
	}
	t.Logf("outage: %d requests answered 503; %d submitted calls for 20 submissions", e.out.served.Load(),
		e.api.Calls("POST", "/jobbergate/job-submissions/agent/submitted"))
}

// publishCopy publishes submission id's payload once more under another Msg-Id (a duplicate the
// dedupe window does not catch). SUBMIT keeps one waiting message per subject, so each copy
// goes to its own subject below the submission's: the handler must still submit only once,
// whatever brought the duplicate in.
func (e *e2e) publishCopy(id int, msgID string) {
	e.t.Helper()
	subs, err := e.client.PendingSubmissions(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range subs {
		if s.ID != id {
			continue
		}
		b, _ := json.Marshal(s)
		m := nats.NewMsg(e.topo.Submit.Subject(fmt.Sprint(id) + "." + msgID))
		m.Data = b
		m.Header.Set(broker.HeaderSubmissionID, fmt.Sprint(id))
		if _, err := e.b.JS.PublishMsg(context.Background(), m, jetstream.WithMsgID(msgID)); err != nil {
			e.t.Fatal(err)
		}
		return
	}
	e.t.Fatalf("submission %d not pending", id)
}

func (e *e2e) waitDrained() {
	e.t.Helper()
	testenv.Eventually(e.t, time.Minute, func() bool {
		s, err := e.b.JS.Stream(context.Background(), e.topo.Submit.Stream)
		if err != nil {
			return false
		}
		info, err := s.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	}, "SUBMIT stream not drained")
}

// TestEndToEndDuplicateDeliveries: the same submission enqueued four times (different Msg-Ids)
// and handled by two "processes" (two runners, two holders) yields one job.
func TestEndToEndDuplicateDeliveries(t *testing.T) {
	e := newE2E(t, nil)
	alice := e.users["alice"]
	dir := e.tempDir(alice.UID, alice.GID, 0o700)
	id, _ := e.add("alice@example.com", &dir, heldArgs, entryScript("job.sh", jobScript))
	for i := range 4 {
		e.publishCopy(id, fmt.Sprintf("copy-%d", i))
	}
	e.run(e.handler("node-a/1"), 4)
	e.run(e.handler("node-b/2"), 4)
	final := e.waitFinal([]int{id}, time.Minute)
	e.waitDrained()
	jobs := e.markedJobs([]int{id})[id]
	if final[id].Status != jobbergatetest.StatusSubmitted || len(jobs) != 1 || jobs[0].JobID != int64(*final[id].SlurmJobID) {
		t.Fatalf("status %s job %v; marked jobs %+v", final[id].Status, final[id].SlurmJobID, jobs)
	}
}

// putClaim writes a claim without job id, as a crashed process would have left it.
func (e *e2e) putClaim(rec Record) {
	e.t.Helper()
	b, _ := json.Marshal(rec)
	if _, err := claimsBucket(e.t, e.b, e.topo).Create(context.Background(), RecordKey(rec.SubmissionID), b); err != nil {
		e.t.Fatal(err)
	}
}

// TestEndToEndCrashedClaims: a claim without job id left by a crashed process is reconciled
// against the real Slurm by owner and marker. A job of the claim (sbatch ran, the id was never
// recorded) is reported without a second sbatch, for claims of this version and for claims and
// jobs of versions before random markers. A job is never adopted when it carries another marker
// of the same submission (an earlier run against this Slurm) or when another user planted the
// claim's own marker in a job of theirs: the owner then gets a job of their own, once.
func TestEndToEndCrashedClaims(t *testing.T) {
	e := newE2E(t, nil)
	alice, bob := e.users["alice"], e.users["bob"]
	dir := e.tempDir(alice.UID, alice.GID, 0o700)
	bobDir := e.tempDir(bob.UID, bob.GID, 0o700)
	withJob, _ := e.add("alice@example.com", &dir, heldArgs, entryScript("a.sh", jobScript))
	noJob, _ := e.add("alice@example.com", &dir, heldArgs, entryScript("b.sh", jobScript))
	legacy, _ := e.add("alice@example.com", &dir, heldArgs, entryScript("c.sh", jobScript))
	earlierRun, _ := e.add("alice@example.com", &dir, heldArgs, entryScript("d.sh", jobScript))
	planted, _ := e.add("alice@example.com", &dir, heldArgs, entryScript("e.sh", jobScript))
	finished, _ := e.add("alice@example.com", &dir, heldArgs, entryScript("f.sh", jobScript))
	// Stale (older than ClaimStaleAfter) and younger than MinJobAge.
	at := time.Now().Add(-3 * time.Minute)
	uid := alice.UID
	claim := func(id int, withMarker bool) Record {
		r := Record{SubmissionID: id, Holder: "crashed-node/99", ClaimedAt: at}
		if withMarker {
			m, err := slurm.NewMarker(int64(id))
			if err != nil {
				t.Fatal(err)
			}
			r.Marker, r.Owner, r.OwnerUID = m, alice.Name, &uid
		}
		return r
	}
	submit := func(u slurm.User, d string, sub int, marker string, extra ...string) int64 {
		res, err := e.sl.Submit(context.Background(), slurm.SubmitRequest{User: u, Dir: d, Script: []byte(jobScript),
			SubmissionID: int64(sub), Marker: marker, ExtraArgs: append(extra, heldArgs...)})
		if err != nil {
			t.Fatal(err)
		}
		return res.JobID
	}

	// The crashed processes had run sbatch for withJob (this version) and legacy (an earlier one).
	cWith, cNo, cLegacy, cEarlier, cPlanted := claim(withJob, true), claim(noJob, true), claim(legacy, false), claim(earlierRun, true), claim(planted, true)
	cFinished := claim(finished, true)
	crashedJob := submit(alice, dir, withJob, cWith.Marker)
	// The crashed process's sbatch for finished made a job that ended before the restart: from
	// Slurm 24.11 on, squeue lists it only when asked for every state.
	res, err := e.sl.Submit(context.Background(), slurm.SubmitRequest{User: alice, Dir: dir, Script: []byte("#!/bin/sh\ntrue\n"),
		SubmissionID: int64(finished), Marker: cFinished.Marker, ExtraArgs: []string{"--output=/dev/null", "--job-name=jbg-submit-e2e"}})
	if err != nil {
		t.Fatal(err)
	}
	finishedJob := res.JobID
	testenv.Eventually(t, 90*time.Second, func() bool {
		j, err := e.sl.JobState(context.Background(), finishedJob)
		return err == nil && j.JobState == "COMPLETED"
	}, "job %d COMPLETED", finishedJob)
	legacyJob := submit(alice, dir, legacy, "", "--comment="+slurm.LegacyMarker(int64(legacy)))
	// An earlier run against this Slurm left a job of earlierRun with that claim's marker.
	earlier, err := slurm.NewMarker(int64(earlierRun))
	if err != nil {
		t.Fatal(err)
	}
	earlierJob := submit(alice, dir, earlierRun, earlier)
	// Bob copies the marker of planted's claim into a job of his.
	bobJob := submit(bob, bobDir, planted, cPlanted.Marker)
	for _, c := range []Record{cWith, cNo, cLegacy, cEarlier, cPlanted, cFinished} {
		e.putClaim(c)
	}

	e.poll()
	e.run(e.handler("node-a/1"), 4)
	ids := []int{withJob, noJob, legacy, earlierRun, planted, finished}
	final := e.waitFinal(ids, time.Minute)
	marked := e.markedJobs(ids)
	for _, c := range []struct {
		name string
		id   int
		want int64 // the job to report; 0: a new one
		not  int64 // a job that must not be reported
	}{
		{"claim with job", withJob, crashedJob, 0},
		{"claim without job", noJob, 0, 0},
		{"claim and job of an earlier version", legacy, legacyJob, 0},
		{"job of an earlier run", earlierRun, 0, earlierJob},
		{"marker planted by another user", planted, 0, bobJob},
		{"job finished before the restart", finished, finishedJob, 0},
	} {
		s := final[c.id]
		if s.Status != jobbergatetest.StatusSubmitted || s.SlurmJobID == nil {
			t.Errorf("%s: status %s id %v", c.name, s.Status, s.SlurmJobID)
			continue
		}
		got := int64(*s.SlurmJobID)
		switch {
		case c.want != 0 && got != c.want:
			t.Errorf("%s: reported job %d, want %d", c.name, got, c.want)
		case c.want == 0 && (got == c.not || len(marked[c.id]) != 1+btoi(c.not != 0)):
			t.Errorf("%s: reported job %d (must not be %d); marked jobs %+v", c.name, got, c.not, marked[c.id])
		}
		if c.want == 0 {
			j, err := e.sl.JobState(context.Background(), got)
			if err != nil || j.UserName != "alice" {
				t.Errorf("%s: reported job %d is not alice's: %+v, %v", c.name, got, j, err)
			}
		}
	}
	if j, err := e.sl.JobState(context.Background(), bobJob); err != nil || j.JobState != "PENDING" {
		t.Errorf("bob's job: %+v, %v; want it untouched", j, err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
