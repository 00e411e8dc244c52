package consumers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

func TestPublishConsumeAck(t *testing.T) {
	b, topo := newBroker(t, nil)
	rec := newRecorder()
	r := NewRunner(b.JS, ConfigFor(topo, topo.Submit, 4), HandlerFunc(func(ctx context.Context, m *Message) Decision {
		rec.record(m)
		if m.SubmissionID() == "" {
			return Terminate("no submission id")
		}
		return Ack()
	}), testenv.Logger(t))
	runRunner(t, r)
	for i := range 50 {
		publish(t, b.JS, topo.Submit.Subject(strconv.Itoa(i)), strconv.Itoa(i), "job")
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Submit.Stream) == 0 },
		"work queue drained")
	for i := range 50 {
		if n := rec.count(topo.Submit.Subject(strconv.Itoa(i))); n != 1 {
			t.Errorf("message %d handled %d times", i, n)
		}
	}
	if n := streamMsgs(t, b.JS, topo.Dead); n != 0 {
		t.Errorf("DEAD holds %d messages", n)
	}
}

func TestRetryDelays(t *testing.T) {
	const delay = 400 * time.Millisecond
	tests := []struct {
		name string
		dec  Decision
		cfg  func(*Config)
	}{
		{"RetryAfter", RetryAfter(delay, errors.New("api busy")), nil},
		{"Retry backoff", Retry(errors.New("slurm down")), func(c *Config) { c.Backoff = Backoff{Initial: delay, Jitter: 0} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, topo := newBroker(t, nil)
			rec := newRecorder()
			cfg := ConfigFor(topo, topo.Submit, 1)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			r := NewRunner(b.JS, cfg, HandlerFunc(func(ctx context.Context, m *Message) Decision {
				if rec.record(m) == 1 {
					return tc.dec
				}
				return Ack()
			}), testenv.Logger(t))
			runRunner(t, r)
			subj := topo.Submit.Subject("1")
			publish(t, b.JS, subj, "1", "x")
			testenv.Eventually(t, 10*time.Second, func() bool { return rec.count(subj) == 2 }, "redelivered")
			ts := rec.times(subj)
			if gap := ts[1].Sub(ts[0]); gap < delay {
				t.Fatalf("redelivered after %s, before the %s delay", gap, delay)
			}
			testenv.Eventually(t, 5*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Submit.Stream) == 0 }, "acked")
		})
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2, Jitter: 0}
	for n, want := range map[uint64]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 50: 10 * time.Second} {
		if got := b.Delay(n); got != want {
			t.Errorf("Delay(%d) = %s, want %s", n, got, want)
		}
	}
	j := Backoff{}
	for range 100 {
		if d := j.Delay(1); d < 800*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("zero Backoff Delay(1) = %s, want 1s +/- 20%%", d)
		}
	}
}

func deadMessages(t *testing.T, js jetstream.JetStream, topo broker.Topology) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(context.Background(), topo.Dead)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(context.Background())
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestTerminateLandsInDead(t *testing.T) {
	b, topo := newBroker(t, nil)
	r := NewRunner(b.JS, ConfigFor(topo, topo.Submit, 2), HandlerFunc(func(ctx context.Context, m *Message) Decision {
		return Terminate("job script is not valid UTF-8")
	}), testenv.Logger(t))
	runRunner(t, r)
	publish(t, b.JS, topo.Submit.Subject("9"), "9", "payload-9")
	testenv.Eventually(t, 10*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Dead) == 1 }, "dead letter stored")
	testenv.Eventually(t, 5*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Submit.Stream) == 0 }, "original terminated")
	d := deadMessages(t, b.JS, topo)[0]
	checks := map[string]string{
		"payload":                   string(d.Data),
		"subject":                   d.Subject,
		broker.HeaderDeadReason:     d.Header.Get(broker.HeaderDeadReason),
		broker.HeaderSubmissionID:   d.Header.Get(broker.HeaderSubmissionID),
		broker.HeaderDeadStream:     d.Header.Get(broker.HeaderDeadStream),
		broker.HeaderDeadSubject:    d.Header.Get(broker.HeaderDeadSubject),
		broker.HeaderDeadDeliveries: d.Header.Get(broker.HeaderDeadDeliveries),
	}
	want := map[string]string{
		"payload":                   "payload-9",
		"subject":                   topo.Submit.DeadSubject,
		broker.HeaderDeadReason:     "job script is not valid UTF-8",
		broker.HeaderSubmissionID:   "9",
		broker.HeaderDeadStream:     topo.Submit.Stream,
		broker.HeaderDeadSubject:    topo.Submit.Subject("9"),
		broker.HeaderDeadDeliveries: "1",
	}
	for k, v := range want {
		if checks[k] != v {
			t.Errorf("%s = %q, want %q", k, checks[k], v)
		}
	}
}

func TestMaxDeliveriesByRetryDeadLetteredOnce(t *testing.T) {
	b, topo := newBroker(t, func(l *broker.Limits) { l.MaxDeliver = 3 })
	rec := newRecorder()
	r := NewRunner(b.JS, ConfigFor(topo, topo.Update, 2), HandlerFunc(func(ctx context.Context, m *Message) Decision {
		rec.record(m)
		return RetryAfter(20*time.Millisecond, fmt.Errorf("attempt %d failed", m.NumDelivered))
	}), testenv.Logger(t))
	runRunner(t, r)
	subj := topo.Update.Subject("3")
	publish(t, b.JS, subj, "3", "u")
	testenv.Eventually(t, 10*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Dead) >= 1 }, "dead-lettered")
	testenv.Eventually(t, 5*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Update.Stream) == 0 }, "original removed")
	// The message is gone from the work queue, so no further delivery or dead letter can follow;
	// a sentinel proves the runner kept working.
	publish(t, b.JS, topo.Update.Subject("sentinel"), "s", "u")
	testenv.Eventually(t, 5*time.Second, func() bool { return rec.count(topo.Update.Subject("sentinel")) >= 1 }, "sentinel handled")
	if n := rec.count(subj); n != 3 {
		t.Errorf("handled %d times, want MaxDeliver=3", n)
	}
	dead := deadMessages(t, b.JS, topo)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	if got := dead[0].Header.Get(broker.HeaderDeadReason); got != "max deliveries (3) reached: attempt 3 failed" {
		t.Errorf("reason = %q", got)
	}
}

func TestMaxDeliveriesByAckTimeoutReapedOnce(t *testing.T) {
	b, topo := newBroker(t, func(l *broker.Limits) { l.MaxDeliver = 2; l.AckWait = 300 * time.Millisecond })
	ctx := context.Background()
	subj := topo.Submit.Subject("77")
	publish(t, b.JS, subj, "77", "crashing job")
	// A worker that crashes twice: fetches and never acks.
	cons, err := b.JS.Consumer(ctx, topo.Submit.Stream, topo.Submit.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		testenv.Eventually(t, 10*time.Second, func() bool {
			batch, err := cons.Fetch(1, jetstream.FetchMaxWait(200*time.Millisecond))
			if err != nil {
				return false
			}
			got := false
			for range batch.Messages() {
				got = true
			}
			return got
		}, "delivery %d", attempt)
	}
	// Two runners with reapers: the advisory must produce exactly one dead letter.
	var handled atomic.Int32
	h := HandlerFunc(func(ctx context.Context, m *Message) Decision { handled.Add(1); return Ack() })
	runRunner(t, NewRunner(b.JS, ConfigFor(topo, topo.Submit, 1), h, testenv.Logger(t)))
	runRunner(t, NewRunner(b.JS, ConfigFor(topo, topo.Submit, 1), h, testenv.Logger(t)))
	testenv.Eventually(t, 10*time.Second, func() bool {
		return streamMsgs(t, b.JS, topo.Dead) == 1 && streamMsgs(t, b.JS, topo.Submit.Stream) == 0
	}, "reaped into DEAD and removed from the work queue")
	adv, _ := b.JS.Consumer(ctx, topo.Advisories, topo.Submit.AdvisoryConsumer)
	testenv.Eventually(t, 5*time.Second, func() bool {
		info, err := adv.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.Delivered.Stream >= 1
	}, "advisory acked")
	dead := deadMessages(t, b.JS, topo)
	if len(dead) != 1 || string(dead[0].Data) != "crashing job" || dead[0].Header.Get(broker.HeaderSubmissionID) != "77" {
		t.Fatalf("dead letters = %d, first %+v", len(dead), dead)
	}
	if handled.Load() != 0 {
		t.Fatalf("handler saw an exhausted message")
	}
}

func TestPanicBecomesRetry(t *testing.T) {
	b, topo := newBroker(t, nil)
	rec := newRecorder()
	cfg := ConfigFor(topo, topo.Submit, 1)
	cfg.Backoff = Backoff{Initial: 10 * time.Millisecond}
	r := NewRunner(b.JS, cfg, HandlerFunc(func(ctx context.Context, m *Message) Decision {
		if rec.record(m) == 1 {
			panic("nil map")
		}
		return Ack()
	}), testenv.Logger(t))
	runRunner(t, r)
	subj := topo.Submit.Subject("p")
	publish(t, b.JS, subj, "p", "x")
	testenv.Eventually(t, 10*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Submit.Stream) == 0 }, "acked after the panic")
	if n := rec.count(subj); n != 2 {
		t.Fatalf("handled %d times, want 2", n)
	}
}

func TestInProgressHeartbeatPreventsRedelivery(t *testing.T) {
	b, topo := newBroker(t, func(l *broker.Limits) { l.AckWait = 300 * time.Millisecond })
	rec := newRecorder()
	cfg := ConfigFor(topo, topo.Submit, 2)
	r := NewRunner(b.JS, cfg, HandlerFunc(func(ctx context.Context, m *Message) Decision {
		rec.record(m)
		select {
		case <-time.After(1200 * time.Millisecond): // four AckWaits of "sbatch"
		case <-ctx.Done():
		}
		return Ack()
	}), testenv.Logger(t))
	runRunner(t, r)
	subj := topo.Submit.Subject("long")
	publish(t, b.JS, subj, "long", "x")
	testenv.Eventually(t, 10*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Submit.Stream) == 0 }, "acked")
	if n := rec.count(subj); n != 1 {
		t.Fatalf("long handler ran %d times; InProgress did not hold the message", n)
	}
}

func TestGracefulStopNaksAbandonedWork(t *testing.T) {
	b, topo := newBroker(t, nil)
	cfg := ConfigFor(topo, topo.Submit, 1)
	cfg.ShutdownGrace = 100 * time.Millisecond
	cfg.ShutdownNakDelay = 10 * time.Millisecond
	started := make(chan struct{}, 1)
	var cancelled atomic.Bool
	r := NewRunner(b.JS, cfg, HandlerFunc(func(ctx context.Context, m *Message) Decision {
		select { // a redelivery must not block the handler on a signal already pending
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done()
		cancelled.Store(true)
		return Ack() // ignored: the runner already nak'ed it
	}), testenv.Logger(t))
	stop := runRunner(t, r)
	publish(t, b.JS, topo.Submit.Subject("g"), "g", "x")
	<-started
	stop()
	testenv.Eventually(t, 2*time.Second, cancelled.Load, "handler context cancelled after grace")

	var delivered atomic.Uint64
	r2 := NewRunner(b.JS, ConfigFor(topo, topo.Submit, 1), HandlerFunc(func(ctx context.Context, m *Message) Decision {
		delivered.Store(m.NumDelivered)
		return Ack()
	}), testenv.Logger(t))
	runRunner(t, r2)
	testenv.Eventually(t, 10*time.Second, func() bool { return delivered.Load() == 2 }, "redelivered to the next runner")
}

func TestGracefulStopWaitsForHandlers(t *testing.T) {
	b, topo := newBroker(t, nil)
	started := make(chan struct{}, 1)
	var finished atomic.Bool
	r := NewRunner(b.JS, ConfigFor(topo, topo.Submit, 1), HandlerFunc(func(ctx context.Context, m *Message) Decision {
		select { // a redelivery must not block the handler on a signal already pending
		case started <- struct{}{}:
		default:
		}
		time.Sleep(200 * time.Millisecond) // simulated work that must complete
		finished.Store(true)
		return Ack()
	}), testenv.Logger(t))
	stop := runRunner(t, r)
	publish(t, b.JS, topo.Submit.Subject("w"), "w", "x")
	<-started
	stop()
	if !finished.Load() {
		t.Fatal("Run returned before the in-flight handler finished")
	}
	if n := streamMsgs(t, b.JS, topo.Submit.Stream); n != 0 {
		t.Fatalf("in-flight message not acked at shutdown: %d left", n)
	}
}

// A handler still running when shutdown begins sees Stopping close while its ctx stays live.
func TestStoppingClosesBeforeHandlerContext(t *testing.T) {
	b, topo := newBroker(t, nil)
	if Stopping(context.Background()) != nil {
		t.Fatal("Stopping outside a runner must be nil (never closes)")
	}
	started := make(chan struct{}, 1)
	var sawStopping, ctxLive atomic.Bool
	r := NewRunner(b.JS, ConfigFor(topo, topo.Submit, 1), HandlerFunc(func(ctx context.Context, m *Message) Decision {
		select { // a redelivery must not block the handler on a signal already pending
		case started <- struct{}{}:
		default:
		}
		select {
		case <-Stopping(ctx):
			sawStopping.Store(true)
			ctxLive.Store(ctx.Err() == nil)
		case <-time.After(5 * time.Second):
		}
		return Ack()
	}), testenv.Logger(t))
	stop := runRunner(t, r)
	publish(t, b.JS, topo.Submit.Subject("s"), "s", "x")
	<-started
	stop()
	if !sawStopping.Load() || !ctxLive.Load() {
		t.Fatalf("handler saw Stopping: %v, with its ctx live: %v; want both", sawStopping.Load(), ctxLive.Load())
	}
}

func TestBatchHandler(t *testing.T) {
	b, topo := newBroker(t, nil)
	for i := range 23 {
		publish(t, b.JS, topo.Update.Subject(strconv.Itoa(i)), strconv.Itoa(i), "u")
	}
	var maxBatch, total atomic.Int32
	r := NewBatchRunner(b.JS, ConfigFor(topo, topo.Update, 5), BatchHandlerFunc(func(ctx context.Context, msgs []*Message) []Decision {
		if int32(len(msgs)) > maxBatch.Load() {
			maxBatch.Store(int32(len(msgs)))
		}
		total.Add(int32(len(msgs)))
		out := make([]Decision, len(msgs))
		for i, m := range msgs {
			if m.SubmissionID() == "13" {
				out[i] = Terminate("unknown job")
			}
		}
		return out
	}), testenv.Logger(t))
	runRunner(t, r)
	testenv.Eventually(t, 10*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Update.Stream) == 0 }, "batches settled")
	if maxBatch.Load() > 5 || maxBatch.Load() < 2 {
		t.Errorf("largest batch %d, want 2..5", maxBatch.Load())
	}
	if total.Load() != 23 {
		t.Errorf("handled %d messages, want 23", total.Load())
	}
	if n := streamMsgs(t, b.JS, topo.Dead); n != 1 {
		t.Errorf("DEAD holds %d, want 1", n)
	}
}

func TestBatchWrongLengthRetries(t *testing.T) {
	b, topo := newBroker(t, nil)
	publish(t, b.JS, topo.Update.Subject("1"), "1", "u")
	var calls atomic.Int32
	cfg := ConfigFor(topo, topo.Update, 4)
	cfg.Backoff = Backoff{Initial: 10 * time.Millisecond}
	r := NewBatchRunner(b.JS, cfg, BatchHandlerFunc(func(ctx context.Context, msgs []*Message) []Decision {
		if calls.Add(1) == 1 {
			return nil
		}
		return make([]Decision, len(msgs))
	}), testenv.Logger(t))
	runRunner(t, r)
	testenv.Eventually(t, 10*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Update.Stream) == 0 }, "acked on second batch")
	if calls.Load() != 2 {
		t.Fatalf("batch handler called %d times, want 2", calls.Load())
	}
}

func TestMiddlewareOrderAndTimeout(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next Handler) Handler {
			return HandlerFunc(func(ctx context.Context, m *Message) Decision {
				order = append(order, name)
				return next.Handle(ctx, m)
			})
		}
	}
	h := Chain(HandlerFunc(func(ctx context.Context, m *Message) Decision {
		<-ctx.Done()
		return Retry(context.Cause(ctx))
	}), mw("outer"), mw("inner"), Timeout(20*time.Millisecond))
	d := h.Handle(context.Background(), &Message{})
	if fmt.Sprint(order) != "[outer inner]" {
		t.Errorf("order %v", order)
	}
	if !d.IsRetry() || d.Reason() != "handler timeout 20ms" {
		t.Errorf("decision %v reason %q", d, d.Reason())
	}
}

func TestRunRequiresDeadSubject(t *testing.T) {
	b, topo := newBroker(t, nil)
	cfg := ConfigFor(topo, topo.Submit, 1)
	cfg.DeadSubject = ""
	if err := NewRunner(b.JS, cfg, HandlerFunc(nil), testenv.Logger(t)).Run(context.Background()); !errors.Is(err, ErrNoDeadSubject) {
		t.Fatalf("err = %v", err)
	}
	cfg = ConfigFor(topo, topo.Submit, 1)
	cfg.Consumer = "missing"
	if err := NewRunner(b.JS, cfg, HandlerFunc(nil), testenv.Logger(t)).Run(context.Background()); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("err = %v", err)
	}
}
