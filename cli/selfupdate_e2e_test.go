package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// TestSelfUpdateSwapsTheBinary runs agent 5.10.0 against an API reporting 5.11.0 with an update
// command that moves a 5.11.0 build over the agent's path. The agent must run the command, drain,
// re-execute itself as 5.11.0 (same pid), and every held submission created before, around and
// after the restart must end SUBMITTED with exactly one Slurm job.
func TestSelfUpdateSwapsTheBinary(t *testing.T) {
	requireSlurm(t)
	dir := t.TempDir()
	agent, next := filepath.Join(dir, "jobbergate-agent"), filepath.Join(dir, "jobbergate-agent-5.11.0")
	buildBinary(t, "./cmd/jobbergate-agent", agent, "5.10.0")
	buildBinary(t, "./cmd/jobbergate-agent", next, "5.11.0")
	update := filepath.Join(dir, "update.sh")
	script := fmt.Sprintf("#!/bin/sh\n# installs version $1\ncp %q %q.new && mv %q.new %q\n", next, agent, agent, agent)
	if err := os.WriteFile(update, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{Version: "5.11.0"})
	home, _ := exec.Command("sh", "-c", "getent passwd alice | cut -d: -f6").Output()
	workDir := strings.TrimSpace(string(home))
	marker := fmt.Sprintf("selfupd-%d", time.Now().UnixNano())
	js := api.AddJobScript(jobbergatetest.JobScript{Name: "held", OwnerEmail: "alice@example.org", Files: []jobbergatetest.File{{
		Filename: "held.sh", FileType: "ENTRYPOINT",
		Content: []byte("#!/bin/bash\n#SBATCH --output=/dev/null\n#SBATCH --job-name=" + marker + "\nsleep 60\n"),
	}}})
	var ids []int
	add := func(n int) {
		for range n {
			ids = append(ids, api.AddSubmission(jobbergatetest.Submission{Name: marker, OwnerEmail: "alice@example.org",
				ClientID: "cluster-test", JobScriptID: js, ExecutionDirectory: &workDir, SbatchArguments: []string{"--hold"}}))
		}
	}
	jobs := func() []string {
		out, _ := exec.Command("squeue", "-h", "-u", "alice", "-n", marker, "-o", "%i").Output()
		return strings.Fields(string(out))
	}
	t.Cleanup(func() { _ = exec.Command("scancel", "-u", "alice", "-n", marker).Run() })

	env := append(agentEnv(t, api, "bridge,submit,update,health"),
		"JOBBERGATE_AGENT_BRIDGE_POLL_INTERVAL=1s",
		"JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS=10",
		"JOBBERGATE_AGENT_SINGLE_USER_SUBMITTER=alice",
		"JOBBERGATE_AGENT_TASK_SELF_UPDATE_INTERVAL_SECONDS=10",
		"JOBBERGATE_AGENT_SELF_UPDATE_COMMAND="+update+" {version}",
		"PATH=/usr/bin:/bin")
	logs := &testenv.SyncBuffer{}
	cmd := exec.Command(agent, "--env-file", "none", "run")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logs, logs
	add(3)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(90 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})

	// Keep adding submissions until the restart, so that some are in flight when it happens.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), "restarting on the updated binary") {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not restart within 60 s")
		}
		select {
		case err := <-exited:
			t.Fatalf("the agent exited instead of restarting: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
		add(1)
	}
	add(3) // created while the new binary starts
	testenv.Eventually(t, 60*time.Second, func() bool {
		return strings.Count(logs.String(), "Starting Jobbergate-agent") == 2 && strings.Contains(logs.String(), "agent started")
	}, "the new binary did not start")
	add(2) // created after the restart

	testenv.Eventually(t, 120*time.Second, func() bool {
		for _, id := range ids {
			if s, _ := api.Submission(id); s.Status != "SUBMITTED" {
				return false
			}
		}
		return true
	}, "not every submission was submitted")

	out := logs.String()
	starts := strings.Split(out, "Starting Jobbergate-agent")
	if len(starts) != 3 || !strings.Contains(starts[1], "version=5.10.0") || !strings.Contains(starts[2], "version=5.11.0") {
		t.Errorf("want a 5.10.0 start then a 5.11.0 start")
	}
	if strings.Count(out, "restarting on the updated binary") != 1 {
		t.Errorf("the agent restarted %d times, want once", strings.Count(out, "restarting on the updated binary"))
	}
	v, err := exec.Command(agent, "version").Output()
	if err != nil || !strings.HasPrefix(string(v), "jobbergate-agent 5.11.0") {
		t.Errorf("installed binary: %q, %v", v, err)
	}
	// Exactly one Slurm job per submission, and each submission's job is one of them.
	got := jobs()
	if len(got) != len(ids) {
		t.Errorf("%d Slurm jobs for %d submissions: %v", len(got), len(ids), got)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		s, _ := api.Submission(id)
		j := strconv.Itoa(*s.SlurmJobID)
		if seen[j] {
			t.Errorf("Slurm job %s reported for two submissions", j)
		}
		seen[j] = true
	}
	t.Logf("%d submissions across the restart, %d Slurm jobs", len(ids), len(got))
}
