package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

const startSlurm = "run `deploy/slurm/slurm-single-node.sh start` as root (creates alice and bob)"

// natsCLI finds the nats CLI: $NATS_CLI, then the project's .tools/bin, then PATH.
func natsCLI() string {
	if p := os.Getenv("NATS_CLI"); p != "" {
		return p
	}
	if p, err := filepath.Abs("../.tools/bin/nats"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, _ := exec.LookPath("nats")
	return p
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go" // the Go image's toolchain
}

// buildBinary compiles pkg (relative to the repository root) to out, with version as
// buildinfo.Version when non-empty.
func buildBinary(t *testing.T, pkg, out, version string) {
	t.Helper()
	args := []string{"build", "-o", out}
	if version != "" {
		args = append(args, "-ldflags", "-X github.com/omnivector-solutions/jobbergate-agent-go/internal/buildinfo.Version="+version)
	}
	cmd := exec.Command(goTool(), append(args, pkg)...)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

func slurmUp() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "scontrol", "ping").CombinedOutput()
	return err == nil && strings.Contains(string(out), "UP")
}

func requireSlurm(t *testing.T) {
	t.Helper()
	testenv.Require(t, "root", testenv.IsRoot(), "the agent submits as alice: run the tests as root")
	testenv.Require(t, "slurm", slurmUp(), "slurmctld does not answer `scontrol ping`: "+startSlurm)
	_, err := exec.Command("id", "alice").Output()
	testenv.Require(t, "slurm", err == nil, "no local user alice: "+startSlurm)
}

// runningAgent is an agent started with Run in this process.
type runningAgent struct {
	t      *testing.T
	logs   *testenv.SyncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startAgent runs `run` with env until the test ends (or stop is called) and waits for
// "agent started".
func startAgent(t *testing.T, env []string, opts ...Option) *runningAgent {
	t.Helper()
	a := &runningAgent{t: t, logs: &testenv.SyncBuffer{}, done: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() {
		a.done <- Run(ctx, []string{"--env-file", "none", "run"}, env, &bytes.Buffer{}, a.logs, opts...)
	}()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.logs.String())
		}
	})
	testenv.Eventually(t, 60*time.Second, func() bool { return strings.Contains(a.logs.String(), "agent started") }, "the agent did not start")
	return a
}

// stop stops the agent (SIGTERM) and returns its exit code; later calls return -1.
func (a *runningAgent) stop() int {
	a.cancel()
	select {
	case code, ok := <-a.done:
		if ok {
			close(a.done)
			return code
		}
	case <-time.After(90 * time.Second):
		a.t.Error("the agent did not stop within 90 s")
	}
	return -1
}

// logValue returns the first value of key in the log line whose message matches msg.
func (a *runningAgent) logValue(msg, key string) string {
	m := regexp.MustCompile(regexp.QuoteMeta(msg) + `.* ` + key + `=(\S+)`).FindStringSubmatch(a.logs.String())
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], `"`)
}
