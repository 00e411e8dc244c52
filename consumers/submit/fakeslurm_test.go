package submit

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/slurmtest"
)

// TestFakeSbatchErrors runs the real slurm.Client against recording fake sbatch, squeue and
// scontrol programs, for what a healthy Slurm cannot produce: a "Socket timed out" sbatch is retried
// (no rejection) and the next delivery reconciles before the second sbatch; the entrypoint goes to
// sbatch on stdin as the user, with the claim's marker and the injected arguments; an id that
// sbatch printed but Slurm does not know as the claim's job is neither recorded nor reported
// (dead-lettered); a refused job is rejected with sbatch's stderr verbatim.
func TestFakeSbatchErrors(t *testing.T) {
	testenv.Require(t, "root", os.Geteuid() == 0, "commands run as alice: run the tests as root")
	b, topo := newBroker(t, nil)
	kv := claimsBucket(t, b, topo)
	sbatch := slurmtest.New(t, "sbatch", slurmtest.Response{ExitCode: 1,
		Stderr: "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n"})
	squeue := slurmtest.New(t, "squeue", slurmtest.Response{Stdout: `{"jobs":[]}`})
	// scontrol answers every command with the MinJobAge of show config: no job is known.
	scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stdout: "MinJobAge               = 300 sec\n"})
	// No accounting: the fake job id 4242 must not meet a real job of that id in the
	// cluster's job-completion log.
	sl, err := slurm.New(slurm.Options{SbatchPath: sbatch.Path, SqueuePath: squeue.Path, ScontrolPath: scontrol.Path,
		Accounting: slurm.AccountingNone, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := sl.LookupUser("alice")
	testenv.Require(t, "user alice", err == nil, startSlurm)
	dir, err := os.MkdirTemp("/tmp", "jbg-submit-fake-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, int(alice.UID), int(alice.GID)); err != nil {
		t.Fatal(err)
	}
	api := &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n")}}
	h, err := NewHandler(Options{API: api, Slurm: sl, Mapper: e2eMapper, Claims: kv, HolderID: "me/1",
		Logger: testenv.Logger(t), ClaimStaleAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sub := newSubmission("alice@example.com", &dir)

	dec := h.Handle(context.Background(), message(t, sub, 1))
	if !dec.IsRetry() || !strings.Contains(dec.Reason(), "Socket timed out") || len(api.rejected) != 0 {
		t.Fatalf("socket timeout: %s, rejected %q", dec, api.rejected)
	}
	sbatch.SetResponse(t, slurmtest.Response{Stdout: "4242\n"})
	dec = h.Handle(context.Background(), message(t, sub, 2))
	if !dec.IsTerminate() || !strings.Contains(dec.Reason(), "printed slurm job id 4242, which is not this submission's job") {
		t.Fatalf("second delivery: %s, want dead-lettered: job 4242 is not the claim's", dec)
	}
	calls := sbatch.Calls(t)
	if len(calls) != 2 {
		t.Fatalf("%d sbatch calls, want 2", len(calls))
	}
	if n := len(squeue.Calls(t)); n != 2 {
		t.Fatalf("%d squeue calls, want the reconcile before the second sbatch and the search for the claim's own job", n)
	}
	rec, _ := readRecord(t, kv, sub.ID)
	c := calls[1]
	if c.UID != int(alice.UID) || c.Dir != dir || rec.Marker == "" || !slices.Contains(c.Args, "--comment="+rec.Marker) ||
		!strings.Contains(c.Stdin, "#SBATCH --hold") || !strings.Contains(c.Stdin, "true") {
		t.Fatalf("sbatch call %+v, record %+v", c, rec)
	}
	if rec.SlurmJobID != 0 || len(api.submitted) != 0 {
		t.Fatalf("the id sbatch printed was recorded (%+v) or reported (%+v)", rec, api.submitted)
	}

	refused := "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified"
	sbatch.SetResponse(t, slurmtest.Response{ExitCode: 1, Stderr: refused + "\n"})
	sub2 := newSubmission("alice@example.com", &dir)
	if dec := h.Handle(context.Background(), message(t, sub2, 1)); !dec.IsAck() {
		t.Fatalf("refused job: %s", dec)
	}
	if len(api.rejected) != 1 || api.rejected[0] != "Failed to submit job to slurm -- "+refused {
		t.Fatalf("rejections %q", api.rejected)
	}
}
