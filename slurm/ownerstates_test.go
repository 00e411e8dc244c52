package slurm

import (
	"context"
	"testing"
)

func TestParseStatusLine(t *testing.T) {
	tests := []struct {
		line string
		id   int64
		want JobStatus
		ok   bool
	}{
		{"12|PENDING|JobHeldUser", 12, JobStatus{"PENDING", "JobHeldUser"}, true},
		{"13|RUNNING|None", 13, JobStatus{"RUNNING", "None"}, true},
		{"14|PENDING|", 14, JobStatus{"PENDING", ""}, true},
		{"15_3|PENDING|None", 0, JobStatus{}, false}, // an array task
		{"16|PENDING", 0, JobStatus{}, false},
		{"|PENDING|None", 0, JobStatus{}, false},
		{"-1|PENDING|None", 0, JobStatus{}, false},
		{"17||None", 0, JobStatus{}, false},
		{"", 0, JobStatus{}, false},
	}
	for _, tt := range tests {
		id, st, ok := parseStatusLine(tt.line)
		if id != tt.id || st != tt.want || ok != tt.ok {
			t.Errorf("parseStatusLine(%q) = %d, %+v, %v; want %d, %+v, %v", tt.line, id, st, ok, tt.id, tt.want, tt.ok)
		}
	}
}

// On every Slurm version the owner listing shows a job in the state and reason a single read
// reports, so the update path can tell an unchanged job without reading it; another user's job
// is not listed.
func TestRealOwnerStatesMatchSingleReads(t *testing.T) {
	c, alice := realSlurm(t, Options{})
	ctx := context.Background()
	dir := userDir(t, alice)
	res, err := c.Submit(ctx, SubmitRequest{User: alice, Dir: dir, Script: []byte("#!/bin/sh\ntrue\n"),
		ExtraArgs: []string{"--hold", "--output=/dev/null"}})
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, c, res.JobID)
	single, err := c.JobState(ctx, res.JobID)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := c.OwnerStates(ctx, alice.UID)
	if err != nil {
		t.Fatal(err)
	}
	if got := listed[res.JobID]; got != (JobStatus{State: single.JobState, Reason: single.StateReason}) || got.State != "PENDING" {
		t.Errorf("listed %+v, single read %q/%q; want the same PENDING state and reason", got, single.JobState, single.StateReason)
	}
	others, err := c.OwnerStates(ctx, alice.UID+1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := others[res.JobID]; ok {
		t.Errorf("alice's job %d listed for uid %d", res.JobID, alice.UID+1)
	}
}
