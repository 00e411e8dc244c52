package consumers

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// A message deferred more times than MaxDeliver allows is never dead-lettered: it is nak'ed
// while it has used less than half of MaxDeliver, then requeued as a copy that starts again
// at one delivery and keeps its headers, and it is handled once its turn comes.
func TestDeferNeverDeadLetters(t *testing.T) {
	const defers = 11 // more than MaxDeliver
	b, topo := newBroker(t, func(l *broker.Limits) { l.MaxDeliver = 4 })
	var (
		mu        sync.Mutex
		delivered []uint64
		requeued  []string
		ids       []string
	)
	r := NewRunner(b.JS, ConfigFor(topo, topo.Submit, 1), HandlerFunc(func(ctx context.Context, m *Message) Decision {
		mu.Lock()
		defer mu.Unlock()
		delivered = append(delivered, m.NumDelivered)
		requeued = append(requeued, m.Header.Get(broker.HeaderRequeued))
		ids = append(ids, m.SubmissionID())
		if len(delivered) <= defers {
			return Defer(20*time.Millisecond, "owner busy")
		}
		return Ack()
	}), testenv.Logger(t))
	runRunner(t, r)
	publish(t, b.JS, topo.Submit.Subject("5"), "5", "job")
	testenv.Eventually(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered) == defers+1
	}, "handled after every deferral")
	testenv.Eventually(t, 5*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Submit.Stream) == 0 }, "acked")
	if n := streamMsgs(t, b.JS, topo.Dead); n != 0 {
		t.Errorf("DEAD holds %d messages, want none", n)
	}
	mu.Lock()
	defer mu.Unlock()
	// MaxDeliver 4: a nak at delivery 1, a requeue at delivery 2 (2*2 >= 4), on every copy.
	for i, n := range delivered {
		if want := uint64(i%2 + 1); n != want {
			t.Errorf("handling %d: delivery %d, want %d (all %v)", i, n, want, delivered)
		}
		want := ""
		if i >= 2 {
			want = strconv.Itoa(i / 2)
		}
		if requeued[i] != want {
			t.Errorf("handling %d: %s %q, want %q", i, broker.HeaderRequeued, requeued[i], want)
		}
		if ids[i] != "5" {
			t.Errorf("handling %d: submission id %q, want 5 (headers kept)", i, ids[i])
		}
	}
}

// One owner's flood of deferred messages, larger than the consumer's ack-pending window, does
// not keep another message from being handled: requeued copies leave the window and go to the
// end of the queue. (With naks alone the window would stay full of the flood and the other
// message would never be delivered while the flood waits.)
func TestDeferredFloodDoesNotFillAckPendingWindow(t *testing.T) {
	b, topo := newBroker(t, func(l *broker.Limits) { l.MaxDeliver = 4; l.MaxAckPending = 5 })
	release := make(chan struct{})
	var handledOther sync.Once
	otherDone := make(chan time.Time, 1)
	r := NewRunner(b.JS, ConfigFor(topo, topo.Submit, 2), HandlerFunc(func(ctx context.Context, m *Message) Decision {
		if m.SubmissionID() == "other" {
			handledOther.Do(func() { otherDone <- time.Now() })
			return Ack()
		}
		select {
		case <-release:
			return Ack()
		default:
			return Defer(200*time.Millisecond, "flooding owner busy")
		}
	}), testenv.Logger(t))
	for i := range 20 {
		publish(t, b.JS, topo.Submit.Subject("flood"+strconv.Itoa(i)), "flood"+strconv.Itoa(i), "job")
	}
	publish(t, b.JS, topo.Submit.Subject("other"), "other", "job")
	start := time.Now()
	runRunner(t, r)
	select {
	case at := <-otherDone:
		t.Logf("the other message handled %s after the start, behind 20 deferred ones", at.Sub(start).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("the other message was not handled while the flood was deferred")
	}
	close(release)
	testenv.Eventually(t, 20*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Submit.Stream) == 0 }, "flood handled once released")
	if n := streamMsgs(t, b.JS, topo.Dead); n != 0 {
		t.Errorf("DEAD holds %d messages, want none", n)
	}
}

// A requeued copy carries every header of the original but its Nats-Msg-Id (a fresh one, so
// the stream's dedupe window does not drop it).
func TestRequeueCopyHeaders(t *testing.T) {
	b, topo := newBroker(t, func(l *broker.Limits) { l.MaxDeliver = 2 })
	got := make(chan nats.Header, 2)
	r := NewRunner(b.JS, ConfigFor(topo, topo.Submit, 1), HandlerFunc(func(ctx context.Context, m *Message) Decision {
		got <- m.Header
		if m.Header.Get(broker.HeaderRequeued) == "" {
			return Defer(0, "busy")
		}
		return Ack()
	}), testenv.Logger(t))
	m := nats.NewMsg(topo.Submit.Subject("9"))
	m.Header.Set(broker.HeaderSubmissionID, "9")
	m.Header.Set("Jbg-Site", "a")
	m.Header.Set(nats.MsgIdHdr, "submit-9")
	if _, err := b.JS.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	runRunner(t, r)
	first, second := <-got, <-got
	if first.Get(nats.MsgIdHdr) != "submit-9" || second.Get(nats.MsgIdHdr) == "submit-9" || second.Get(nats.MsgIdHdr) == "" {
		t.Errorf("Nats-Msg-Id: original %q, copy %q; want the copy's fresh", first.Get(nats.MsgIdHdr), second.Get(nats.MsgIdHdr))
	}
	if second.Get("Jbg-Site") != "a" || second.Get(broker.HeaderSubmissionID) != "9" || second.Get(broker.HeaderRequeued) != "1" {
		t.Errorf("copy headers %v", second)
	}
}

// A handler that gives its slot back (ReleaseSlot) while it waits lets the runner fetch and
// handle another message meanwhile, even at Concurrency 1; the waiting message is still settled
// by its decision.
func TestReleaseSlotLetsTheRunnerFetchMore(t *testing.T) {
	b, topo := newBroker(t, nil)
	otherDone := make(chan struct{})
	rec := newRecorder()
	r := NewRunner(b.JS, ConfigFor(topo, topo.Submit, 1), HandlerFunc(func(ctx context.Context, m *Message) Decision {
		rec.record(m)
		if m.SubmissionID() == "waits" {
			ReleaseSlot(ctx)
			ReleaseSlot(ctx) // a second call gives nothing more back
			select {
			case <-otherDone:
				return Ack()
			case <-time.After(10 * time.Second):
				return Retry(errors.New("the other message was not handled while this one waited"))
			}
		}
		close(otherDone)
		return Ack()
	}), testenv.Logger(t))
	runRunner(t, r)
	publish(t, b.JS, topo.Submit.Subject("1"), "waits", "job")
	publish(t, b.JS, topo.Submit.Subject("2"), "other", "job")
	testenv.Eventually(t, 15*time.Second, func() bool { return streamMsgs(t, b.JS, topo.Submit.Stream) == 0 }, "both acked")
	if n := rec.count(topo.Submit.Subject("1")); n != 1 {
		t.Errorf("the waiting message was handled %d times, want 1", n)
	}
}
