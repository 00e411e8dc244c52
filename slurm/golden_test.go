package slurm

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// realJob is what testdata/slurm-<version>/jobs.txt and sbatch-parsable.txt say of the seven
// jobs captured on real Slurm 24.11 and 26.05 (all alice's, uid 1001).
type realJob struct {
	id            int64
	state, reason string
	cwd, comment  string
}

var realJobs = []realJob{
	{1, "COMPLETED", "None", "/home/alice", "jobbergate-submission:42"},
	{2, "CANCELLED", "JobHeldUser", "/tmp", ""},
	{3, "PENDING", "JobHeldUser", "/home/alice", "jobbergate-submission:101"},
	{4, "RUNNING", "None", "/home/alice", "jobbergate-submission:102"},
	{5, "COMPLETED", "None", "/home/alice", ""},
	{6, "FAILED", "NonZeroExitCode", "/home/alice", ""},
	{7, "CANCELLED", "None", "/home/alice", ""},
}

var realVersions = []string{"24.11.5", "26.05.5"}

// TestParseRealScontrolJSON reads scontrol show job --json of each job as captured on the real
// Slurm: state (the list's base state), reason, owner (name and uid), working directory,
// comment, submit time, and job_info that is the job object itself.
func TestParseRealScontrolJSON(t *testing.T) {
	for _, v := range realVersions {
		t.Run(v, func(t *testing.T) {
			for _, w := range realJobs {
				file := fmt.Sprintf("slurm-%s/scontrol-show-job-json-%d.json", v, w.id)
				jobs, err := ParseJobsJSON(readTestdata(t, file), nil)
				if err != nil || len(jobs) != 1 {
					t.Fatalf("%s: %d jobs, %v", file, len(jobs), err)
				}
				checkRealJob(t, file, jobs[0], w)
				var obj map[string]any
				if err := json.Unmarshal([]byte(jobs[0].JobInfo), &obj); err != nil || obj["job_id"] != float64(w.id) || obj["exit_code"] == nil {
					t.Errorf("%s: job_info is not the job's object: %.200s", file, jobs[0].JobInfo)
				}
			}
		})
	}
}

// TestParseRealScontrolLines reads scontrol show job -o of the same jobs.
func TestParseRealScontrolLines(t *testing.T) {
	for _, v := range realVersions {
		t.Run(v, func(t *testing.T) {
			lines := strings.Split(string(readTestdata(t, "slurm-"+v+"/scontrol-show-job-o.txt")), "\n")
			for _, w := range realJobs {
				j, found, err := jobFromScontrol(lines, w.id)
				if err != nil || !found {
					t.Fatalf("job %d: found %v, %v", w.id, found, err)
				}
				checkRealJob(t, "scontrol -o", j, w)
			}
		})
	}
}

// TestRealSqueueDefaultFilter: from 24.11 on, squeue --json without --states lists pending and
// running jobs only (the captured squeue.json), which is why every read asks for all states.
func TestRealSqueueDefaultFilter(t *testing.T) {
	for _, v := range realVersions {
		jobs, err := ParseJobsJSON(readTestdata(t, "slurm-"+v+"/squeue.json"), nil)
		if err != nil || len(jobs) != 2 {
			t.Fatalf("%s: %d jobs, %v", v, len(jobs), err)
		}
		checkRealJob(t, v+" squeue", jobs[0], realJobs[2])
		checkRealJob(t, v+" squeue", jobs[1], realJobs[3])
	}
}

// TestParseRealJobComp reads sacct -c of the real job-completion file: the ids of a wiped
// earlier state appear twice and the later lines win; the owner's uid is read from User.
func TestParseRealJobComp(t *testing.T) {
	for _, v := range realVersions {
		text := string(readTestdata(t, "slurm-"+v+"/sacct-c.txt"))
		text = strings.TrimSuffix(strings.TrimRight(text, "\n"), "rc=0")
		jobs, err := ParseSacctParsable(text, SacctDelimiter, nil)
		if err != nil || len(jobs) != 4 { // ids 1, 5, 6 and 7, each of jgalice's wiped state and of alice's
			t.Fatalf("%s: %d jobs, %v", v, len(jobs), err)
		}
		byID := map[int64]JobData{}
		for _, j := range jobs {
			byID[j.JobID] = j
		}
		if j := byID[1]; j.UserName != "alice" || !strings.Contains(j.JobInfo, `"JobName":"done-42"`) {
			t.Errorf("%s: job 1 = %+v, want alice's done-42 (the later line)", v, j)
		}
		if j := byID[6]; j.JobState != "FAILED" || j.UserName != "alice" || j.UserID != 1001 || j.SubmitTime.IsZero() {
			t.Errorf("%s: job 6 = %+v", v, j)
		}
	}
}

func checkRealJob(t *testing.T, where string, j JobData, w realJob) {
	t.Helper()
	if j.JobID != w.id || j.JobState != w.state || j.StateReason != w.reason || j.UserName != "alice" || j.UserID != 1001 ||
		j.CurrentWorkingDirectory != w.cwd || j.Comment != w.comment || j.SubmitTime.IsZero() {
		t.Errorf("%s: job %d = %+v, want %+v (alice, uid 1001, a submit time)", where, w.id, j, w)
	}
}
