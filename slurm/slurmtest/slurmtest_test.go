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
