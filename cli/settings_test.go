package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// writeEnvFile writes lines as an env file the caller owns, mode 0600.
func writeEnvFile(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.env")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUnknownSettingWarns: an env file with a variable the agent does not know (an old .env, a
// typo) does not stop `config` or `run`, as it does not stop the reference: config exits 0 and
// prints one warning naming the closest setting, run logs it once at WARN and starts.
func TestUnknownSettingWarns(t *testing.T) {
	file := writeEnvFile(t, "# from the Python agent", "JOBBERGATE_AGENT_SBATCH_PTH=/opt/slurm/bin/sbatch",
		"JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS=30")
	want := "unknown setting JOBBERGATE_AGENT_SBATCH_PTH ignored (in " + file + "); did you mean JOBBERGATE_AGENT_SBATCH_PATH?"

	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"--env-file", file, "config"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("config: exit %d\n%s", code, stderr.String())
	}
	if got := strings.Count(stderr.String(), want); got != 1 {
		t.Errorf("config's stderr has the warning %d times, want once:\n%s", got, stderr.String())
	}
	for _, line := range []string{"JOBBERGATE_AGENT_SBATCH_PATH=/usr/bin/sbatch\n", "JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS=30\n"} {
		if !strings.Contains(stdout.String(), line) {
			t.Errorf("config's stdout lacks %q", line)
		}
	}

	stdout.Reset()
	stderr.Reset()
	if code := Run(context.Background(), []string{"--env-file", file, "config", "--json"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("config --json: exit %d\n%s", code, stderr.String())
	}
	var out struct{ Warnings []config.Warning }
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Warnings) != 1 || out.Warnings[0].Suggestion != "JOBBERGATE_AGENT_SBATCH_PATH" || out.Warnings[0].From != file {
		t.Errorf("config --json warnings: %+v", out.Warnings)
	}

	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	env := agentEnv(t, api, "bridge")
	var logs testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"--env-file", file, "run"}, env, &bytes.Buffer{}, &logs) }()
	testenv.Eventually(t, 60*time.Second, func() bool {
		select {
		case code := <-done:
			t.Fatalf("the agent exited (%d):\n%s", code, agentLog(&logs))
		default:
		}
		return strings.Contains(logs.String(), "agent started")
	}, "the agent did not start:\n%s", agentLog(&logs))
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run: exit %d:\n%s", code, agentLog(&logs))
	}
	var warned []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "unknown setting") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "level=WARN") || !strings.Contains(warned[0], "did you mean JOBBERGATE_AGENT_SBATCH_PATH?") ||
		!strings.Contains(warned[0], "setting=JOBBERGATE_AGENT_SBATCH_PTH") {
		t.Errorf("run logs the unknown setting %d times, want once at WARN: %q", len(warned), warned)
	}
}
