package inspect

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// scenario is a broker with known traffic:
//
//	SUBMIT:  ids 1,2 dead-lettered ("bad script"), 3 acked by a runner; then 4,5 published and waiting
//	UPDATE:  id 7 dead-lettered ("job vanished"), 8 acked
//	METRICS: one message fetched and nak'ed, then fetched again and left unacked (in flight, redelivered)
//	lease held by a bridge.Elector; two heartbeats
type scenario struct {
	b       *broker.Broker
	topo    broker.Topology
	handled *handled
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	b, topo := newBroker(t)
	h := &handled{}
	for _, id := range []string{"1", "2", "3"} {
		publish(t, b.JS, topo.Submit.Subject(id), id, "script-"+id)
	}
	runUntilDrained(t, b, topo, topo.Submit, h, terminateIDs("bad script", "1", "2"))
	for _, id := range []string{"7", "8"} {
		publish(t, b.JS, topo.Update.Subject(id), id, "")
	}
	runUntilDrained(t, b, topo, topo.Update, h, terminateIDs("job vanished", "7"))
	for _, id := range []string{"4", "5"} {
		publish(t, b.JS, topo.Submit.Subject(id), id, "script-"+id)
	}

	ctx := context.Background()
	publish(t, b.JS, topo.Metrics.Subject("9"), "9", "m")
	mc, err := b.JS.Consumer(ctx, topo.Metrics.Stream, topo.Metrics.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		batch, err := mc.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		m := <-batch.Messages()
		if m == nil {
			t.Fatalf("metrics fetch %d: no message (%v)", i, batch.Error())
		}
		if i == 0 {
			if err := m.Nak(); err != nil {
				t.Fatal(err)
			}
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	leases, err := b.JS.KeyValue(ctx, topo.LeasesBucket)
	if err != nil {
		t.Fatal(err)
	}
	el := bridge.NewElector(leases, LeaseKey, "node-a.1111", 0, testenv.Logger(t))
	elDone := make(chan struct{})
	go func() {
		defer close(elDone)
		_ = el.Run(runCtx, func(ctx context.Context) error { <-ctx.Done(); return nil })
	}()
	agentsKV, err := b.JS.KeyValue(ctx, topo.AgentsBucket)
	if err != nil {
		t.Fatal(err)
	}
	hbDone := make(chan struct{}, 2)
	for _, info := range []broker.AgentInfo{
		{Host: "node-b", PID: 22, Version: "0.9.0", Roles: []string{"submit", "update"}},
		{Host: "node-a", PID: 1111, Version: "1.0.0", Roles: []string{"bridge", "submit"}},
	} {
		hb := broker.NewHeartbeat(agentsKV, info, 200*time.Millisecond, testenv.Logger(t))
		go func() { _ = hb.Run(runCtx); hbDone <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		<-elDone
		<-hbDone
		<-hbDone
	})
	testenv.Eventually(t, 10*time.Second, el.IsLeader, "the elector never won the lease")
	testenv.Eventually(t, 10*time.Second, func() bool {
		keys, _ := agentsKV.Keys(ctx)
		return len(keys) == 2
	}, "heartbeats not written")
	return &scenario{b: b, topo: topo, handled: h}
}

func TestCollect(t *testing.T) {
	s := newScenario(t)
	ctx := context.Background()
	r, err := Collect(ctx, s.b.JS, s.topo)
	if err != nil {
		t.Fatal(err)
	}

	wantStreams := []struct {
		name, kind string
		msgs       uint64
	}{
		{s.topo.Submit.Stream, "submit", 2},
		{s.topo.Update.Stream, "update", 0},
		{s.topo.Metrics.Stream, "metrics", 1},
		{s.topo.Health.Stream, "health", 0},
		{s.topo.Dead, "dead", 3},
	}
	if len(r.Streams) != len(wantStreams) {
		t.Fatalf("streams: %+v", r.Streams)
	}
	for i, w := range wantStreams {
		got := r.Streams[i]
		if got.Name != w.name || got.Kind != w.kind || got.Messages != w.msgs {
			t.Errorf("stream %d = %s/%s %d msgs, want %s/%s %d", i, got.Name, got.Kind, got.Messages, w.name, w.kind, w.msgs)
		}
		if w.msgs > 0 && got.Bytes == 0 {
			t.Errorf("stream %s: %d messages but 0 bytes", got.Name, got.Messages)
		}
	}

	type cons struct {
		pending                 uint64
		ackPending, redelivered int
	}
	byName := map[string]ConsumerReport{}
	for _, c := range r.Consumers {
		byName[c.Stream+"/"+c.Name] = c
	}
	want := map[string]cons{
		s.topo.Submit.Stream + "/submit":   {pending: 2},
		s.topo.Update.Stream + "/update":   {},
		s.topo.Metrics.Stream + "/metrics": {ackPending: 1, redelivered: 1},
		s.topo.Health.Stream + "/health":   {},
	}
	for _, q := range s.topo.Queues() {
		want[s.topo.Advisories+"/"+q.AdvisoryConsumer] = cons{}
	}
	if len(byName) != len(want) {
		t.Errorf("consumers: got %d, want %d: %+v", len(byName), len(want), r.Consumers)
	}
	for name, w := range want {
		got, ok := byName[name]
		if !ok {
			t.Errorf("consumer %s missing", name)
			continue
		}
		if got.Pending != w.pending || got.AckPending != w.ackPending || got.Redelivered != w.redelivered {
			t.Errorf("consumer %s: pending %d ack-pending %d redelivered %d, want %d %d %d", name,
				got.Pending, got.AckPending, got.Redelivered, w.pending, w.ackPending, w.redelivered)
		}
	}
	if c := byName[s.topo.Submit.Stream+"/submit"]; c.MaxDeliver != 3 || c.AckWait != 5*time.Second {
		t.Errorf("submit consumer config: max deliver %d ack wait %s", c.MaxDeliver, c.AckWait)
	}

	if r.Leader == nil {
		t.Fatal("no leader reported")
	}
	if r.Leader.Holder != "node-a.1111" || r.Leader.PID != os.Getpid() || r.Leader.TTL != s.topo.Limits.LeaseTTL {
		t.Errorf("leader %+v", *r.Leader)
	}
	if r.Leader.LeaseAge < 0 || r.Leader.LeaseAge > r.Leader.TTL {
		t.Errorf("lease age %s outside [0, ttl %s]", r.Leader.LeaseAge, r.Leader.TTL)
	}

	if len(r.Agents) != 2 {
		t.Fatalf("agents: %+v", r.Agents)
	}
	a := r.Agents[0] // sorted by host: node-a first
	if a.Host != "node-a" || a.PID != 1111 || a.Version != "1.0.0" || !slices.Equal(a.Roles, []string{"bridge", "submit"}) || a.Key != "node-a.1111" {
		t.Errorf("agent 0: %+v", a)
	}
	if r.Agents[1].Host != "node-b" || r.Agents[1].PID != 22 {
		t.Errorf("agent 1: %+v", r.Agents[1])
	}
	for _, a := range r.Agents {
		if a.Age < 0 || a.Age > 5*time.Second || a.StartedAt.IsZero() {
			t.Errorf("agent %s: age %s, started %s", a.Key, a.Age, a.StartedAt)
		}
	}

	wantDead := DeadSummary{Total: 3,
		ByReason: []Count{{"bad script", 2}, {"job vanished", 1}},
		ByStream: []Count{{s.topo.Submit.Stream, 2}, {s.topo.Update.Stream, 1}},
	}
	if r.Dead.Total != wantDead.Total || !slices.Equal(r.Dead.ByReason, wantDead.ByReason) || !slices.Equal(r.Dead.ByStream, wantDead.ByStream) {
		t.Errorf("dead summary %+v, want %+v", r.Dead, wantDead)
	}

	// Inspection left no consumer behind: one durable per work queue, none on DEAD.
	for _, name := range []string{s.topo.Submit.Stream, s.topo.Update.Stream, s.topo.Metrics.Stream, s.topo.Health.Stream, s.topo.Dead} {
		st, err := s.b.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		wantN := 1
		if name == s.topo.Dead {
			wantN = 0
		}
		if n := st.CachedInfo().State.Consumers; n != wantN {
			t.Errorf("%s has %d consumers after Collect, want %d", name, n, wantN)
		}
	}
}

func TestCollectNotProvisioned(t *testing.T) {
	b, _ := newBroker(t)
	other, err := broker.NewTopology("JBG_OTHER")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Collect(context.Background(), b.JS, other)
	if !errors.Is(err, ErrNotProvisioned) {
		t.Fatalf("want ErrNotProvisioned, got %v", err)
	}
	if _, err := ListDead(context.Background(), b.JS, other, 0); !errors.Is(err, ErrNotProvisioned) {
		t.Fatalf("ListDead: want ErrNotProvisioned, got %v", err)
	}
}

func TestCollectIdle(t *testing.T) {
	b, topo := newBroker(t)
	r, err := Collect(context.Background(), b.JS, topo)
	if err != nil {
		t.Fatal(err)
	}
	if r.Leader != nil || len(r.Agents) != 0 || r.Dead.Total != 0 {
		t.Errorf("idle broker: leader %v, agents %v, dead %+v", r.Leader, r.Agents, r.Dead)
	}
	for _, s := range r.Streams {
		if s.Messages != 0 {
			t.Errorf("stream %s has %d messages", s.Name, s.Messages)
		}
	}
}

func TestListDeadLimit(t *testing.T) {
	s := newScenario(t)
	all, err := ListDead(context.Background(), s.b.JS, s.topo, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("ListDead(all) = %d letters", len(all))
	}
	ids := []string{}
	for i, d := range all {
		ids = append(ids, d.SubmissionID)
		if i > 0 && d.Seq <= all[i-1].Seq {
			t.Errorf("not in sequence order: %d after %d", d.Seq, all[i-1].Seq)
		}
		if d.Deliveries != 1 || d.OriginSeq == 0 || d.Size == 0 && d.Stream == s.topo.Submit.Stream || d.DeadAt.IsZero() || d.Consumer == "" {
			t.Errorf("letter %+v", d)
		}
		if d.Data != nil || d.Header != nil {
			t.Errorf("ListDead returned a payload for %d", d.Seq)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"1", "2", "7"}) {
		t.Errorf("submission ids %v", ids)
	}
	last2, err := ListDead(context.Background(), s.b.JS, s.topo, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(last2) != 2 || last2[0].Seq != all[1].Seq || last2[1].Seq != all[2].Seq {
		t.Errorf("ListDead(2) = %+v, want the newest two of %+v", last2, all)
	}
}

func TestGetDead(t *testing.T) {
	s := newScenario(t)
	letters, err := ListDead(context.Background(), s.b.JS, s.topo, 0)
	if err != nil {
		t.Fatal(err)
	}
	var seq uint64
	for _, d := range letters {
		if d.SubmissionID == "2" {
			seq = d.Seq
		}
	}
	d, err := GetDead(context.Background(), s.b.JS, s.topo, seq)
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Data) != "script-2" || d.Reason != "bad script" || d.OriginSubject != s.topo.Submit.Subject("2") ||
		d.Stream != s.topo.Submit.Stream || d.Consumer != "submit" || d.Size != len("script-2") {
		t.Errorf("GetDead = %+v", d)
	}
	if d.Header.Get(broker.HeaderDeadReason) != "bad script" {
		t.Errorf("headers %v", d.Header)
	}
	if _, err := GetDead(context.Background(), s.b.JS, s.topo, 9999); !errors.Is(err, ErrDeadNotFound) {
		t.Errorf("missing seq: want ErrDeadNotFound, got %v", err)
	}
}

// deadSeq returns the dead-letter sequence of submission id.
func deadSeq(t *testing.T, s *scenario, id string) uint64 {
	t.Helper()
	letters, err := ListDead(context.Background(), s.b.JS, s.topo, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range letters {
		if d.SubmissionID == id {
			return d.Seq
		}
	}
	t.Fatalf("no dead letter for submission %s in %+v", id, letters)
	return 0
}

func TestRetryDeadRequeuesAndRunnerHandlesIt(t *testing.T) {
	s := newScenario(t)
	ctx := context.Background()
	seq := deadSeq(t, s, "1")
	r, err := RetryDead(ctx, s.b.JS, s.topo, seq)
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != Requeued || r.Stream != s.topo.Submit.Stream || r.Seq == 0 || r.DeadLetter.Seq != seq {
		t.Errorf("Retried = %+v", r)
	}
	if _, err := GetDead(ctx, s.b.JS, s.topo, seq); !errors.Is(err, ErrDeadNotFound) {
		t.Errorf("the dead letter is still there: %v", err)
	}
	if n := streamMsgs(t, s.b.JS, s.topo.Submit.Stream); n != 3 {
		t.Errorf("SUBMIT holds %d messages, want 3 (4, 5 and the retried 1)", n)
	}
	if _, err := RetryDead(ctx, s.b.JS, s.topo, seq); !errors.Is(err, ErrDeadNotFound) {
		t.Errorf("second retry: want ErrDeadNotFound, got %v", err)
	}

	// The runner now handles the retried message as a normal first delivery.
	subj := s.topo.Submit.Subject("1")
	before := len(s.handled.bySubject(subj))
	runUntilDrained(t, s.b, s.topo, s.topo.Submit, s.handled, terminateIDs("never"))
	got := s.handled.bySubject(subj)
	if len(got) != before+1 {
		t.Fatalf("submission 1 handled %d times after the retry, want once", len(got)-before)
	}
	m := got[len(got)-1]
	if string(m.Data) != "script-1" || m.SubmissionID() != "1" || m.NumDelivered != 1 {
		t.Errorf("retried message: data %q id %q delivered %d", m.Data, m.SubmissionID(), m.NumDelivered)
	}
	for k := range m.Header {
		if hasPrefixFold(k, "Jbg-Dead-") {
			t.Errorf("retried message carries dead-letter header %s", k)
		}
	}
	if n := streamMsgs(t, s.b.JS, s.topo.Dead); n != 2 {
		t.Errorf("DEAD holds %d, want 2", n)
	}
}

func TestRetryDeadTwiceAfterCrashEnqueuesOnce(t *testing.T) {
	s := newScenario(t)
	ctx := context.Background()
	seq := deadSeq(t, s, "2")
	d, err := GetDead(ctx, s.b.JS, s.topo, seq)
	if err != nil {
		t.Fatal(err)
	}
	// A retry that published and crashed before deleting the dead letter.
	if _, err := s.b.JS.Publish(ctx, d.OriginSubject, d.Data, jetstream.WithMsgID(RetryMsgID(s.topo, d))); err != nil {
		t.Fatal(err)
	}
	if _, err := RetryDead(ctx, s.b.JS, s.topo, seq); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, s.b.JS, s.topo.Submit.Stream); n != 3 {
		t.Errorf("SUBMIT holds %d messages, want 3: the second publish must be deduplicated", n)
	}
	if _, err := GetDead(ctx, s.b.JS, s.topo, seq); !errors.Is(err, ErrDeadNotFound) {
		t.Errorf("dead letter not removed: %v", err)
	}
}

func TestRetryDeadAlreadyQueued(t *testing.T) {
	s := newScenario(t)
	ctx := context.Background()
	seq := deadSeq(t, s, "7")
	// UPDATE keeps one message per subject: a newer trigger for 7 is waiting.
	publish(t, s.b.JS, s.topo.Update.Subject("7"), "7", "")
	r, err := RetryDead(ctx, s.b.JS, s.topo, seq)
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != AlreadyQueued || r.Seq != 0 {
		t.Errorf("Retried = %+v, want already-queued", r)
	}
	if n := streamMsgs(t, s.b.JS, s.topo.Update.Stream); n != 1 {
		t.Errorf("UPDATE holds %d, want 1", n)
	}
	if _, err := GetDead(ctx, s.b.JS, s.topo, seq); !errors.Is(err, ErrDeadNotFound) {
		t.Errorf("dead letter not removed: %v", err)
	}
}

func TestRetryDeadRefusesForeignOrigin(t *testing.T) {
	s := newScenario(t)
	ctx := context.Background()
	m := deadLetterMsg(s.topo.Submit.DeadSubject, "JBG_ELSEWHERE_SUBMIT", "jbg_elsewhere.submit.1")
	ack, err := s.b.JS.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RetryDead(ctx, s.b.JS, s.topo, ack.Sequence); !errors.Is(err, ErrNotRetryable) {
		t.Fatalf("want ErrNotRetryable, got %v", err)
	}
	if _, err := GetDead(ctx, s.b.JS, s.topo, ack.Sequence); err != nil {
		t.Errorf("a refused retry must keep the dead letter: %v", err)
	}
}

func TestRetryAllDead(t *testing.T) {
	s := newScenario(t)
	ctx := context.Background()
	rs, err := RetryAllDead(ctx, s.b.JS, s.topo)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("retried %d, want 3: %+v", len(rs), rs)
	}
	for _, r := range rs {
		if r.Outcome != Requeued {
			t.Errorf("%+v", r)
		}
	}
	if n := streamMsgs(t, s.b.JS, s.topo.Dead); n != 0 {
		t.Errorf("DEAD holds %d", n)
	}
	if n := streamMsgs(t, s.b.JS, s.topo.Submit.Stream); n != 4 {
		t.Errorf("SUBMIT holds %d, want 4", n)
	}
	if n := streamMsgs(t, s.b.JS, s.topo.Update.Stream); n != 1 {
		t.Errorf("UPDATE holds %d, want 1", n)
	}
}

func TestPurgeDead(t *testing.T) {
	s := newScenario(t)
	ctx := context.Background()
	seq := deadSeq(t, s, "7")
	d, err := PurgeDead(ctx, s.b.JS, s.topo, seq)
	if err != nil {
		t.Fatal(err)
	}
	if d.Seq != seq || d.SubmissionID != "7" {
		t.Errorf("purged %+v", d)
	}
	if _, err := PurgeDead(ctx, s.b.JS, s.topo, seq); !errors.Is(err, ErrDeadNotFound) {
		t.Errorf("second purge: want ErrDeadNotFound, got %v", err)
	}
	if n := streamMsgs(t, s.b.JS, s.topo.Update.Stream); n != 0 {
		t.Errorf("purge must not requeue: UPDATE holds %d", n)
	}
	rest, err := PurgeAllDead(ctx, s.b.JS, s.topo)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 2 {
		t.Errorf("PurgeAllDead removed %d, want 2", len(rest))
	}
	if n := streamMsgs(t, s.b.JS, s.topo.Dead); n != 0 {
		t.Errorf("DEAD holds %d after purge all", n)
	}
	again, err := PurgeAllDead(ctx, s.b.JS, s.topo)
	if err != nil || len(again) != 0 {
		t.Errorf("purge of an empty DEAD: %v, %v", again, err)
	}
}

func TestReadDeadManyBatches(t *testing.T) {
	b, topo := newBroker(t)
	ctx := context.Background()
	const n = 3*readBatch + 17
	for i := range n {
		m := deadLetterMsg(topo.Submit.DeadSubject, topo.Submit.Stream, topo.Submit.Subject(strconv.Itoa(i)))
		if _, err := b.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	letters, err := ListDead(ctx, b.JS, topo, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != n {
		t.Fatalf("read %d dead letters, want %d", len(letters), n)
	}
	r, err := Collect(ctx, b.JS, topo)
	if err != nil {
		t.Fatal(err)
	}
	if r.Dead.Total != n || len(r.Dead.ByStream) != 1 || r.Dead.ByStream[0].Count != n {
		t.Errorf("summary %+v", r.Dead)
	}
}
