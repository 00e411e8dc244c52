package submit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// TestPythonAgentMarkerFiles, on the real Slurm: a submission the Python agent had sbatch'ed
// and recorded in CACHE_DIR/<id>.slurm_job_id, without telling the API, is reported with that
// job instead of a second sbatch, and the file is removed. A marker file a user planted (not
// root's) is ignored, and one that names another user's job is dead-lettered, nothing of that
// job reported.
func TestPythonAgentMarkerFiles(t *testing.T) {
	e := newE2E(t, nil)
	alice, bob := e.users["alice"], e.users["bob"]
	cache := e.tempDir(0, 0, 0o755)
	aliceDir := e.tempDir(alice.UID, alice.GID, 0o700)
	bobDir := e.tempDir(bob.UID, bob.GID, 0o700)
	held := func(u slurm.User, dir string) int64 {
		res, err := e.sl.Submit(context.Background(), slurm.SubmitRequest{User: u, Dir: dir, Script: []byte("#!/bin/sh\ntrue\n"), ExtraArgs: heldArgs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.sl.Cancel(context.Background(), res.JobID) })
		return res.JobID
	}
	marker := func(sub int, job int64, owner slurm.User) string {
		p := filepath.Join(cache, strconv.Itoa(sub)+".slurm_job_id")
		if err := os.WriteFile(p, []byte(strconv.FormatInt(job, 10)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, int(owner.UID), int(owner.GID)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	api := &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n")}}
	h, err := NewHandler(Options{API: api, Slurm: e.sl, Mapper: e2eMapper, Claims: claimsBucket(t, e.b, e.topo), HolderID: "me/1",
		Logger: testenv.Logger(t), ClaimStaleAfter: time.Minute, LegacyMarkerDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	handle := func(sub int) string {
		s := newSubmission("alice@example.com", &aliceDir)
		s.ID = sub
		e.mu.Lock()
		e.subs = append(e.subs, sub)
		e.mu.Unlock()
		return h.Handle(context.Background(), message(t, s, 1)).String()
	}

	// The Python agent's job of alice: reported, not submitted again, the file removed.
	pythonJob := held(alice, aliceDir)
	adopted := int(e.subID) + 901
	path := marker(adopted, pythonJob, slurm.User{})
	if dec := handle(adopted); !strings.Contains(dec, "ack") || len(api.submitted) != 1 || int64(*api.submitted[0].JobID) != pythonJob {
		t.Fatalf("adopted: %s, reports %+v; want job %d reported", dec, api.submitted, pythonJob)
	}
	if n := len(e.markedJobs([]int{adopted})[adopted]); n != 0 {
		t.Errorf("adopted: %d jobs submitted for it, want none", n)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the marker file is still there: %v", err)
	}

	// A marker file alice planted, naming bob's job: not read; the submission gets its own job.
	bobsJob := held(bob, bobDir)
	planted := int(e.subID) + 902
	marker(planted, bobsJob, alice)
	if dec := handle(planted); !strings.Contains(dec, "ack") || len(api.submitted) != 2 || int64(*api.submitted[1].JobID) == bobsJob {
		t.Fatalf("planted: %s, reports %+v; want a new job, not bob's %d", dec, api.submitted, bobsJob)
	}
	if n := len(e.markedJobs([]int{planted})[planted]); n != 1 {
		t.Errorf("planted: %d jobs carry its marker, want its own one", n)
	}

	// A root-owned marker file naming bob's job: dead-lettered, nothing of bob's job reported.
	wrong := int(e.subID) + 903
	marker(wrong, bobsJob, slurm.User{})
	dec := handle(wrong)
	if !strings.Contains(dec, "terminate") || !strings.Contains(dec, fmt.Sprintf("names slurm job %d, which is not this submission's", bobsJob)) || len(api.submitted) != 2 {
		t.Errorf("wrong owner: %s, reports %d; want dead-lettered, nothing reported", dec, len(api.submitted))
	}
	if j, err := e.sl.JobState(context.Background(), bobsJob); err != nil || j.JobState != "PENDING" {
		t.Errorf("bob's job: %+v, %v; want it untouched", j, err)
	}
}
