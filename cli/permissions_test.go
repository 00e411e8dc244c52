package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/inspect"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// startPermittedServer starts a nats-server whose only user is the agents' nkey user of topo,
// with exactly the permissions deploy/nats/permgen renders (broker.AgentPermissions): publish to
// the prefix's subjects and JetStream API, subscribe only to _INBOX_<prefix>.>. It returns the
// client URL and the seed file of that user.
func startPermittedServer(t *testing.T, topo broker.Topology) (url, seedFile string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile = filepath.Join(t.TempDir(), "agent.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	p := broker.AgentPermissions(topo)
	ns, err := server.NewServer(&server.Options{
		ServerName: "permitted", Host: "127.0.0.1", Port: -1, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(),
		Nkeys: []*server.NkeyUser{{Nkey: pub, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: p.Publish},
			Subscribe: &server.SubjectPermission{Allow: p.Subscribe},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return ns.ClientURL(), seedFile
}

// TestStatusAndDeadUnderAgentPermissions runs the agent and then `status` and `dead` with the
// agent's own settings against a server that allows that user replies only on its own inbox
// prefix: the commands must dial as the agent does, or JetStream never answers them.
func TestStatusAndDeadUnderAgentPermissions(t *testing.T) {
	topo, err := broker.NewTopology("JBG_C1")
	if err != nil {
		t.Fatal(err)
	}
	url, seedFile := startPermittedServer(t, topo)
	env := []string{
		"JOBBERGATE_AGENT_OIDC_CLIENT_ID=cluster-c1",
		"JOBBERGATE_AGENT_CACHE_DIR=" + t.TempDir(),
		"JOBBERGATE_AGENT_NATS_PREFIX=JBG_C1",
		"JOBBERGATE_AGENT_NATS_URL=" + url,
		"JOBBERGATE_AGENT_NATS_NKEY_SEED=" + seedFile,
	}
	s, err := config.Load(config.Source{Environ: env, Dotenv: "none"})
	if err != nil {
		t.Fatal(err)
	}
	// The agent side: its broker as the agent builds it from these settings.
	opts, err := broker.OptionsFor(s, "permissions-test")
	if err != nil {
		t.Fatal(err)
	}
	logger := logging.New(testWriter{t}, "warn", "text")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, opts, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	if err := broker.Provision(ctx, b.JS, topo); err != nil {
		t.Fatalf("provision as the agent's user: %v", err)
	}
	a := &agentBroker{b: b, topo: topo, env: env}
	a.deadLetterSubmissions(t, "21", "22")

	code, stdout, stderr := run(t, env, "status", "--json", "--timeout", "5s")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	var r inspect.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Dead.Total != 2 {
		t.Fatalf("status report dead %+v, %v\n%s", r.Dead, err, stdout)
	}

	seqs := deadSeqs(t, a)
	if len(seqs) != 2 {
		t.Fatalf("dead list: %v", seqs)
	}
	if code, _, stderr := run(t, env, "dead", "show", strconv.FormatUint(seqs["21"], 10), "--timeout", "5s"); code != 0 {
		t.Fatalf("dead show: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, env, "dead", "retry", strconv.FormatUint(seqs["21"], 10), "--timeout", "5s"); code != 0 {
		t.Fatalf("dead retry: exit %d: %s", code, stderr)
	}
	if n := a.msgs(t, topo.Submit.Stream); n != 1 {
		t.Errorf("after retry the submit queue holds %d messages, want 1", n)
	}
	if code, _, stderr := run(t, env, "dead", "purge", "all", "--timeout", "5s"); code != 0 {
		t.Fatalf("dead purge all: exit %d: %s", code, stderr)
	}
	if n := a.msgs(t, topo.Dead); n != 0 {
		t.Errorf("after purge all DEAD holds %d messages", n)
	}
}
