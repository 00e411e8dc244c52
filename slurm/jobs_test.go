package slurm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type wantJob struct {
	id              int64
	state, reason   string
	user, cwd, mark string
}

func TestParseJobsJSONGolden(t *testing.T) {
	later := []wantJob{
		{101, "PENDING", "JobHeldUser", "alice", "/home/alice", "jobbergate-submission:7"},
		{102, "RUNNING", "None", "alice", "/home/alice", "jobbergate-submission:8"},
		{103, "COMPLETED", "None", "alice", "/home/alice", ""},
		{104, "FAILED", "NonZeroExitCode", "bob", "/scratch/bob", ""},
		{105, "CANCELLED", "None", "alice", "/home/alice", "jobbergate-submission:9"},
	}
	tests := []struct {
		file string
		want []wantJob
	}{
		{"squeue-22.05.json", []wantJob{
			{1, "COMPLETED", "None", "alice", "/home/alice", "jobbergate-submission:42"},
			{2, "CANCELLED", "JobHeldUser", "alice", "/tmp", ""},
			{3, "PENDING", "JobHeldUser", "alice", "/home/alice", "jobbergate-submission:101"},
			{4, "RUNNING", "None", "alice", "/home/alice", "jobbergate-submission:102"},
			{5, "COMPLETED", "None", "alice", "/home/alice", ""},
			{6, "FAILED", "NonZeroExitCode", "alice", "/home/alice", ""},
			{7, "CANCELLED", "BeginTime", "alice", "/home/alice", ""},
		}},
		{"squeue-23.02.json", later},
		{"squeue-23.11.json", later},
		{"squeue-24.05.json", later},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			jobs, err := ParseJobsJSON(readTestdata(t, tt.file), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) != len(tt.want) {
				t.Fatalf("got %d jobs, want %d", len(jobs), len(tt.want))
			}
			for i, w := range tt.want {
				j := jobs[i]
				if j.JobID != w.id || j.JobState != w.state || j.StateReason != w.reason ||
					j.UserName != w.user || j.CurrentWorkingDirectory != w.cwd || j.Comment != w.mark {
					t.Errorf("job %d = %+v, want %+v", i, j, w)
				}
				// job_info is that job's own JSON object.
				var obj map[string]any
				if err := json.Unmarshal([]byte(j.JobInfo), &obj); err != nil {
					t.Fatalf("job_info of %d is not a JSON object: %v", j.JobID, err)
				}
				if id, ok := obj["job_id"].(float64); !ok || int64(id) != w.id {
					t.Errorf("job_info of %d has job_id %v", w.id, obj["job_id"])
				}
				if strings.ContainsAny(j.JobInfo, "\n") {
					t.Errorf("job_info of %d is not compact", w.id)
				}
			}
		})
	}
}

func TestParseJobsJSONFilter(t *testing.T) {
	data := readTestdata(t, "squeue-24.05.json")
	jobs, err := ParseJobsJSON(data, func(id int64) bool { return id == 102 || id == 105 })
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].JobID != 102 || jobs[1].JobID != 105 {
		t.Fatalf("filtered jobs = %+v", jobs)
	}
	// 24.11 keeps flags after the base state; job_info keeps the whole list.
	if !strings.Contains(jobs[1].JobInfo, `"job_state":["CANCELLED","COMPLETING"]`) {
		t.Errorf("job_info lost the job_state list: %s", jobs[1].JobInfo)
	}
}

func TestParseJobObjectShapes(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		state   string
		id      int64
		wantErr error
	}{
		{"string state", `{"job_id": 1, "job_state": "RUNNING"}`, "RUNNING", 1, nil},
		{"list state", `{"job_id": 2, "job_state": ["FAILED"]}`, "FAILED", 2, nil},
		{"list with flags", `{"job_id": 3, "job_state": ["RUNNING","COMPLETING"]}`, "RUNNING", 3, nil},
		{"object job id", `{"job_id": {"set": true, "infinite": false, "number": 4}, "job_state": "PENDING"}`, "PENDING", 4, nil},
		{"empty list", `{"job_id": 5, "job_state": []}`, "", 0, ErrInvalidJobState},
		{"missing state", `{"job_id": 6}`, "", 0, ErrInvalidJobState},
		{"number state", `{"job_id": 7, "job_state": 3}`, "", 0, ErrInvalidJobState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := ParseJobObject([]byte(tt.raw))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || j.JobState != tt.state || j.JobID != tt.id {
				t.Fatalf("got %+v, %v", j, err)
			}
		})
	}
}

func TestParseJobsJSONWithoutJobs(t *testing.T) {
	_, err := ParseJobsJSON([]byte(`{"meta": {}, "errors": []}`), nil)
	if !errors.Is(err, ErrNoJobsKey) {
		t.Errorf("err = %v, want ErrNoJobsKey", err)
	}
	if _, err := ParseJobsJSON([]byte(`not json`), nil); err == nil {
		t.Error("invalid JSON accepted")
	}
	jobs, err := ParseJobsJSON([]byte(`{"jobs": []}`), nil)
	if err != nil || len(jobs) != 0 {
		t.Errorf("empty jobs: %v %v", jobs, err)
	}
}

func TestFlexInt(t *testing.T) {
	tests := []struct {
		in       string
		value    int64
		set, inf bool
	}{
		{`5`, 5, true, false},
		{`null`, 0, false, false},
		{`{"set": true, "infinite": false, "number": 7}`, 7, true, false},
		{`{"set": false, "infinite": false, "number": 0}`, 0, false, false},
		{`{"set": false, "infinite": true, "number": 0}`, 0, false, true},
	}
	for _, tt := range tests {
		var f flexInt
		if err := json.Unmarshal([]byte(tt.in), &f); err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if f.Value != tt.value || f.Set != tt.set || f.Infinite != tt.inf {
			t.Errorf("%s = %+v", tt.in, f)
		}
	}
}

func TestParseScontrolLineGolden(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(string(readTestdata(t, "scontrol-22.05.txt"))), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d", len(lines))
	}
	tests := []struct {
		id            int64
		state, reason string
	}{{4, "RUNNING", "None"}, {6, "FAILED", "NonZeroExitCode"}}
	for i, tt := range tests {
		j, err := ParseScontrolLine(lines[i])
		if err != nil {
			t.Fatal(err)
		}
		if j.JobID != tt.id || j.JobState != tt.state || j.StateReason != tt.reason ||
			j.UserName != "alice" || j.CurrentWorkingDirectory != "/home/alice" {
			t.Errorf("line %d = %+v", i, j)
		}
		var obj map[string]string
		if err := json.Unmarshal([]byte(j.JobInfo), &obj); err != nil {
			t.Fatalf("job_info: %v", err)
		}
		if obj["TRES"] != "cpu=1,mem=512M,node=1,billing=1" || obj["AllocNode:Sid"] == "" {
			t.Errorf("job_info pairs: TRES=%q AllocNode:Sid=%q", obj["TRES"], obj["AllocNode:Sid"])
		}
	}
}

func TestParseScontrolPairsValueWithSpaces(t *testing.T) {
	keys, v := ParseScontrolPairs("JobId=9 JobName=my job JobState=PENDING Reason=None Comment=a b c")
	if len(keys) != 5 || v["JobName"] != "my job" || v["Comment"] != "a b c" || v["JobState"] != "PENDING" {
		t.Errorf("keys %q values %q", keys, v)
	}
}

func TestUnknownJob(t *testing.T) {
	j := UnknownJob(77)
	if j.JobState != "UNKNOWN" || j.JobInfo != "{}" || j.StateReason != "Slurm did not find a job matching id 77" || j.JobID != 77 {
		t.Errorf("UnknownJob = %+v", j)
	}
}

func TestOneBadJobDoesNotBlockTheBatch(t *testing.T) {
	data := []byte(`{"jobs": [
		{"job_id": 1, "job_state": ["RUNNING"], "user_name": "alice"},
		{"job_id": 2, "job_state": []},
		{"job_id": 3, "job_state": "PENDING"}]}`)
	jobs, err := ParseJobsJSON(data, nil)
	var pe *JobParseError
	if !errors.As(err, &pe) || pe.JobID != 2 || !errors.Is(err, ErrInvalidJobState) {
		t.Fatalf("err = %v, want a JobParseError for job 2", err)
	}
	if len(jobs) != 2 || jobs[0].JobID != 1 || jobs[1].JobID != 3 {
		t.Errorf("jobs = %+v", jobs)
	}
}
