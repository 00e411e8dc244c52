package update

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/jobidentity"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

const startSlurm = "run `deploy/slurm/slurm-single-node.sh start` as root (creates alice and bob)"

func slurmUp() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "scontrol", "ping").CombinedOutput()
	return err == nil && strings.Contains(string(out), "UP")
}

// realSlurm returns a client of the real Slurm and a submit function that runs sbatch as alice
// and cancels the job when the test ends.
func realSlurm(t *testing.T) (*slurm.Client, func(script string, args ...string) int64) {
	t.Helper()
	testenv.Require(t, "root", testenv.IsRoot(), "the real-Slurm tests submit as alice: run them as root")
	testenv.Require(t, "slurm", slurmUp(), "slurmctld does not answer `scontrol ping`: "+startSlurm)
	sc, err := slurm.New(slurm.Options{Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	alice, dir := userDir(t, sc, "alice")
	submit := func(script string, args ...string) int64 {
		t.Helper()
		res, err := sc.Submit(context.Background(), slurm.SubmitRequest{User: alice, Dir: dir, Script: []byte(script),
			ExtraArgs: append([]string{"--output=/dev/null", "--job-name=jbg-update-test"}, args...)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sc.Cancel(context.Background(), res.JobID) })
		return res.JobID
	}
	return sc, submit
}

// userDir looks a test user up and makes a directory of theirs, removed when the test ends.
func userDir(t *testing.T, sc *slurm.Client, name string) (slurm.User, string) {
	t.Helper()
	u, err := sc.LookupUser(name)
	testenv.Require(t, "slurm", err == nil, "no local user "+name+": "+startSlurm)
	dir, err := os.MkdirTemp("/tmp", "jbg-update-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, int(u.UID), int(u.GID)); err != nil {
		t.Fatal(err)
	}
	return u, dir
}

func progressStates(s jobbergatetest.Submission) []string {
	var out []string
	for _, p := range s.Progress {
		if p.SlurmJobState != nil {
			out = append(out, *p.SlurmJobState)
		}
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// The update path end to end: development API, embedded broker, bridge poller, batch runner and
// the real Slurm.
func TestEndToEndRealSlurm(t *testing.T) {
	sc, submit := realSlurm(t)
	ctx := context.Background()
	completes := submit("#!/bin/sh\nsleep 10\n", "--hold")
	fails := submit("#!/bin/sh\nexit 3\n")
	running := submit("#!/bin/sh\nsleep 300\n")
	testenv.Eventually(t, 60*time.Second, func() bool {
		j, err := sc.JobStates(ctx, []int64{running})
		return err == nil && j[running].JobState == "RUNNING"
	}, "job %d running", running)
	const forgotten = 1_999_999_999

	e := newEnv(t, sc, nil)
	add := func(status string, slurmID int64) int {
		sub := jobbergatetest.Submission{Name: "e2e", OwnerEmail: "alice@example.com", ClientID: testClientID, Status: status}
		if slurmID != 0 {
			sub.SlurmJobID = ptr2(int(slurmID))
		}
		return e.api.AddSubmission(sub)
	}
	subDone := add("SUBMITTED", completes)
	subFailed := add("SUBMITTED", fails)
	subCancelRunning := add("CANCELLED", running)
	subCancelPending := add("CANCELLED", 0)
	subForgotten := add("SUBMITTED", forgotten)
	e.start(t)

	e.runCycle(t)
	if got := deref(e.submission(t, subDone).SlurmJobState); got != "PENDING" {
		t.Fatalf("held job reported %s, want PENDING", got)
	}
	if out, err := exec.Command("scontrol", "release", strconv.FormatInt(completes, 10)).CombinedOutput(); err != nil {
		t.Fatalf("scontrol release: %v: %s", err, out)
	}
	testenv.Eventually(t, 60*time.Second, func() bool {
		e.runCycle(t)
		return deref(e.submission(t, subDone).SlurmJobState) == "RUNNING"
	}, "submission %d reported RUNNING", subDone)
	testenv.Eventually(t, 120*time.Second, func() bool {
		e.runCycle(t)
		return e.submission(t, subDone).Status == "DONE" && e.submission(t, subFailed).Status == "ABORTED"
	}, "submissions %d DONE and %d ABORTED", subDone, subFailed)

	t.Run("pending, running, completed, done", func(t *testing.T) {
		s := e.submission(t, subDone)
		states := progressStates(s)
		var seq []string
		for _, st := range states {
			if st == "PENDING" || st == "RUNNING" || st == "COMPLETED" {
				seq = append(seq, st)
			}
		}
		if !slices.Equal(seq, []string{"PENDING", "RUNNING", "COMPLETED"}) {
			t.Errorf("progress states %v, want PENDING, RUNNING, COMPLETED in order", states)
		}
	})
	t.Run("failing script aborted with slurm's reason", func(t *testing.T) {
		s := e.submission(t, subFailed)
		if deref(s.SlurmJobState) != "FAILED" || deref(s.ReportMessage) != "NonZeroExitCode" {
			t.Errorf("state %s, report %q; want FAILED, NonZeroExitCode", deref(s.SlurmJobState), deref(s.ReportMessage))
		}
	})
	t.Run("cancelled in the portal: scancelled in slurm", func(t *testing.T) {
		s := e.submission(t, subCancelRunning)
		if s.Status != "ABORTED" || deref(s.SlurmJobState) != "CANCELLED" {
			t.Errorf("status %s state %s, want ABORTED/CANCELLED", s.Status, deref(s.SlurmJobState))
		}
		j, err := sc.JobStates(ctx, []int64{running})
		if err != nil || j[running].JobState != "CANCELLED" {
			t.Errorf("slurm job %d: %+v %v, want CANCELLED", running, j[running].JobState, err)
		}
	})
	t.Run("cancelled before a slurm job existed", func(t *testing.T) {
		s := e.submission(t, subCancelPending)
		if s.Status != "ABORTED" || deref(s.SlurmJobState) != "CANCELLED" || deref(s.ReportMessage) != PendingCancelReason || s.SlurmJobID != nil {
			t.Errorf("got status %s state %s report %q slurm id %v", s.Status, deref(s.SlurmJobState), deref(s.ReportMessage), s.SlurmJobID)
		}
	})
	t.Run("job slurm forgot: unknown, aborted", func(t *testing.T) {
		s := e.submission(t, subForgotten)
		want := "Slurm did not find a job matching id " + strconv.Itoa(forgotten)
		if s.Status != "ABORTED" || deref(s.SlurmJobState) != "UNKNOWN" || deref(s.ReportMessage) != want {
			t.Errorf("got status %s state %s report %q", s.Status, deref(s.SlurmJobState), deref(s.ReportMessage))
		}
	})
	if d := e.deadLetters(t); len(d) != 0 {
		t.Errorf("unexpected dead letters: %v", d)
	}
}

// TestRealCancelNeverTouchesAnotherUsersJob, on the real Slurm: submissions cancelled in the
// portal whose slurm_job_id names bob's running job (an id other than the one the agent
// recorded; an identity record that names alice for bob's job) leave bob's job running and are
// reported UNKNOWN with the reason; alice's own job is cancelled, as alice.
func TestRealCancelNeverTouchesAnotherUsersJob(t *testing.T) {
	sc, submit := realSlurm(t)
	ctx := context.Background()
	bob, bobDir := userDir(t, sc, "bob")
	res, err := sc.Submit(ctx, slurm.SubmitRequest{User: bob, Dir: bobDir, Script: []byte("#!/bin/sh\nsleep 600\n"),
		ExtraArgs: []string{"--output=/dev/null", "--hold"}})
	if err != nil {
		t.Fatal(err)
	}
	bobs := res.JobID
	t.Cleanup(func() { _ = sc.Cancel(context.Background(), bobs) })
	alice, _ := sc.LookupUser("alice")

	ids := identities{}
	e := newEnv(t, sc, func(o *Options) { o.Identities = ids })
	add := func(slurmID int64) int {
		return e.api.AddSubmission(jobbergatetest.Submission{Name: "e2e", OwnerEmail: "alice@example.com",
			ClientID: testClientID, Status: "CANCELLED", SlurmJobID: ptr2(int(slurmID))})
	}
	own := add(0)
	marker, err := slurm.NewMarker(int64(own))
	if err != nil {
		t.Fatal(err)
	}
	alices := submit("#!/bin/sh\nsleep 600\n", "--hold", "--comment="+marker)
	s := e.submission(t, own)
	s.SlurmJobID = ptr2(int(alices))
	e.api.AddSubmission(s)
	ids[own] = jobidentity.Record{SubmissionID: own, SlurmJobID: alices, Owner: "alice", OwnerUID: alice.UID, Marker: marker}
	otherID := add(bobs) // the agent recorded alice's job for it, the API has bob's
	ids[otherID] = jobidentity.Record{SubmissionID: otherID, SlurmJobID: alices + 1_000_000, Owner: "alice", OwnerUID: alice.UID}
	wrongOwner := add(bobs) // a record that names alice for bob's job
	ids[wrongOwner] = jobidentity.Record{SubmissionID: wrongOwner, SlurmJobID: bobs, Owner: "alice", OwnerUID: alice.UID}
	e.start(t)
	e.runCycle(t)

	for _, id := range []int{otherID, wrongOwner} {
		s := e.submission(t, id)
		if deref(s.SlurmJobState) != "UNKNOWN" || deref(s.SlurmJobInfo) != "{}" || !strings.Contains(deref(s.ReportMessage), "is not this submission's job") {
			t.Errorf("submission %d: state %s info %s message %q", id, deref(s.SlurmJobState), deref(s.SlurmJobInfo), deref(s.ReportMessage))
		}
	}
	j, err := sc.JobStates(ctx, []int64{bobs, alices})
	if err != nil || j[bobs].JobState != "PENDING" {
		t.Errorf("bob's job %d: %+v, %v; want it still PENDING", bobs, j[bobs], err)
	}
	if j[alices].JobState != "CANCELLED" || deref(e.submission(t, own).SlurmJobState) != "CANCELLED" {
		t.Errorf("alice's own job %d: %s, reported %s; want CANCELLED", alices, j[alices].JobState, deref(e.submission(t, own).SlurmJobState))
	}
}
