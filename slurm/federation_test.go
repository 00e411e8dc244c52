package slurm

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/slurmtest"
)

func TestInFederation(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      bool
	}{
		{"no federation prints nothing", "", false},
		{"blank lines", "\n\n", false},
		{"federation", "Federation: fed1\nSelf:       cluster1:127.0.0.1:6817 ID:1 FedState:ACTIVE Features:\nSibling:    cluster2:10.0.0.2:6817 ID:2 FedState:ACTIVE Features:\n", true},
		{"indented", "  Federation: fed1\n", true},
		{"a job line is not a federation", "JobId=4 JobName=Federation: UserId=a(1)\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inFederation(tc.out); got != tc.want {
				t.Errorf("inFederation(%q) = %v, want %v", tc.out, got, tc.want)
			}
		})
	}
}

func TestFederationProbeCachesAndRetries(t *testing.T) {
	var p federationProbe
	var checks atomic.Int32
	var changes []string
	onChange := func(local bool, err error) {
		changes = append(changes, map[bool]string{true: "local", false: "federated"}[local]+map[bool]string{true: " (error)", false: ""}[err != nil])
	}
	fail := func(context.Context) (bool, error) { checks.Add(1); return false, errors.New("slurmctld down") }
	if p.localReads(context.Background(), fail, onChange) {
		t.Fatal("a failed check must mean plain reads")
	}
	// A failed answer is trusted for federationRetry: no new check right away.
	ok := func(context.Context) (bool, error) { checks.Add(1); return true, nil }
	if p.localReads(context.Background(), ok, onChange) || checks.Load() != 1 {
		t.Fatalf("checks = %d after a recent failure, want 1 (and plain reads)", checks.Load())
	}
	// Once stale, the next call checks again; a good answer is then cached.
	p.until = p.until.Add(-federationRetry)
	for range 5 {
		if !p.localReads(context.Background(), ok, onChange) {
			t.Fatal("no federation: want --local")
		}
	}
	if checks.Load() != 2 {
		t.Errorf("checks = %d, want 2 (one failed, one cached for the hour)", checks.Load())
	}
	if want := []string{"federated (error)", "local"}; !slices.Equal(changes, want) {
		t.Errorf("logged changes = %q, want %q", changes, want)
	}
}

func TestFederationProbeOneCheckAtATime(t *testing.T) {
	var p federationProbe
	release := make(chan struct{})
	started := make(chan struct{})
	var checks atomic.Int32
	slow := func(context.Context) (bool, error) {
		checks.Add(1)
		close(started)
		<-release
		return true, nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.localReads(context.Background(), slow, func(bool, error) {}) })
	<-started
	// While the check runs, other readers get the previous answer at once (plain reads).
	for range 3 {
		if p.localReads(context.Background(), slow, func(bool, error) {}) {
			t.Error("got --local before the check answered")
		}
	}
	close(release)
	wg.Wait()
	if checks.Load() != 1 {
		t.Errorf("checks = %d, want 1", checks.Load())
	}
	if !p.localReads(context.Background(), slow, func(bool, error) {}) {
		t.Error("after the check: want --local")
	}
}

func TestJobStateLocalReadsWithFakeScontrol(t *testing.T) {
	line := strings.Split(string(readTestdata(t, "scontrol-22.05.txt")), "\n")[0] + "\n"
	for _, tc := range []struct {
		name       string
		federation string // what scontrol show federation prints
		wantRead   []string
	}{
		{"no federation", "", []string{"--local", "show", "job", "4", "-o"}},
		{"federation", "Federation: fed1\nSelf:       c1:127.0.0.1:6817 ID:1 FedState:ACTIVE Features:\n", []string{"show", "job", "4", "-o"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stdout: tc.federation})
			c, err := New(Options{ScontrolPath: scontrol.Path, SacctPath: "/nonexistent/sacct", LocalReads: true})
			if err != nil {
				t.Fatal(err)
			}
			c.stateReadFlags(context.Background()) // the hourly check, answered by the federation output
			scontrol.SetResponse(t, slurmtest.Response{Stdout: line})
			for range 2 {
				j, err := c.JobState(context.Background(), 4)
				if err != nil || j.JobState != "RUNNING" {
					t.Fatalf("JobState(4) = %+v, %v", j, err)
				}
			}
			calls := scontrol.Calls(t)
			if len(calls) != 3 || !slices.Equal(calls[0].Args, []string{"show", "federation"}) {
				t.Fatalf("scontrol calls = %+v, want one federation check and two reads", calls)
			}
			for _, call := range calls[1:] {
				if !slices.Equal(call.Args, tc.wantRead) {
					t.Errorf("read args = %q, want %q", call.Args, tc.wantRead)
				}
			}
		})
	}
}
