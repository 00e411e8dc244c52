package broker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// TestExamplePermissionsAreAgentPermissions keeps deploy/nats in step with the code: every agent
// user in the example configs has exactly broker.AgentPermissions of its prefix.
func TestExamplePermissionsAreAgentPermissions(t *testing.T) {
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	writeTestPKIDir(t, tlsDir)
	installExample(t, dir, tlsDir, nil)
	t.Setenv("JBG_LEAF_SEED", "SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY") // nkeys test vector
	for _, tc := range []struct {
		file, key, prefix string
	}{
		{"cluster-node.conf", exampleC1Agent, "JBG_C1"},
		{"cluster-node.conf", exampleC2Agent, "JBG_C2"},
		{"leaf.conf", exampleC1Agent, "JBG_C1"},
	} {
		opts, err := server.ProcessConfigFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		topo, _ := broker.NewTopology(tc.prefix)
		want := broker.AgentPermissions(topo)
		i := slices.IndexFunc(opts.Nkeys, func(u *server.NkeyUser) bool { return u.Nkey == tc.key })
		if i < 0 {
			t.Fatalf("%s: no user %s", tc.file, tc.key)
		}
		p := opts.Nkeys[i].Permissions
		if p == nil || p.Publish == nil || p.Subscribe == nil {
			t.Fatalf("%s: user of %s has no publish/subscribe permissions", tc.file, tc.prefix)
		}
		if !slices.Equal(p.Publish.Allow, want.Publish) || !slices.Equal(p.Subscribe.Allow, want.Subscribe) {
			t.Errorf("%s: %s permissions differ from broker.AgentPermissions: regenerate perms-%s.conf with deploy/nats/permgen\npublish %q\nwant    %q",
				tc.file, tc.prefix, tc.prefix, p.Publish.Allow, want.Publish)
		}
		if acc := opts.Nkeys[i].Account; acc == nil || acc.Name != tc.prefix {
			t.Errorf("%s: user of %s is not in account %s", tc.file, tc.prefix, tc.prefix)
		}
	}
}

func writeTestPKIDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeTestPKI(t, dir)
}

// TestSecuredClusterFromExample runs deploy/nats/cluster-node.conf as a real 3-node JetStream
// cluster (and leaf.conf as a login node's leaf) and checks that the agent of JBG_C1 can do
// everything it needs with its nkey and permissions, that a client without credentials is
// refused, that the agent of JBG_C2 cannot touch JBG_C1's subjects or streams, and that no seed
// reaches the logs.
func TestSecuredClusterFromExample(t *testing.T) {
	c := startExampleCluster(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("servers' and clients' log:\n%s", c.log.String())
		}
	})

	topo, _ := broker.NewTopology("JBG_C1")
	topo.Limits.Replicas = 3
	topo.Limits.AckWait = 5 * time.Second
	topo.Limits.MaxDeliver = 3
	agent := c.agent(t, topo, c.urls)

	t.Run("agent provisions and works", func(t *testing.T) {
		provision(t, agent, topo)
		exerciseAgent(t, agent, topo, c.logger.With("agent", topo.Prefix))
	})

	t.Run("no credentials refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			opts []nats.Option
		}{
			{"none", nil},
			{"unknown nkey", []nats.Option{mustNKey(t, newNKeyUser(t, t.TempDir(), "stranger").SeedFile)}},
		} {
			for i, u := range c.urls {
				opts := append([]nats.Option{nats.RootCAs(filepath.Join(c.tlsDir, "ca.pem")), nats.MaxReconnects(0)}, tc.opts...)
				nc, err := nats.Connect(u, opts...)
				if err == nil {
					nc.Close()
					t.Fatalf("%s: node %d accepted a client", tc.name, i+1)
				}
				if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
					t.Fatalf("%s: node %d: error %v, want an authorization violation", tc.name, i+1, err)
				}
			}
		}
		// Plain text is refused too: every client connection is TLS.
		seed := mustNKey(t, c.c1.SeedFile)
		plain := strings.Replace(c.urls[0], "tls://", "nats://", 1)
		if nc, err := nats.Connect(plain, seed, nats.MaxReconnects(0)); err == nil {
			nc.Close()
			t.Fatal("a client without TLS was accepted")
		}
	})

	t.Run("other prefix refused", func(t *testing.T) {
		otherTopo, _ := broker.NewTopology("JBG_C2")
		otherTopo.Limits.Replicas = 3
		other := c.agent(t, otherTopo, c.urls)
		// Its credentials work for its own prefix...
		provision(t, other, otherTopo)
		// ...and nothing of JBG_C1.
		assertRefused(t, c, topo, otherTopo)
	})

	t.Run("leaf node", func(t *testing.T) {
		c.startLeaf(t)
		testenv.Eventually(t, 10*time.Second, func() bool { return c.leaf.NumLeafNodes() == 1 }, "leaf connected to the hub")
		if nc, err := nats.Connect(c.leafURL, nats.MaxReconnects(0)); err == nil {
			nc.Close()
			t.Fatal("the leaf's loopback listener accepted a client without credentials")
		}
		// Core subjects cross the leaf into the hub's JBG_C1 account (and its streams). The
		// JetStream API does not: without a shared system account the leaf denies $JS.API
		// (see deploy/nats/README.md, "Leaf nodes").
		viaLeaf := c.agent(t, topo, []string{c.leafURL})
		if err := viaLeaf.Conn.Publish(topo.Update.Subject("77"), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := viaLeaf.Conn.Flush(); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 5*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			st, err := agent.JS.Stream(ctx, topo.Update.Stream)
			return err == nil && st.CachedInfo().State.Msgs == 1
		}, "message published through the leaf stored in the hub's %s", topo.Update.Stream)
	})

	logs := c.log.String()
	for name, secret := range map[string]string{"c1 seed": c.c1.Seed, "c2 seed": c.c2.Seed, "leaf seed": c.c1Leaf.Seed} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
	if strings.Contains(logs, "Permissions Violation") && strings.Contains(logs, "nats async error") {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, "nats async error") && strings.Contains(line, "JBG_C1") || strings.Contains(line, "jbg_c1") && strings.Contains(line, "nats async error") {
				t.Errorf("the JBG_C1 agent hit a permission violation: %s", line)
			}
		}
	}
	if len(logs) == 0 {
		t.Fatal("nothing was logged: the secrets check proves nothing")
	}
}

// agent connects like the agent does (broker.Start in client mode, nkey seed file, site CA, its
// own inbox prefix) and waits until connected.
func (c *exampleCluster) agent(t *testing.T, topo broker.Topology, urls []string) *broker.Broker {
	t.Helper()
	user := c.c1
	if topo.Prefix == "JBG_C2" {
		user = c.c2
	}
	opts := &broker.ClientOptions{
		URLs: urls, NKeySeedFile: user.SeedFile, InboxPrefix: topo.InboxPrefix(),
		ReconnectWait: 50 * time.Millisecond, MaxReconnectWait: 200 * time.Millisecond,
	}
	if strings.HasPrefix(urls[0], "tls://") {
		opts.CAFile = filepath.Join(c.tlsDir, "ca.pem")
	}
	b, err := broker.Start(context.Background(), broker.Options{Name: "agent " + topo.Prefix, Client: opts}, c.logger.With("agent", topo.Prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	testenv.Eventually(t, 10*time.Second, b.Conn.IsConnected, "agent %s connected", topo.Prefix)
	return b
}

func provision(t *testing.T, b *broker.Broker, topo broker.Topology) {
	t.Helper()
	lastErr := &errBox{}
	testenv.Eventually(t, 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lastErr.err = broker.Provision(ctx, b.JS, topo)
		return lastErr.err == nil
	}, "provision %s (last error: %v)", topo.Prefix, lastErr)
}

// errBox shows the error it holds when the failure message is formatted.
type errBox struct{ err error }

func (e *errBox) String() string { return fmt.Sprint(e.err) }

func mustNKey(t *testing.T, seedFile string) nats.Option {
	t.Helper()
	o, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// exerciseAgent runs everything the agent and its operator commands do on NATS: a runner round
// trip with ack and a terminate into DEAD, KV claims, lease and heartbeat, a KV watch, listing
// consumers, reading, deleting and purging dead letters with an ephemeral consumer.
func exerciseAgent(t *testing.T, b *broker.Broker, topo broker.Topology, logger *slog.Logger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var mu sync.Mutex
	handled := map[string]int{}
	cfg := consumers.ConfigFor(topo, topo.Submit, 2)
	cfg.FetchWait = 200 * time.Millisecond
	cfg.ShutdownGrace = time.Second
	runner := consumers.NewRunner(b.JS, cfg, consumers.HandlerFunc(func(_ context.Context, m *consumers.Message) consumers.Decision {
		mu.Lock()
		handled[m.Subject]++
		mu.Unlock()
		if strings.HasSuffix(m.Subject, ".poison") {
			return consumers.Terminate("poison for the test")
		}
		return consumers.Ack()
	}), logger)
	rctx, stop := context.WithCancel(ctx)
	var runErr atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := runner.Run(rctx); err != nil {
			runErr.Store(err)
		}
	}()
	for _, id := range []string{"1", "2", "poison"} {
		if _, err := b.JS.Publish(ctx, topo.Submit.Subject(id), []byte("work "+id), jetstream.WithMsgID("s-"+id)); err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
	dead, err := b.JS.Stream(ctx, topo.Dead)
	if err != nil {
		t.Fatalf("dead stream info: %v", err)
	}
	testenv.Eventually(t, 15*time.Second, func() bool {
		st, err := b.JS.Stream(ctx, topo.Submit.Stream)
		if err != nil {
			return false
		}
		di, err := dead.Info(ctx)
		return err == nil && st.CachedInfo().State.Msgs == 0 && di.State.Msgs == 1
	}, "submit queue drained and the poison message in DEAD")
	stop()
	<-done
	if err, _ := runErr.Load().(error); err != nil {
		t.Fatalf("runner: %v", err)
	}
	mu.Lock()
	for _, id := range []string{"1", "2", "poison"} {
		if handled[topo.Submit.Subject(id)] != 1 {
			t.Errorf("message %s handled %d times, want 1", id, handled[topo.Submit.Subject(id)])
		}
	}
	mu.Unlock()

	// KV: claims (create, update, get), lease, heartbeat, a watch.
	subs, err := b.JS.KeyValue(ctx, topo.SubmissionsBucket)
	if err != nil {
		t.Fatalf("submissions bucket: %v", err)
	}
	rev, err := subs.Create(ctx, "sub.42", []byte("claimed"))
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if _, err := subs.Create(ctx, "sub.42", []byte("again")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("second claim: %v, want ErrKeyExists", err)
	}
	if _, err := subs.Update(ctx, "sub.42", []byte("slurm 7"), rev); err != nil {
		t.Fatalf("record job id: %v", err)
	}
	if e, err := subs.Get(ctx, "sub.42"); err != nil || string(e.Value()) != "slurm 7" {
		t.Fatalf("get claim: %v", err)
	}
	leases, err := b.JS.KeyValue(ctx, topo.LeasesBucket)
	if err != nil {
		t.Fatalf("leases bucket: %v", err)
	}
	if _, err := leases.Create(ctx, "bridge", []byte("me")); err != nil {
		t.Fatalf("lease: %v", err)
	}
	agents, err := b.JS.KeyValue(ctx, topo.AgentsBucket)
	if err != nil {
		t.Fatalf("agents bucket: %v", err)
	}
	if _, err := agents.Put(ctx, "host.1", []byte("{}")); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	w, err := agents.WatchAll(ctx)
	if err != nil {
		t.Fatalf("watch agents: %v", err)
	}
	seen := false
	for e := range w.Updates() {
		if e == nil {
			break
		}
		seen = seen || e.Key() == "host.1"
	}
	_ = w.Stop()
	if !seen {
		t.Fatal("watch did not see the heartbeat")
	}
	if err := agents.Delete(ctx, "host.1"); err != nil {
		t.Fatalf("delete heartbeat: %v", err)
	}

	// Operator commands: consumer report, dead-letter show, retry (delete) and purge.
	sub, _ := b.JS.Stream(ctx, topo.Submit.Stream)
	n := 0
	for range sub.ListConsumers(ctx).Info() {
		n++
	}
	if n != 1 {
		t.Fatalf("%s lists %d consumers, want 1", topo.Submit.Stream, n)
	}
	cons, err := b.JS.CreateConsumer(ctx, topo.Dead, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy, FilterSubject: topo.Submit.DeadSubject})
	if err != nil {
		t.Fatalf("inspection consumer on DEAD: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var seq uint64
	for m := range batch.Messages() {
		md, _ := m.Metadata()
		seq = md.Sequence.Stream
		if m.Headers().Get(broker.HeaderDeadReason) != "poison for the test" {
			t.Fatalf("dead letter reason %q", m.Headers().Get(broker.HeaderDeadReason))
		}
	}
	if err := b.JS.DeleteConsumer(ctx, topo.Dead, cons.CachedInfo().Name); err != nil {
		t.Fatalf("delete inspection consumer: %v", err)
	}
	if seq == 0 {
		t.Fatal("no dead letter fetched")
	}
	if _, err := dead.GetMsg(ctx, seq); err != nil {
		t.Fatalf("dead get: %v", err)
	}
	if err := dead.DeleteMsg(ctx, seq); err != nil {
		t.Fatalf("dead delete: %v", err)
	}
	if err := dead.Purge(ctx); err != nil {
		t.Fatalf("dead purge: %v", err)
	}
}

// assertRefused checks that the agent of other cannot publish to, subscribe to or use the
// JetStream API of topo: each attempt ends in a permission violation reported by the server.
func assertRefused(t *testing.T, c *exampleCluster, topo, other broker.Topology) {
	t.Helper()
	violations := make(chan error, 64)
	nc, err := nats.Connect(strings.Join(c.urls, ","), mustNKey(t, c.c2.SeedFile),
		nats.RootCAs(filepath.Join(c.tlsDir, "ca.pem")), nats.CustomInboxPrefix(other.InboxPrefix()),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case violations <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("JBG_C2 agent connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	expect := func(what, subject string, try func() error) {
		t.Helper()
		for len(violations) > 0 {
			<-violations
		}
		err := try()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case v := <-violations:
				if errors.Is(v, nats.ErrPermissionViolation) && strings.Contains(v.Error(), strconv.Quote(subject)) {
					return
				}
			case <-deadline:
				t.Errorf("%s: no permission violation on %q (call error: %v)", what, subject, err)
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 500*time.Millisecond) }

	expect("publish work", topo.Submit.Subject("1"), func() error { return nc.Publish(topo.Submit.Subject("1"), []byte("x")) })
	expect("publish dead letter", topo.Submit.DeadSubject, func() error { return nc.Publish(topo.Submit.DeadSubject, []byte("x")) })
	expect("claim", "$KV."+topo.SubmissionsBucket+".sub.1", func() error {
		return nc.Publish("$KV."+topo.SubmissionsBucket+".sub.1", []byte("x"))
	})
	for _, subj := range []string{topo.SubjectRoot + ".>", "_INBOX.>", topo.InboxPrefix() + ".>", "$KV." + topo.SubmissionsBucket + ".>", ">"} {
		expect("subscribe", subj, func() error {
			_, err := nc.Subscribe(subj, func(*nats.Msg) {})
			return err
		})
	}
	apiCalls := []struct {
		what, subject string
		call          func(context.Context) error
	}{
		{"stream info", "$JS.API.STREAM.INFO." + topo.Submit.Stream, func(ctx context.Context) error {
			_, err := js.Stream(ctx, topo.Submit.Stream)
			return err
		}},
		{"stream purge", "$JS.API.STREAM.PURGE." + topo.Dead, func(ctx context.Context) error {
			_, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+topo.Dead, nil)
			return err
		}},
		{"stream delete", "$JS.API.STREAM.DELETE." + other.Dead, func(ctx context.Context) error {
			return js.DeleteStream(ctx, other.Dead) // not even its own: agents never delete streams
		}},
		{"pull", "$JS.API.CONSUMER.MSG.NEXT." + topo.Submit.Stream + "." + topo.Submit.Consumer, func(ctx context.Context) error {
			_, err := nc.RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT."+topo.Submit.Stream+"."+topo.Submit.Consumer, []byte(`{"batch":1}`))
			return err
		}},
		{"bucket", "$JS.API.STREAM.INFO.KV_" + topo.SubmissionsBucket, func(ctx context.Context) error {
			_, err := js.KeyValue(ctx, topo.SubmissionsBucket)
			return err
		}},
		{"create a stream over JBG_C1 subjects", "$JS.API.STREAM.CREATE.SNOOP", func(ctx context.Context) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SNOOP", Subjects: []string{topo.SubjectRoot + ".>"}})
			return err
		}},
	}
	for _, a := range apiCalls {
		expect(a.what, a.subject, func() error {
			ctx, cancel := short()
			defer cancel()
			err := a.call(ctx)
			if err == nil {
				t.Errorf("%s: the call succeeded", a.what)
			}
			return err
		})
	}
}
