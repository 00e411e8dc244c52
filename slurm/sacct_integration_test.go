package slurm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/slurmtest"
)

// Integration tests of the accounting lookup on the real Slurm. They pass in both setups of
// deploy/slurm/slurm-single-node.sh: the default (jobcomp file, sacct -c) and SNS_DBD=1
// (slurmdbd, sacct --json).

// expectedMode is the accounting mode the live slurm.conf calls for.
func expectedMode(t *testing.T) AccountingMode {
	t.Helper()
	out, err := exec.Command("scontrol", "show", "config").Output()
	if err != nil {
		t.Fatalf("scontrol show config: %v", err)
	}
	if regexp.MustCompile(`AccountingStorageType\s*=\s*accounting_storage/slurmdbd`).Match(out) {
		return AccountingJSON
	}
	if regexp.MustCompile(`JobCompType\s*=\s*jobcomp/filetxt`).Match(out) {
		return AccountingJobComp
	}
	return AccountingNone
}

// TestRealAccountingFindsFinishedJob runs a real job to its end, then reads it through a client
// whose squeue and scontrol no longer know it (as after MinJobAge) and whose sacct is the real
// one: the job comes back with its final state, owner and working directory from accounting.
// Waiting for slurmctld to purge it would take MinJobAge (600 s) plus up to a minute.
func TestRealAccountingFindsFinishedJob(t *testing.T) {
	c, alice := realSlurm(t, Options{})
	ctx := context.Background()
	mode := expectedMode(t)
	if mode == AccountingNone {
		t.Fatal("the single-node Slurm has neither slurmdbd nor a jobcomp file")
	}
	dir := userDir(t, alice)
	sub := uniqueSubmissionID()
	marker, err := NewMarker(sub)
	if err != nil {
		t.Fatal(err)
	}
	claimed := time.Now().Add(-10 * time.Minute) // older than MinJobAge: searched in accounting
	res, err := c.Submit(ctx, SubmitRequest{User: alice, Dir: dir, Script: []byte("#!/bin/sh\nexit 3\n"), SubmissionID: sub,
		Marker: marker, ExtraArgs: []string{"--output=/dev/null"}})
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, c, res.JobID)
	waitStates(t, c, []int64{res.JobID}, 60*time.Second, func(j JobData) bool { return j.JobState == "FAILED" })

	// The job's records reach accounting asynchronously (slurmctld's queue to slurmdbd): right
	// after the end, slurmdbd may hold the final state without the working directory or comment
	// yet. The agent asks accounting only MinJobAge after the end, when the record is complete.
	forgot := slurmtest.New(t, "squeue", slurmtest.Response{Stdout: `{"meta":{},"errors":[],"jobs":[]}`})
	invalid := slurmtest.New(t, "scontrol", slurmtest.Response{Stderr: "slurm_load_jobs error: Invalid job id specified\n", ExitCode: 1})
	purged, err := New(Options{SqueuePath: forgot.Path}) // scontrol stays real: show config says whether comments are kept
	if err != nil {
		t.Fatal(err)
	}
	const never = 3_999_999_997
	var got map[int64]JobData
	testenv.Eventually(t, 30*time.Second, func() bool {
		got, err = purged.JobStates(ctx, []int64{res.JobID, never})
		return err == nil && got[res.JobID].JobState == "FAILED" && got[res.JobID].CurrentWorkingDirectory != ""
	}, "job %d not found complete in accounting: %+v, %v", res.JobID, got, err)
	j := got[res.JobID]
	if j.UserName != "alice" || j.CurrentWorkingDirectory != dir {
		t.Errorf("from accounting: user %q cwd %q, want alice %s", j.UserName, j.CurrentWorkingDirectory, dir)
	}
	if got[never] != UnknownJob(never) {
		t.Errorf("never-submitted id = %+v", got[never])
	}
	if m, err := purged.AccountingMode(ctx); err != nil || m != mode {
		t.Errorf("probed mode %v (%v), want %v from slurm.conf", m, err, mode)
	}
	single, err := New(Options{ScontrolPath: invalid.Path, Accounting: mode})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := single.JobState(ctx, res.JobID); err != nil || j.JobState != "FAILED" {
		t.Errorf("JobState from accounting = %+v, %v", j, err)
	}

	switch mode {
	case AccountingJSON: // SNS_DBD=1 keeps comments (AccountingStoreFlags=job_comment)
		var found MarkedJobs
		testenv.Eventually(t, 30*time.Second, func() bool {
			found, err = purged.FindMarkedJobs(ctx, sub, Identity{Owner: alice, Marker: marker, Since: claimed})
			return err == nil && len(found.Jobs) == 1
		}, "FindMarkedJobs = %+v, %v", found, err)
		if j := found.Jobs[0]; j.JobID != res.JobID || j.Comment != marker || j.JobState != "FAILED" {
			t.Errorf("FindMarkedJobs = %+v", found)
		}
	case AccountingJobComp: // the jobcomp file has no comments
		_, err := purged.FindMarkedJobs(ctx, sub, Identity{Owner: alice, Marker: marker, Since: claimed})
		if !errors.Is(err, ErrCommentsNotRecorded) || !errors.Is(err, ErrNotSure) {
			t.Errorf("FindMarkedJobs err = %v, want ErrNotSure (ErrCommentsNotRecorded)", err)
		}
	}
}

// TestRealAgedOutJob reads, with the real squeue and sacct, a job that slurmctld really purged
// (finished more than MinJobAge ago): it must come back with its accounting state, not UNKNOWN.
// Such a job exists only on a cluster that has run jobs more than MinJobAge (600 s) ago.
func TestRealAgedOutJob(t *testing.T) {
	c, _ := realSlurm(t, Options{})
	ctx := context.Background()
	mode := expectedMode(t)
	args := []string{"-X", "-P", "-n", "-S", "2000-01-01", "-E", "now", "-o", "JobIDRaw,State"}
	if mode == AccountingJobComp {
		args = append([]string{"-c"}, args...)
	}
	out, err := exec.Command("sacct", args...).Output()
	if err != nil {
		t.Fatalf("sacct %v: %v", args, err)
	}
	held, err := exec.Command("squeue", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ParseJobsJSON(held, nil)
	if err != nil {
		t.Fatal(err)
	}
	inCtld := map[int64]bool{}
	for _, j := range jobs {
		inCtld[j.JobID] = true
	}
	var id int64
	var state string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		raw, st, _ := strings.Cut(line, "|")
		n, err := strconv.ParseInt(raw, 10, 64)
		if err == nil && !inCtld[n] && st != "" {
			id, state = n, strings.Fields(st)[0]
		}
	}
	if id == 0 {
		t.Skipf("no job has aged out of slurmctld yet (MinJobAge): nothing in %s accounting that squeue lacks", mode)
	}
	got, err := c.JobStates(ctx, []int64{id})
	if err != nil || got[id].JobState != state {
		t.Errorf("aged-out job %d = %+v, %v; want %s from accounting", id, got[id], err, state)
	}
	t.Logf("job %d, purged from slurmctld, read as %s from %s", id, got[id].JobState, mode)
}

// TestRealAccountingProbeDegrades points the real sacct at copies of slurm.conf (through
// SLURM_CONF in the agent's environment) to see each setup detected: no slurmdbd with a jobcomp
// file, and neither.
func TestRealAccountingProbeDegrades(t *testing.T) {
	realSlurm(t, Options{})
	conf, err := os.ReadFile("/etc/slurm/slurm.conf")
	if err != nil {
		t.Fatal(err)
	}
	storage := regexp.MustCompile(`(?m)^AccountingStorage\w*=.*$`)
	jobcomp := regexp.MustCompile(`(?m)^JobCompType=.*$`)
	plain := storage.ReplaceAllString(string(conf), "")
	plain += "\nAccountingStorageType=accounting_storage/none\n"
	tests := []struct {
		name string
		conf string
		want AccountingMode
	}{
		{"jobcomp file only", plain, AccountingJobComp},
		{"no accounting", jobcomp.ReplaceAllString(plain, "JobCompType=jobcomp/none"), AccountingNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "slurm.conf")
			if err := os.WriteFile(path, []byte(tt.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := New(Options{AgentEnv: append(os.Environ(), "SLURM_CONF="+path)})
			if err != nil {
				t.Fatal(err)
			}
			if m, err := c.AccountingMode(context.Background()); err != nil || m != tt.want {
				t.Errorf("mode %v, %v; want %v", m, err, tt.want)
			}
			const never = 3_999_999_996
			if got, err := c.JobStates(context.Background(), []int64{never}); err != nil || got[never] != UnknownJob(never) {
				t.Errorf("JobStates = %+v, %v", got, err)
			}
		})
	}
}
