package bridge

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker/brokertest"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

const leaseTTL = time.Second

func newBroker(t *testing.T) (*broker.Broker, broker.Topology) {
	t.Helper()
	return brokertest.Start(t, brokertest.Prefix("JBG_B"), brokertest.Limits(func(l *broker.Limits) { l.LeaseTTL = leaseTTL }))
}

// conn opens a separate in-process connection, so a test can cut one bridge off.
func conn(t *testing.T, b *broker.Broker) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(b.Server()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

type candidate struct {
	name    string
	nc      *nats.Conn
	elector *Elector
	leading atomic.Bool
	stopped chan time.Time
	cancel  context.CancelFunc
	done    chan struct{}
}

func startCandidate(t *testing.T, b *broker.Broker, topo broker.Topology, name string, overlap *atomic.Int32) *candidate {
	t.Helper()
	nc, js := conn(t, b)
	kv, err := js.KeyValue(context.Background(), topo.LeasesBucket)
	if err != nil {
		t.Fatal(err)
	}
	c := &candidate{name: name, nc: nc, stopped: make(chan time.Time, 10), done: make(chan struct{})}
	c.elector = NewElector(kv, "bridge", name, 0, testenv.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		_ = c.elector.Run(ctx, func(lctx context.Context) error {
			if overlap.Add(1) > 1 {
				t.Errorf("%s: two leaders at once", name)
			}
			c.leading.Store(true)
			<-lctx.Done()
			c.leading.Store(false)
			overlap.Add(-1)
			select { // never block the elector: only the first stops are read
			case c.stopped <- time.Now():
			default:
			}
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func TestLeaseOneLeaderAndHandoverOnLostRenewal(t *testing.T) {
	b, topo := newBroker(t)
	var overlap atomic.Int32
	a := startCandidate(t, b, topo, "a", &overlap)
	testenv.Eventually(t, 5*time.Second, a.leading.Load, "a leads")
	c := startCandidate(t, b, topo, "c", &overlap)
	// c must stay a follower while a renews: watch over three renewal intervals.
	deadline := time.Now().Add(3 * leaseTTL)
	testenv.Eventually(t, 5*time.Second, func() bool {
		if c.leading.Load() || c.elector.IsLeader() {
			t.Fatal("second leader while the first renews")
		}
		return time.Now().After(deadline)
	}, "observation window")

	// Cut a off from NATS: it cannot renew; it must stop before its lease expires and c must
	// take over within two lease periods.
	cut := time.Now()
	a.nc.Close()
	var stoppedAt time.Time
	select {
	case stoppedAt = <-a.stopped:
	case <-time.After(2 * leaseTTL):
		t.Fatal("cut-off leader kept leading")
	}
	if stoppedAt.Sub(cut) >= leaseTTL {
		t.Errorf("cut-off leader stopped %s after losing NATS, not before the %s TTL", stoppedAt.Sub(cut), leaseTTL)
	}
	testenv.Eventually(t, 2*leaseTTL, c.leading.Load, "handover within two lease periods")
	t.Logf("handover after %s", time.Since(cut))
}

func TestLeaseReleasedOnCleanShutdown(t *testing.T) {
	b, topo := newBroker(t)
	var overlap atomic.Int32
	a := startCandidate(t, b, topo, "a", &overlap)
	testenv.Eventually(t, 5*time.Second, a.leading.Load, "a leads")
	c := startCandidate(t, b, topo, "c", &overlap)
	start := time.Now()
	a.cancel()
	<-a.done
	testenv.Eventually(t, 2*leaseTTL, c.leading.Load, "c takes over")
	// Released lease: c only waits for its next campaign (TTL/3), not for the TTL.
	if d := time.Since(start); d > leaseTTL {
		t.Errorf("takeover after clean shutdown took %s", d)
	}
}

func TestKilledBridgeLeaderHandsPollingOver(t *testing.T) {
	b, topo := newBroker(t)
	var mu sync.Mutex
	polledBy := map[string]time.Time{}
	mk := func(name string) (*Bridge, *nats.Conn) {
		nc, js := conn(t, b)
		kv, _ := js.KeyValue(context.Background(), topo.LeasesBucket)
		src := SourceFunc("submissions", func(ctx context.Context) ([]Outgoing, error) {
			mu.Lock()
			polledBy[name] = time.Now()
			mu.Unlock()
			return []Outgoing{{Subject: topo.Submit.Subject("1"), Data: []byte("s1"), MsgID: "submit-1-CREATED"}}, nil
		})
		return &Bridge{Elector: NewElector(kv, "bridge", name, 0, testenv.Logger(t)),
			Poller: NewPoller(js, 100*time.Millisecond, testenv.Logger(t), src)}, nc
	}
	b1, nc1 := mk("one")
	b2, nc2 := mk("two")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, br := range []*Bridge{b1, b2} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = br.Run(ctx) }()
	}
	defer wg.Wait()
	defer cancel()
	var leaderName string
	var leaderConn *nats.Conn
	testenv.Eventually(t, 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(polledBy) == 1
	}, "one bridge polls")
	for n := range polledBy {
		leaderName = n
	}
	leaderConn, follower := nc1, "two"
	if leaderName == "two" {
		leaderConn, follower = nc2, "one"
	}
	killed := time.Now()
	leaderConn.Close()
	testenv.Eventually(t, 2*leaseTTL, func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := polledBy[follower]
		return ok
	}, "the other bridge polls within two lease periods")
	t.Logf("polling moved from %s to %s after %s", leaderName, follower, time.Since(killed))
	// Both bridges published the same Msg-Id: the work is enqueued once.
	if n := msgs(t, b.JS, topo.Submit.Stream); n != 1 {
		t.Fatalf("SUBMIT holds %d messages, want 1", n)
	}
}

func msgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestPollerCycleDedupesAndCountsAlreadyQueued(t *testing.T) {
	b, topo := newBroker(t)
	var items []Outgoing
	for i := range 5 {
		id := strconv.Itoa(i)
		items = append(items,
			Outgoing{Subject: topo.Submit.Subject(id), Data: []byte(id), MsgID: "submit-" + id + "-CREATED",
				Header: nats.Header{broker.HeaderSubmissionID: []string{id}}},
			Outgoing{Subject: topo.Update.Subject(id), Data: []byte(id), MsgID: "update-" + id + "-SUBMITTED"})
	}
	failing := SourceFunc("broken", func(ctx context.Context) ([]Outgoing, error) { return nil, errors.New("API down") })
	p := NewPoller(b.JS, time.Minute, testenv.Logger(t), failing, SourceFunc("s", func(ctx context.Context) ([]Outgoing, error) {
		return items, nil
	}))
	first := p.Cycle(context.Background())
	if first.Published != 10 || first.SourceErrors != 1 {
		t.Fatalf("first cycle %+v", first)
	}
	// A restarted bridge publishes the same cycle again: nothing is enqueued twice.
	second := p.Cycle(context.Background())
	if second.Published != 0 || second.Duplicates != 10 {
		t.Fatalf("second cycle %+v", second)
	}
	// A newer update (new msg id) while the previous one waits is rejected per subject.
	third := NewPoller(b.JS, time.Minute, testenv.Logger(t), SourceFunc("u", func(ctx context.Context) ([]Outgoing, error) {
		return []Outgoing{{Subject: topo.Update.Subject("0"), MsgID: "update-0-RUNNING"}}, nil
	})).Cycle(context.Background())
	if third.AlreadyQueued != 1 {
		t.Fatalf("third cycle %+v", third)
	}
	if n := msgs(t, b.JS, topo.Submit.Stream); n != 5 {
		t.Fatalf("SUBMIT holds %d", n)
	}
	if n := msgs(t, b.JS, topo.Update.Stream); n != 5 {
		t.Fatalf("UPDATE holds %d", n)
	}
}

func TestTickerOncePerInterval(t *testing.T) {
	b, topo := newBroker(t)
	now := time.Unix(1_000_000, 0)
	src := Ticker(topo.HealthSubject(), time.Minute, func() time.Time { return now })
	p1 := NewPoller(b.JS, time.Minute, testenv.Logger(t), src)
	p2 := NewPoller(b.JS, time.Minute, testenv.Logger(t), src)
	if st := p1.Cycle(context.Background()); st.Published != 1 {
		t.Fatalf("first tick %+v", st)
	}
	if st := p2.Cycle(context.Background()); st.Duplicates != 1 {
		t.Fatalf("same interval from a second bridge %+v", st)
	}
	now = now.Add(time.Minute)
	if st := p1.Cycle(context.Background()); st.AlreadyQueued != 1 {
		t.Fatalf("next tick while one waits %+v", st)
	}
}

func TestCheckDedupeWindow(t *testing.T) {
	b, topo := newBroker(t)
	ctx := context.Background()
	if err := CheckDedupeWindow(ctx, b.JS, time.Minute, 15*time.Second, topo.Submit.Stream); err != nil {
		t.Fatalf("10 min window vs 1 min interval: %v", err)
	}
	if err := CheckDedupeWindow(ctx, b.JS, 6*time.Minute, 15*time.Second, topo.Submit.Stream); !errors.Is(err, ErrDedupeWindowTooShort) {
		t.Fatalf("10 min window vs 6 min interval: %v", err)
	}
	if got := MinDuplicates(time.Minute, 15*time.Second); got != 2*time.Minute {
		t.Fatalf("MinDuplicates = %s", got)
	}
}
