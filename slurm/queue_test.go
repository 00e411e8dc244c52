package slurm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/slurmtest"
)

func TestQueueJobsReadsEveryJobOnce(t *testing.T) {
	for _, v := range []string{"22.05", "23.02", "23.11", "24.05"} {
		t.Run(v, func(t *testing.T) {
			doc := readTestdata(t, "squeue-"+v+".json")
			want, err := ParseJobsJSON(doc, nil)
			if err != nil || len(want) == 0 {
				t.Fatalf("golden file: %d jobs, %v", len(want), err)
			}
			squeue := slurmtest.New(t, "squeue", slurmtest.Response{Stdout: string(doc)})
			c := fakeClient(t, nil, squeue, nil, nil)
			got, err := c.QueueJobs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.Len() != len(want) {
				t.Fatalf("%d jobs, want %d", got.Len(), len(want))
			}
			for _, w := range want {
				if j, ok, err := got.Job(w.JobID); !ok || err != nil || j != w {
					t.Errorf("job %d = %+v, %v, %v\nwant %+v", w.JobID, j, ok, err, w)
				}
			}
			if _, ok, err := got.Job(987654321); ok || err != nil {
				t.Errorf("a job the queue does not hold: ok %v, err %v", ok, err)
			}
			if calls := squeue.Calls(t); len(calls) != 1 || !slices.Equal(calls[0].Args, []string{"--json", "--states=all"}) {
				t.Errorf("squeue calls = %+v, want one squeue --json", calls)
			}
		})
	}
}

// A queue far larger than a pipe's buffer is read as it streams, whole.
func TestQueueJobsLargeQueue(t *testing.T) {
	const n = 3000
	var b strings.Builder
	b.WriteString(`{"meta": {"plugin": {"type": "openapi/v0.0.38"}}, "errors": [], "jobs": [`)
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"job_id": %d, "job_state": "PENDING", "state_reason": "Held", "user_name": "alice", "comment": "%s", "command": "%s"}`,
			i, LegacyMarker(int64(i)), strings.Repeat("x", 200))
	}
	b.WriteString("]}\n")
	squeue := slurmtest.New(t, "squeue", slurmtest.Response{Stdout: b.String()})
	c := fakeClient(t, nil, squeue, nil, nil)
	got, err := c.QueueJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	last, _, _ := got.Job(n)
	first, _, _ := got.Job(1)
	if got.Len() != n || last.Comment != LegacyMarker(n) || first.StateReason != "Held" {
		t.Fatalf("%d jobs, last %+v", got.Len(), last)
	}
}

// One unreadable job object never hides the others: a bad object with a readable id fails only
// when that job is asked for; one without a readable id is named in QueueJobs' error.
func TestQueueJobsUnreadableJobs(t *testing.T) {
	doc := `{"jobs": [{"job_id": 7, "job_state": "RUNNING"}, {"job_id": 8, "job_state": []}, {"job_state": "RUNNING"}, {"job_id": 9, "job_state": "PENDING"}]}`
	squeue := slurmtest.New(t, "squeue", slurmtest.Response{Stdout: doc})
	c := fakeClient(t, nil, squeue, nil, nil)
	got, err := c.QueueJobs(context.Background())
	var pe *JobParseError
	if got == nil || !errors.As(err, &pe) {
		t.Fatalf("QueueJobs = %v, %v; want a queue and a *JobParseError for the object without id", got, err)
	}
	for id, want := range map[int64]string{7: "RUNNING", 9: "PENDING"} {
		if j, ok, err := got.Job(id); !ok || err != nil || j.JobState != want {
			t.Errorf("job %d = %+v, %v, %v; want %s", id, j, ok, err, want)
		}
	}
	_, ok, err := got.Job(8)
	if !ok || !errors.As(err, &pe) || pe.JobID != 8 {
		t.Errorf("job 8: ok %v, err %v; want held but unreadable", ok, err)
	}
}

func TestQueueJobsErrors(t *testing.T) {
	for name, resp := range map[string]slurmtest.Response{
		"controller down": {Stderr: "squeue: error: Unable to contact slurm controller (connect failure)\n", ExitCode: 1},
		"not JSON":        {Stdout: "JOBID PARTITION NAME\n"},
		"no jobs key":     {Stdout: `{"meta": {}, "errors": []}`},
	} {
		t.Run(name, func(t *testing.T) {
			squeue := slurmtest.New(t, "squeue", resp)
			c := fakeClient(t, nil, squeue, nil, nil)
			got, err := c.QueueJobs(context.Background())
			if err == nil || got != nil {
				t.Fatalf("QueueJobs = %v, %v; want no map and an error", got, err)
			}
			if name == "controller down" && !strings.Contains(err.Error(), "Unable to contact slurm controller") {
				t.Errorf("err = %v, want squeue's stderr", err)
			}
			if name == "no jobs key" && !errors.Is(err, ErrNoJobsKey) {
				t.Errorf("err = %v, want ErrNoJobsKey", err)
			}
		})
	}
}

func TestQueueJobsFallsBackToScontrolAll(t *testing.T) {
	// Slurm 22.05: the queue is read with scontrol -o; squeue lists the ids that count.
	squeue := slurmtest.New(t, "squeue", slurmtest.Response{Stdout: "4\n6\n"})
	out := string(readTestdata(t, "scontrol-22.05.txt"))
	scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stdout: out})
	c := fakeClient(t, nil, squeue, scontrol, nil)
	c.opts.SlurmVersion = "22.05"
	got, err := c.QueueJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	j4, _, _ := got.Job(4)
	lines := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			lines++
		}
	}
	if got.Len() != lines || j4.JobState != "RUNNING" {
		t.Errorf("%d jobs (want %d), job 4 = %+v", got.Len(), lines, j4)
	}
	if calls := scontrol.Calls(t); len(calls) != 1 || !slices.Equal(calls[0].Args, []string{"show", "job", "-o"}) {
		t.Errorf("scontrol calls = %+v, want one show job -o", calls)
	}
}

func TestQueueJobsEmptyQueueWithScontrol(t *testing.T) {
	squeue := slurmtest.New(t, "squeue", slurmtest.Response{})
	scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stdout: "No jobs in the system\n"})
	c := fakeClient(t, nil, squeue, scontrol, nil)
	c.opts.SlurmVersion = "22.05"
	got, err := c.QueueJobs(context.Background())
	if err != nil || got == nil || got.Len() != 0 {
		t.Errorf("QueueJobs = %v, %v; want an empty queue", got, err)
	}
}

func TestResolveGoneWithoutAccounting(t *testing.T) {
	c := fakeClient(t, nil, nil, nil, nil) // sacct points nowhere: accounting is off
	got, err := c.ResolveGone(context.Background(), []int64{5, 6})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[5] != UnknownJob(5) || got[6] != UnknownJob(6) {
		t.Errorf("ResolveGone = %+v, want both UNKNOWN", got)
	}
}
