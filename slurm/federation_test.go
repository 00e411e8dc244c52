package slurm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
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

// stubCheck is a federation check whose answers a test hands out one by one.
type stubCheck struct {
	calls   atomic.Int32
	answers chan stubAnswer
}

type stubAnswer struct {
	local bool
	err   error
}

func newStubCheck() *stubCheck { return &stubCheck{answers: make(chan stubAnswer)} }

func (s *stubCheck) check(ctx context.Context) (bool, error) {
	s.calls.Add(1)
	select {
	case a := <-s.answers:
		return a.local, a.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// reports records what the probe reported.
type reports struct {
	mu   sync.Mutex
	list []string
}

func (r *reports) report(local bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		r.list = append(r.list, "error")
	case local:
		r.list = append(r.list, "local")
	default:
		r.list = append(r.list, "federated")
	}
}

func (r *reports) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// Callers that wait get the first answer once it is there, all from one check; callers that
// do not wait get the cached answer at once while a stale one is refreshed behind them.
func TestFederationProbeFirstAnswerThenBackgroundRefresh(t *testing.T) {
	var p federationProbe
	chk, rep := newStubCheck(), &reports{}
	ctx := context.Background()
	if p.localReads(ctx, false, chk.check, rep.report) {
		t.Fatal("no answer yet: a caller that does not wait must get plain reads")
	}
	got := make(chan bool, 3)
	for range 3 {
		go func() { got <- p.localReads(ctx, true, chk.check, rep.report) }()
	}
	chk.answers <- stubAnswer{local: true}
	for range 3 {
		if !<-got {
			t.Fatal("a waiting caller did not get the first answer (no federation)")
		}
	}
	if n := chk.calls.Load(); n != 1 {
		t.Fatalf("%d checks for concurrent first callers, want 1", n)
	}
	// Stale: the next callers get the old answer at once, one refresh runs behind them.
	p.mu.Lock()
	p.until = time.Now().Add(-time.Second)
	p.mu.Unlock()
	for range 3 {
		if !p.localReads(ctx, true, chk.check, rep.report) {
			t.Fatal("while refreshing, callers must get the cached answer")
		}
	}
	chk.answers <- stubAnswer{local: false} // the cluster joined a federation
	testenv.Eventually(t, 5*time.Second, func() bool { return !p.localReads(ctx, false, chk.check, rep.report) },
		"the refreshed answer")
	if n := chk.calls.Load(); n != 2 {
		t.Errorf("%d checks, want 2", n)
	}
	if want := []string{"local", "federated"}; !slices.Equal(rep.get(), want) {
		t.Errorf("reported %q, want %q", rep.get(), want)
	}
}

// A failed check means plain reads, is trusted for federationRetry only, and is reported once
// however many times it fails in a row.
func TestFederationProbeFailures(t *testing.T) {
	var p federationProbe
	chk, rep := newStubCheck(), &reports{}
	ctx := context.Background()
	down := errors.New("controller down")
	first := make(chan bool)
	go func() { first <- p.localReads(ctx, true, chk.check, rep.report) }()
	chk.answers <- stubAnswer{err: down}
	if <-first {
		t.Fatal("failed check: want plain reads")
	}
	p.mu.Lock()
	retryIn := time.Until(p.until)
	p.mu.Unlock()
	if retryIn > federationRetry || retryIn < federationRetry/2 {
		t.Errorf("a failed check is trusted for %s, want about %s", retryIn, federationRetry)
	}
	// refresh makes the answer stale, lets one background check answer a, and returns what a
	// caller gets then.
	refresh := func(a stubAnswer) bool {
		p.mu.Lock()
		p.until = time.Time{}
		p.mu.Unlock()
		p.localReads(ctx, false, chk.check, rep.report)
		chk.answers <- a
		testenv.Eventually(t, 5*time.Second, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return !p.checking
		}, "the background check")
		return p.localReads(ctx, false, chk.check, rep.report)
	}
	if refresh(stubAnswer{err: down}) {
		t.Fatal("failed check: want plain reads")
	}
	if !refresh(stubAnswer{local: true}) {
		t.Fatal("check succeeded: want --local")
	}
	if want := []string{"error", "local"}; !slices.Equal(rep.get(), want) {
		t.Errorf("reported %q, want %q (a repeated failure once)", rep.get(), want)
	}
}

func TestJobStateLocalReadsWithFakeScontrol(t *testing.T) {
	line := strings.Split(string(readTestdata(t, "scontrol-22.05.txt")), "\n")[0]
	for _, tc := range []struct {
		name       string
		federation string // what scontrol show federation prints
		pingFails  bool
		wantCalls  []string
	}{
		{"no federation", "", false, []string{"show federation", "ping", "--local show job 4 -o", "--local show job 4 -o"}},
		{"federation", "Federation: fed1\nSelf:       c1:127.0.0.1:6817 ID:1 FedState:ACTIVE Features:\n", false,
			[]string{"show federation", "show job 4 -o", "show job 4 -o"}},
		// scontrol show federation prints nothing and exits 0 when slurmctld is unreachable.
		{"controller down", "", true, []string{"show federation", "ping", "show job 4 -o", "show job 4 -o"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name, content string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			fed, job, log := write("fed", tc.federation), write("job", line+"\n"), filepath.Join(dir, "log")
			pingRC := map[bool]string{true: "1", false: "0"}[tc.pingFails]
			script := write("scontrol", "#!/bin/sh\necho \"$*\" >> "+log+"\ncase \"$*\" in\n"+
				"\"show federation\") cat "+fed+" ;;\n"+
				"ping) echo 'Slurmctld(primary) at x is UP or DOWN'; exit "+pingRC+" ;;\n"+
				"*) cat "+job+" ;;\nesac\n")
			if err := os.Chmod(script, 0o755); err != nil {
				t.Fatal(err)
			}
			c, err := New(Options{ScontrolPath: script, SacctPath: "/nonexistent/sacct", LocalReads: true, SlurmVersion: "22.05"})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				j, err := c.JobState(context.Background(), 4)
				if err != nil || j.JobState != "RUNNING" {
					t.Fatalf("JobState(4) = %+v, %v", j, err)
				}
			}
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Split(strings.TrimSpace(string(b)), "\n"); !slices.Equal(got, tc.wantCalls) {
				t.Errorf("scontrol calls %q, want %q", got, tc.wantCalls)
			}
		})
	}
}
