package slurmtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestFakeRecordsAndAnswers(t *testing.T) {
	f := New(t, "sbatch", Response{Stdout: "12;cluster\n", Stderr: "warn\n", ExitCode: 0})
	cmd := exec.Command(f.Path, "--parsable", "a b")
	cmd.Stdin = strings.NewReader("#!/bin/sh\ntrue\n")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "MARK=1"}
	cmd.Dir = "/tmp"
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run fake: %v", err)
	}
	if string(out) != "12;cluster\n" {
		t.Errorf("stdout = %q", out)
	}

	f.SetResponse(t, Response{Stderr: "boom\n", ExitCode: 3})
	err = exec.Command(f.Path).Run()
	var ee *exec.ExitError
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("second call: err = %v, want exit status 3 (%T)", err, ee)
	}

	calls := f.Calls(t)
	if len(calls) != 2 {
		t.Fatalf("calls = %d, want 2", len(calls))
	}
	c := calls[0]
	if !slices.Equal(c.Args, []string{"--parsable", "a b"}) {
		t.Errorf("args = %q", c.Args)
	}
	if c.Stdin != "#!/bin/sh\ntrue\n" {
		t.Errorf("stdin = %q", c.Stdin)
	}
	if v, ok := c.Getenv("MARK"); !ok || v != "1" {
		t.Errorf("MARK = %q, %v", v, ok)
	}
	if c.Dir != "/tmp" {
		t.Errorf("dir = %q", c.Dir)
	}
	if len(calls[1].Args) != 0 {
		t.Errorf("second call args = %q", calls[1].Args)
	}
}

func TestFakeAnswersPerJob(t *testing.T) {
	f := New(t, "scontrol", Response{Stdout: "other\n"})
	f.SetJobs(t, map[int64]string{7: "JobId=7 JobState=PENDING\n"})
	tests := []struct {
		args    []string
		out     string
		wantErr bool
	}{
		{[]string{"show", "job", "7", "-o"}, "JobId=7 JobState=PENDING\n", false},
		{[]string{"--json", "show", "job", "8"}, "", true},
		{[]string{"ping"}, "other\n", false},
	}
	for _, tt := range tests {
		cmd := exec.Command(f.Path, tt.args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if string(out) != tt.out || (err != nil) != tt.wantErr {
			t.Errorf("%q: out %q err %v, want %q (error %v)", tt.args, out, err, tt.out, tt.wantErr)
		}
		if tt.wantErr && !strings.Contains(stderr.String(), "Invalid job id specified") {
			t.Errorf("%q: stderr %q, want scontrol's invalid job id", tt.args, stderr.String())
		}
	}
}
