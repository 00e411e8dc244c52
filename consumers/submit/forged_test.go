package submit

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// TestForgedJobIDNotAdopted, on the real Slurm: sbatch runs as the owner, who can change what it
// prints (ptrace where kernel.yama.ptrace_scope=0, or here a stand-in for sbatch that runs the
// real one and prints another job's id). The id printed is bob's held job: the agent records
// nothing, reports nothing of bob's job, cancels nothing, dead-letters the message naming both
// ids and logs the mismatch at ERROR. The submission's own job (made by the real sbatch) is the
// one a retry would find by its marker.
func TestForgedJobIDNotAdopted(t *testing.T) {
	e := newE2E(t, nil)
	alice, bob := e.users["alice"], e.users["bob"]
	bobDir := e.tempDir(bob.UID, bob.GID, 0o700)
	bobs, err := e.sl.Submit(context.Background(), slurm.SubmitRequest{User: bob, Dir: bobDir,
		Script: []byte("#!/bin/sh\nsleep 600\n"), ExtraArgs: heldArgs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.sl.Cancel(context.Background(), bobs.JobID) })

	bin := e.tempDir(0, 0, 0o755)
	standIn := filepath.Join(bin, "sbatch")
	body := fmt.Sprintf("#!/bin/sh\n/usr/bin/sbatch \"$@\" >/dev/null || exit $?\necho %d\n", bobs.JobID)
	if err := os.WriteFile(standIn, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	sl, err := slurm.New(slurm.Options{SbatchPath: standIn, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.SyncBuffer
	kv := claimsBucket(t, e.b, e.topo)
	api := &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n")}}
	h, err := NewHandler(Options{API: api, Slurm: sl, Mapper: e2eMapper, Claims: kv, HolderID: "me/1",
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), ClaimStaleAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	dir := e.tempDir(alice.UID, alice.GID, 0o700)
	sub := newSubmission("alice@example.com", &dir)
	e.mu.Lock()
	e.subs = append(e.subs, sub.ID) // its own job is cancelled at the end
	e.mu.Unlock()

	dec := h.Handle(context.Background(), message(t, sub, 1))
	printed := fmt.Sprintf("printed slurm job id %d, which is not this submission's job", bobs.JobID)
	if !dec.IsTerminate() || !strings.Contains(dec.Reason(), printed) {
		t.Fatalf("decision %s, want dead-lettered: %s", dec, printed)
	}
	rec, _ := readRecord(t, kv, sub.ID)
	if rec.SlurmJobID != 0 || len(api.submitted) != 0 || len(api.rejected) != 0 {
		t.Fatalf("record %+v, reports %+v %q: nothing may be recorded or reported", rec, api.submitted, api.rejected)
	}
	// Unit-test submission ids repeat between runs: only the job with this claim's marker counts.
	var own []slurm.JobData
	for _, j := range e.markedJobs([]int{sub.ID})[sub.ID] {
		if slurm.CommentHasMarker(j.Comment, rec.Marker) {
			own = append(own, j)
		}
	}
	if len(own) != 1 || own[0].UserName != "alice" {
		t.Fatalf("the submission's own job: %+v (marker %s)", own, rec.Marker)
	}
	if !strings.Contains(dec.Reason(), fmt.Sprintf("slurm job(s) [%d]", own[0].JobID)) {
		t.Errorf("the reason does not name the submission's own job %d: %s", own[0].JobID, dec.Reason())
	}
	if j, err := e.sl.JobState(context.Background(), bobs.JobID); err != nil || j.JobState != "PENDING" {
		t.Errorf("bob's job: %+v, %v; want it untouched (PENDING)", j, err)
	}
	line := fmt.Sprintf("printed_slurm_job_id=%d marked_slurm_job_ids=[%d]", bobs.JobID, own[0].JobID)
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, line) {
		t.Errorf("no ERROR log naming both ids (%s):\n%s", line, l)
	}
}
