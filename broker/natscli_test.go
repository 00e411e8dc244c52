package broker

import (
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

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

func TestNatsCLISeesTopology(t *testing.T) {
	cli := natsCLI()
	testenv.Require(t, "nats CLI", cli != "", "run deploy/nats/install-natscli.sh")
	b := startEmbedded(t, t.TempDir(), true)
	topo := provisioned(t, b)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"--server", b.ClientURL(), "--no-context"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	streams := run("stream", "ls")
	for _, s := range []string{topo.Submit.Stream, topo.Update.Stream, topo.Metrics.Stream, topo.Dead} {
		if !strings.Contains(streams, s) {
			t.Errorf("nats stream ls misses %s:\n%s", s, streams)
		}
	}
	report := run("consumer", "report", topo.Submit.Stream)
	if !strings.Contains(report, topo.Submit.Consumer) {
		t.Errorf("nats consumer report misses %s:\n%s", topo.Submit.Consumer, report)
	}
	kv := run("kv", "ls")
	for _, bucket := range []string{topo.SubmissionsBucket, topo.LeasesBucket, topo.AgentsBucket} {
		if !strings.Contains(kv, bucket) {
			t.Errorf("nats kv ls misses %s:\n%s", bucket, kv)
		}
	}
}
