package cli

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/inspect"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// agentBroker is an embedded broker provisioned as an agent with settings env would provision it,
// listening on a random loopback port.
type agentBroker struct {
	b    *broker.Broker
	topo broker.Topology
	addr string
	// env are the settings of a status/dead invocation on the same machine (NATS_LISTEN = addr).
	env []string
}

func startAgentBroker(t *testing.T) *agentBroker {
	t.Helper()
	base := []string{
		"JOBBERGATE_AGENT_OIDC_CLIENT_ID=cluster-inspect",
		"JOBBERGATE_AGENT_CACHE_DIR=" + t.TempDir(),
	}
	s, err := config.Load(config.Source{Environ: base, Dotenv: "none"})
	if err != nil {
		t.Fatal(err)
	}
	topo, err := broker.TopologyFor(s)
	if err != nil {
		t.Fatal(err)
	}
	logger := logging.New(testWriter{t}, "warn", "text")
	b, err := broker.Start(context.Background(), broker.Options{Embedded: &broker.EmbeddedOptions{
		StoreDir: t.TempDir(), ServerName: "status-test", ListenPort: -1,
	}}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	if err := broker.Provision(context.Background(), b.JS, topo); err != nil {
		t.Fatal(err)
	}
	addr := b.Server().Addr().String()
	return &agentBroker{b: b, topo: topo, addr: addr, env: append(base, "JOBBERGATE_AGENT_NATS_LISTEN="+addr)}
}

// testWriter sends broker logs to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (a *agentBroker) publish(t *testing.T, subject, id, data string) {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = []byte(data)
	m.Header.Set(broker.HeaderSubmissionID, id)
	if _, err := a.b.JS.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func (a *agentBroker) msgs(t *testing.T, stream string) uint64 {
	t.Helper()
	s, err := a.b.JS.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// deadLetterSubmissions publishes submissions ids and lets a real runner dead-letter them with
// reason "bad script <id>" (every id its own reason).
func (a *agentBroker) deadLetterSubmissions(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		a.publish(t, a.topo.Submit.Subject(id), id, "#!/bin/sh\necho "+id)
	}
	a.deadLetterQueued(t, "bad script")
}

// deadLetterQueued lets a real runner dead-letter every queued submission with reason.
func (a *agentBroker) deadLetterQueued(t *testing.T, reason string) {
	t.Helper()
	cfg := consumers.ConfigFor(a.topo, a.topo.Submit, 1)
	cfg.FetchWait = 200 * time.Millisecond
	r := consumers.NewRunner(a.b.JS, cfg, consumers.HandlerFunc(func(_ context.Context, m *consumers.Message) consumers.Decision {
		return consumers.Terminate(reason)
	}), logging.New(testWriter{t}, "warn", "text"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	testenv.Eventually(t, 15*time.Second, func() bool { return a.msgs(t, a.topo.Submit.Stream) == 0 }, "submit queue not drained")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func (a *agentBroker) heartbeat(t *testing.T, info broker.AgentInfo) {
	t.Helper()
	kv, err := a.b.JS.KeyValue(context.Background(), a.topo.AgentsBucket)
	if err != nil {
		t.Fatal(err)
	}
	hb := broker.NewHeartbeat(kv, info, time.Second, logging.New(testWriter{t}, "warn", "text"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hb.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testenv.Eventually(t, 5*time.Second, func() bool {
		_, err := kv.Get(context.Background(), hb.Key())
		return err == nil
	}, "heartbeat not written")
}

// fieldsOf returns the fields of the first output line starting with prefix.
func fieldsOf(out, prefix string) []string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			return strings.Fields(line)
		}
	}
	return nil
}

func TestStatusTableAndJSON(t *testing.T) {
	a := startAgentBroker(t)
	a.deadLetterSubmissions(t, "1", "2")
	a.publish(t, a.topo.Submit.Subject("3"), "3", "waiting")
	a.heartbeat(t, broker.AgentInfo{Host: "login-1", PID: 4242, Version: "9.9.9", Roles: []string{"submit", "update"}})

	code, stdout, stderr := run(t, a.env, "status")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	tests := []struct {
		prefix string
		want   []string // fields from the start of the line
	}{
		{a.topo.Submit.Stream + " ", []string{a.topo.Submit.Stream, "submit", "1"}},
		{a.topo.Update.Stream + " ", []string{a.topo.Update.Stream, "update", "0"}},
		{a.topo.Dead + " ", []string{a.topo.Dead, "dead", "2"}},
		{a.topo.Submit.Stream + "/submit", []string{a.topo.Submit.Stream + "/submit", "1", "0", "0"}},
		{"login-1.4242", []string{"login-1.4242", "login-1", "4242", "9.9.9", "submit,update"}},
		{"BRIDGE LEADER", []string{"BRIDGE", "LEADER", "none:"}},
		{"DEAD LETTERS", []string{"DEAD", "LETTERS", "2"}},
		{a.topo.Submit.Stream + " ", []string{a.topo.Submit.Stream, "submit", "1"}},
		{"bad script", []string{"bad", "script", "2"}},
	}
	for _, tc := range tests {
		got := fieldsOf(stdout, tc.prefix)
		if len(got) < len(tc.want) || strings.Join(got[:len(tc.want)], " ") != strings.Join(tc.want, " ") {
			t.Errorf("line %q: fields %q, want prefix %q\n%s", tc.prefix, got, tc.want, stdout)
		}
	}

	code, stdout, stderr = run(t, a.env, "status", "--json")
	if code != 0 {
		t.Fatalf("status --json: exit %d: %s", code, stderr)
	}
	var r inspect.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("status --json is not a report: %v\n%s", err, stdout)
	}
	if r.Prefix != a.topo.Prefix || len(r.Streams) != 5 || r.Streams[0].Messages != 1 || r.Streams[4].Messages != 2 {
		t.Errorf("report streams %+v", r.Streams)
	}
	if r.Dead.Total != 2 || len(r.Dead.ByReason) != 1 || r.Dead.ByReason[0] != (inspect.Count{Key: "bad script", Count: 2}) {
		t.Errorf("report dead %+v", r.Dead)
	}
	if len(r.Agents) != 1 || r.Agents[0].PID != 4242 || r.Leader != nil {
		t.Errorf("report agents %+v leader %+v", r.Agents, r.Leader)
	}
}

func TestStatusThroughNATSURL(t *testing.T) {
	a := startAgentBroker(t)
	a.deadLetterSubmissions(t, "5")
	env := append(a.env[:len(a.env):len(a.env)], "JOBBERGATE_AGENT_NATS_URL=nats://"+a.addr,
		"JOBBERGATE_AGENT_NATS_LISTEN="+freeAddr(t)) // the listener setting must be ignored
	code, stdout, stderr := run(t, env, "status", "--json")
	if code != 0 {
		t.Fatalf("status via NATS_URL: exit %d: %s", code, stderr)
	}
	var r inspect.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Dead.Total != 1 {
		t.Fatalf("report %+v, %v", r.Dead, err)
	}
}

// freeAddr returns a loopback address where nothing listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestStatusWhenNothingListens(t *testing.T) {
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	base := []string{"JOBBERGATE_AGENT_CACHE_DIR=" + t.TempDir()}
	tests := []struct {
		name  string
		env   []string
		args  []string
		wants []string
	}{
		{"listener", []string{"JOBBERGATE_AGENT_NATS_LISTEN=" + addr}, []string{"status"},
			[]string{"no agent is running here: cannot reach the embedded NATS server at " + addr, "is the agent running? is NATS_LISTEN off?"}},
		{"wildcard listener", []string{"JOBBERGATE_AGENT_NATS_LISTEN=0.0.0.0:" + port}, []string{"status", "--json"},
			[]string{"cannot reach the embedded NATS server at 127.0.0.1:" + port}},
		{"listener off", []string{"JOBBERGATE_AGENT_NATS_LISTEN=off"}, []string{"status"},
			[]string{"NATS_LISTEN is off"}},
		{"NATS_URL", []string{"JOBBERGATE_AGENT_NATS_URL=nats://agent:hunter2@" + addr, "JOBBERGATE_AGENT_NATS_USER=agent", "JOBBERGATE_AGENT_NATS_PASSWORD=hunter2"},
			[]string{"status"}, []string{"cannot reach NATS at nats://agent:xxxxx@" + addr, "check NATS_URL"}},
		{"dead list", []string{"JOBBERGATE_AGENT_NATS_LISTEN=" + addr}, []string{"dead", "list"},
			[]string{"no agent is running here"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, stdout, stderr := run(t, append(base[:1:1], tc.env...), tc.args...)
			if code != exitUnreachable {
				t.Errorf("exit %d, want %d; stderr %s", code, exitUnreachable, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			for _, w := range tc.wants {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "hunter2") {
				t.Error("the NATS password appears in the error")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s to notice nothing listens", d)
			}
		})
	}
}

func TestStatusNotProvisioned(t *testing.T) {
	a := startAgentBroker(t)
	env := append(a.env[:len(a.env):len(a.env)], "JOBBERGATE_AGENT_NATS_PREFIX=JBG_NEVER_STARTED")
	code, _, stderr := run(t, env, "status")
	if code != exitUnreachable || !strings.Contains(stderr, "no agent with this NATS_PREFIX has started") ||
		!strings.Contains(stderr, "JBG_NEVER_STARTED_SUBMIT") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
}

func TestStatusUsage(t *testing.T) {
	code, _, stderr := run(t, nil, "status", "extra")
	if code != exitUsage || !strings.Contains(stderr, `unexpected argument "extra"`) {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://agent:hunter2@nats.example.org:4222", "nats://agent:xxxxx@nats.example.org:4222"},
		{"nats://s3cr3t-token@nats.example.org:4222", "nats://xxxxx@nats.example.org:4222"},
		{"nats://nats.example.org:4222", "nats://nats.example.org:4222"},
		{"user:pw@host:4222", "xxxxx@host:4222"},
	}
	for _, tc := range tests {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStatusOfRunningAgent runs the real agent (embedded NATS, bridge role, development API) and
// inspects it from a second invocation with the same settings, as an operator would.
func TestStatusOfRunningAgent(t *testing.T) {
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	addr := freeAddr(t)
	env := append(agentEnv(t, api, "bridge"), "JOBBERGATE_AGENT_NATS_LISTEN="+addr)
	var stderr testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"--env-file", "none", "run"}, env, io.Discard, &stderr) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("the agent did not stop")
		}
	}()
	testenv.Eventually(t, 30*time.Second, func() bool { return strings.Contains(stderr.String(), "agent started") },
		"the agent did not start:\n%s", stderr.String())

	// The elector only campaigns when some role contributes a bridge source; without one the
	// agent says so and nobody may hold the lease.
	const noSources = "bridge role without any source"
	var r inspect.Report
	testenv.Eventually(t, 30*time.Second, func() bool {
		code, stdout, _ := run(t, env, "status", "--json")
		r = inspect.Report{}
		return code == 0 && json.Unmarshal([]byte(stdout), &r) == nil && len(r.Agents) == 1 &&
			(r.Leader != nil || strings.Contains(stderr.String(), noSources))
	}, "status never showed the agent's heartbeat and bridge leader: %+v", &r)
	if len(r.Streams) != 5 || r.Prefix != "JBG_CLUSTER_TEST" {
		t.Errorf("streams %+v", r.Streams)
	}
	if r.Agents[0].PID != os.Getpid() || !slices.Equal(r.Agents[0].Roles, []string{"bridge"}) {
		t.Errorf("agent %+v", r.Agents[0])
	}
	code, stdout, stderrOut := run(t, env, "status")
	if code != 0 || !strings.Contains(stdout, r.Agents[0].Key+" ") {
		t.Errorf("status: exit %d\n%s\n%s", code, stdout, stderrOut)
	}
	if strings.Contains(stderr.String(), noSources) {
		if r.Leader != nil {
			t.Errorf("a leader %+v although the bridge has no source", *r.Leader)
		}
		if !strings.Contains(stdout, "BRIDGE LEADER  none") {
			t.Errorf("status table does not say there is no leader:\n%s", stdout)
		}
		return
	}
	if r.Leader.PID != os.Getpid() || r.Leader.Holder != r.Agents[0].Key {
		t.Errorf("leader %+v, agent key %s", *r.Leader, r.Agents[0].Key)
	}
	if !strings.Contains(stdout, "BRIDGE LEADER  "+r.Leader.Holder) {
		t.Errorf("status table lacks the leader:\n%s", stdout)
	}
}
