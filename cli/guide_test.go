package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// guideBlock returns the shell block of README.md between the operator guide's markers.
func guideBlock(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	begin, end := "<!-- operator-guide:"+name+":begin -->", "<!-- operator-guide:"+name+":end -->"
	_, rest, ok := strings.Cut(string(data), begin)
	block, _, ok2 := strings.Cut(rest, end)
	if !ok || !ok2 {
		t.Fatalf("README.md has no %s ... %s section", begin, end)
	}
	block = strings.TrimSpace(block)
	block = strings.TrimPrefix(block, "```sh")
	block = strings.TrimSuffix(block, "```")
	return block
}

// TestOperatorGuideNatsCommands runs the guide's nats CLI block, as written in README.md,
// against a running agent, with the nats CLI and the agent binary on PATH.
func TestOperatorGuideNatsCommands(t *testing.T) {
	natsBin := natsCLI()
	testenv.Require(t, "nats CLI", natsBin != "", "run deploy/nats/install-natscli.sh")
	block := guideBlock(t, "nats")
	for _, want := range []string{"nats stream ls", "nats stream info", "nats consumer report", "nats kv ls", "nats kv get"} {
		if !strings.Contains(block, want) {
			t.Errorf("the guide lacks %q", want)
		}
	}

	bin := t.TempDir()
	buildBinary(t, "./cmd/jobbergate-agent", filepath.Join(bin, "jobbergate-agent"), "")
	if err := os.Symlink(natsBin, filepath.Join(bin, "nats")); err != nil {
		t.Fatal(err)
	}
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	env := agentEnv(t, api, "bridge,health")
	a := startAgent(t, env)
	url := a.logValue("embedded nats-server started", "listen")
	if url == "" {
		t.Fatalf("no NATS address in the log")
	}
	// The bridge leader holds its lease once it has polled.
	testenv.Eventually(t, 30*time.Second, func() bool { return strings.Contains(a.logs.String(), "became leader") }, "no bridge leader")

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = t.TempDir() // no ./.env there
	cmd.Env = append(env, "PATH="+bin+":/usr/bin:/bin", "HOME="+t.TempDir(), "NATS_URL="+url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the guide's commands failed: %v\n%s", err, out)
	}
	prefix := "JBG_CLUSTER_TEST"
	for _, want := range []string{
		prefix + "_SUBMIT", prefix + "_DEAD", // stream ls
		"Subjects: jbg_cluster_test.submit.",                            // stream info
		"submit",                                                        // consumer report
		prefix + "_submissions", prefix + "_leases", prefix + "_agents", // kv ls
		prefix + "_leases > bridge", `"holder":`, // kv get of the lease
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
