package broker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

func startEmbedded(t *testing.T, dir string, listen bool) *Broker {
	t.Helper()
	opts := EmbeddedOptions{StoreDir: dir, ServerName: "test", NoListen: !listen, ListenPort: -1}
	b, err := Start(context.Background(), Options{Embedded: &opts}, testenv.Logger(t))
	if err != nil {
		t.Fatalf("start embedded broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

func provisioned(t *testing.T, b *Broker) Topology {
	t.Helper()
	topo, err := NewTopology("JBG_TEST")
	if err != nil {
		t.Fatal(err)
	}
	if err := Provision(context.Background(), b.JS, topo); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return topo
}

func TestNewTopologyNames(t *testing.T) {
	topo, err := NewTopology("JBG_C1")
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		topo.Submit.Stream:                  "JBG_C1_SUBMIT",
		topo.Update.Subject("42"):           "jbg_c1.update.42",
		topo.Metrics.Subjects:               "jbg_c1.metrics.>",
		topo.Dead:                           "JBG_C1_DEAD",
		topo.Submit.DeadSubject:             "jbg_c1.dead.submit",
		topo.SubmissionsBucket:              "JBG_C1_submissions",
		topo.Submit.MaxDeliveriesAdvisory(): "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.JBG_C1_SUBMIT.submit",
		topo.HealthSubject():                "jbg_c1.health.tick",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "x>"} {
		if _, err := NewTopology(bad); !errors.Is(err, ErrBadPrefix) {
			t.Errorf("NewTopology(%q) error = %v, want ErrBadPrefix", bad, err)
		}
	}
}

func TestProvisionIdempotentAndUpdatesLimits(t *testing.T) {
	ctx := context.Background()
	b := startEmbedded(t, t.TempDir(), false)
	topo := provisioned(t, b)
	if _, err := b.JS.Publish(ctx, topo.Submit.Subject("1"), []byte("work")); err != nil {
		t.Fatal(err)
	}
	before, err := b.JS.Stream(ctx, topo.Submit.Stream)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := b.JS.Consumer(ctx, topo.Submit.Stream, topo.Submit.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	if err := Provision(ctx, b.JS, topo); err != nil {
		t.Fatalf("second provision: %v", err)
	}
	after, err := b.JS.Stream(ctx, topo.Submit.Stream)
	if err != nil {
		t.Fatal(err)
	}
	bi, ai := before.CachedInfo(), after.CachedInfo()
	if !bi.Created.Equal(ai.Created) || ai.State.Msgs != 1 {
		t.Fatalf("second provision changed the stream: created %v -> %v, msgs %d", bi.Created, ai.Created, ai.State.Msgs)
	}
	cons2, err := b.JS.Consumer(ctx, topo.Submit.Stream, topo.Submit.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	if !cons.CachedInfo().Created.Equal(cons2.CachedInfo().Created) {
		t.Fatal("second provision recreated the consumer")
	}

	topo.Limits.WorkMaxMsgs = 500
	topo.Limits.MaxDeliver = 3
	topo.Limits.AgentsTTL = 2 * time.Minute
	if err := Provision(ctx, b.JS, topo); err != nil {
		t.Fatalf("provision with new limits: %v", err)
	}
	s, _ := b.JS.Stream(ctx, topo.Submit.Stream)
	c, _ := b.JS.Consumer(ctx, topo.Submit.Stream, topo.Submit.Consumer)
	kv, _ := b.JS.KeyValue(ctx, topo.AgentsBucket)
	st, _ := kv.Status(ctx)
	if s.CachedInfo().Config.MaxMsgs != 500 || c.CachedInfo().Config.MaxDeliver != 3 || st.TTL() != 2*time.Minute {
		t.Fatalf("limits not applied: max_msgs=%d max_deliver=%d agents ttl=%s",
			s.CachedInfo().Config.MaxMsgs, c.CachedInfo().Config.MaxDeliver, st.TTL())
	}
	if s.CachedInfo().State.Msgs != 1 {
		t.Fatalf("update lost the waiting message")
	}
}

func TestWorkQueueConfig(t *testing.T) {
	ctx := context.Background()
	b := startEmbedded(t, t.TempDir(), false)
	topo := provisioned(t, b)
	for _, q := range topo.Queues() {
		s, err := b.JS.Stream(ctx, q.Stream)
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		if cfg.Retention != jetstream.WorkQueuePolicy || cfg.Discard != jetstream.DiscardNew {
			t.Errorf("%s: retention %v discard %v", q.Stream, cfg.Retention, cfg.Discard)
		}
	}
	dead, _ := b.JS.Stream(ctx, topo.Dead)
	if dead.CachedInfo().Config.Retention != jetstream.LimitsPolicy {
		t.Errorf("DEAD must use limits retention")
	}
}

func TestUpdateKeepsOneWaitingMessagePerSubmission(t *testing.T) {
	ctx := context.Background()
	b := startEmbedded(t, t.TempDir(), false)
	topo := provisioned(t, b)
	if _, err := b.JS.Publish(ctx, topo.Update.Subject("7"), []byte("first")); err != nil {
		t.Fatal(err)
	}
	_, err := b.JS.Publish(ctx, topo.Update.Subject("7"), []byte("second"))
	if err == nil || !strings.Contains(err.Error(), "maximum messages per subject exceeded") {
		t.Fatalf("second update for the same submission: err = %v, want per-subject limit", err)
	}
	if _, err := b.JS.Publish(ctx, topo.Update.Subject("8"), []byte("other")); err != nil {
		t.Fatalf("update for another submission: %v", err)
	}
	s, _ := b.JS.Stream(ctx, topo.Update.Stream)
	m, err := s.GetLastMsgForSubject(ctx, topo.Update.Subject("7"))
	if err != nil || string(m.Data) != "first" {
		t.Fatalf("waiting message = %v, %v; want the first one kept", m, err)
	}
	// Once the waiting message is acked, the slot is free again.
	cons, _ := b.JS.Consumer(ctx, topo.Update.Stream, topo.Update.Consumer)
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.JS.Publish(ctx, topo.Update.Subject("7"), []byte("third")); err != nil {
		t.Fatalf("update after ack: %v", err)
	}
}

func TestDedupeSameMsgID(t *testing.T) {
	ctx := context.Background()
	b := startEmbedded(t, t.TempDir(), false)
	topo := provisioned(t, b)
	for i, wantDup := range []bool{false, true, true} {
		ack, err := b.JS.Publish(ctx, topo.Submit.Subject("5"), []byte("x"), jetstream.WithMsgID("submit-5-CREATED"))
		if err != nil {
			t.Fatal(err)
		}
		if ack.Duplicate != wantDup {
			t.Fatalf("publish %d: duplicate=%v, want %v", i, ack.Duplicate, wantDup)
		}
	}
	s, _ := b.JS.Stream(ctx, topo.Submit.Stream)
	if n := s.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}

func TestRestartKeepsUnackedMessages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := startEmbedded(t, dir, false)
	topo := provisioned(t, b)
	for _, id := range []string{"1", "2", "3"} {
		if _, err := b.JS.Publish(ctx, topo.Submit.Subject(id), []byte("job "+id)); err != nil {
			t.Fatal(err)
		}
	}
	cons, _ := b.JS.Consumer(ctx, topo.Submit.Stream, topo.Submit.Consumer)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Fetch one more without acking: it must survive the restart too.
	if _, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}

	b2 := startEmbedded(t, dir, false)
	if err := Provision(ctx, b2.JS, topo); err != nil {
		t.Fatal(err)
	}
	s, err := b2.JS.Stream(ctx, topo.Submit.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 2 {
		t.Fatalf("after restart the stream holds %d messages, want the 2 unacked", n)
	}
}

func TestHeartbeatWritesAndDeletes(t *testing.T) {
	ctx := context.Background()
	b := startEmbedded(t, t.TempDir(), false)
	topo := provisioned(t, b)
	kv, err := b.JS.KeyValue(ctx, topo.AgentsBucket)
	if err != nil {
		t.Fatal(err)
	}
	hb := NewHeartbeat(kv, AgentInfo{Host: "login1.example.org", Version: "1.2.3", Roles: []string{"submit"}}, 20*time.Millisecond, testenv.Logger(t))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- hb.Run(runCtx) }()
	var first time.Time
	testenv.Eventually(t, 5*time.Second, func() bool {
		e, err := kv.Get(ctx, hb.Key())
		if err != nil {
			return false
		}
		var info AgentInfo
		if json.Unmarshal(e.Value(), &info) != nil || info.Version != "1.2.3" || info.Host != "login1.example.org" {
			return false
		}
		if first.IsZero() {
			first = info.LastSeen
		}
		return info.LastSeen.After(first)
	}, "heartbeat written and refreshed")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, hb.Key()); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("after shutdown Get = %v, want ErrKeyNotFound", err)
	}
}

func TestClientModeWithPassword(t *testing.T) {
	ctx := context.Background()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), Username: "agent", Password: "s3cr3t-pw", NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	var logs lockedLog // the client's connection callbacks log from their own goroutine
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	cl, err := Start(ctx, Options{Client: &ClientOptions{URLs: []string{"nats://agent:s3cr3t-pw@" + ns.Addr().String()}}}, logger)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, cl.Conn.IsConnected, "client connected")
	topo := provisioned(t, cl)
	if err := cl.Close(ctx); err != nil {
		t.Fatal(err)
	}

	cl2, err := Start(ctx, Options{Client: &ClientOptions{URLs: []string{ns.ClientURL()}, User: "agent", Password: "s3cr3t-pw"}}, logger)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, cl2.Conn.IsConnected, "client with UserInfo connected")
	if _, err := cl2.JS.Stream(ctx, topo.Submit.Stream); err != nil {
		t.Fatalf("stream provisioned by the first client: %v", err)
	}
	// Stopping the server is logged as a disconnect; closing as closed.
	ns.Shutdown()
	testenv.Eventually(t, 5*time.Second, func() bool { return !cl2.Conn.IsConnected() }, "client sees the server go")
	_ = cl2.Close(ctx)
	out := logs.String()
	for _, want := range []string{"nats connected", "nats disconnected", "closed"} {
		if !strings.Contains(out, want) {
			t.Errorf("state change %q not logged: %s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t-pw") {
		t.Fatalf("password appears in the logs: %s", out)
	}
	if _, err := clientAuthOptions(ClientOptions{User: "u", Password: "p", Token: "t"}); err == nil {
		t.Fatal("two auth methods accepted")
	}
}

// TestEmbeddedTokenGuardsTheListener: with a token, the agent's in-process connection works and
// a client on the loopback listener without the token is refused; with it, it connects.
func TestEmbeddedTokenGuardsTheListener(t *testing.T) {
	b, err := Start(context.Background(), Options{Embedded: &EmbeddedOptions{
		StoreDir: t.TempDir(), ListenPort: -1, Token: "s3cr3t-token",
	}}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	if _, err := b.JS.AccountInfo(context.Background()); err != nil {
		t.Fatalf("the in-process agent connection must work: %v", err)
	}
	if nc, err := nats.Connect(b.ClientURL(), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("a client without the token was accepted")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("want an authorization error, got %v", err)
	}
	nc, err := nats.Connect(b.ClientURL(), nats.Token("s3cr3t-token"), nats.NoReconnect())
	if err != nil {
		t.Fatalf("a client with the token was refused: %v", err)
	}
	nc.Close()
}

// lockedLog is a log sink safe for concurrent writers (connection callbacks run on their own
// goroutine) and a reading test.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
