package cli

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// TestDemoRunsNonInteractively builds the agent and cmd/jobbergate-demo, runs the demo the way
// `make demo` does (without a terminal) against the real Slurm, and checks every demo
// submission's final state in its summary table.
func TestDemoRunsNonInteractively(t *testing.T) {
	requireSlurm(t)
	_, err := exec.Command("id", "bob").Output()
	testenv.Require(t, "slurm", err == nil, "no local user bob: "+startSlurm)
	bin := t.TempDir()
	agent, demo := filepath.Join(bin, "jobbergate-agent"), filepath.Join(bin, "jobbergate-demo")
	buildBinary(t, "./cmd/jobbergate-agent", agent, "")
	buildBinary(t, "./cmd/jobbergate-demo", demo, "")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, demo, "-agent", agent, "-work-dir", t.TempDir(), "-timeout", "4m")
	cmd.Dir = ".." // the demo reads deploy/demo/seed.json and map-user.sh
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the demo failed: %v\n%s", err, out.String())
	}
	_, table, ok := strings.Cut(out.String(), "\nSummary\n")
	if !ok {
		t.Fatalf("no summary:\n%s", out.String())
	}
	want := map[string]struct{ status, message string }{
		"1": {"DONE", ""}, "2": {"DONE", ""}, "3": {"DONE", ""}, "4": {"DONE", ""},
		"5": {"ABORTED", ""},
		"6": {"REJECTED", "Username could not be resolved from owner email"},
		"7": {"REJECTED", "Execution directory must be an absolute path"},
	}
	cols := regexp.MustCompile(`\s{2,}`)
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
		f := cols.Split(strings.TrimSpace(line), -1) // ID NAME OWNER STATUS SLURM-ID SLURM-STATE MESSAGE
		w, ok := want[f[0]]
		if !ok || len(f) < 6 {
			t.Errorf("unexpected row %q", line)
			continue
		}
		seen++
		if f[3] != w.status {
			t.Errorf("submission %s: %s, want %s (%q)", f[0], f[3], w.status, line)
		}
		if w.status != "REJECTED" && f[4] == "-" {
			t.Errorf("submission %s has no Slurm job id: %q", f[0], line)
		}
		if w.message != "" && !strings.Contains(line, w.message) {
			t.Errorf("submission %s: message lacks %q: %q", f[0], w.message, line)
		}
	}
	if seen != len(want) {
		t.Errorf("%d demo submissions in the summary, want %d:\n%s", seen, len(want), table)
	}
}
