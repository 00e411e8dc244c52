package inspect

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker/brokertest"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// newBroker starts an embedded broker on a temp store, listening on a random loopback port, and
// provisions topology JBG_T with a short MaxDeliver.
func newBroker(t testing.TB) (*broker.Broker, broker.Topology) {
	t.Helper()
	return brokertest.Start(t, brokertest.Name("inspect-test"), brokertest.Listen(), brokertest.Limits(func(l *broker.Limits) {
		l.MaxDeliver = 3
		l.AckWait = 5 * time.Second
	}))
}

func publish(t testing.TB, js jetstream.JetStream, subject, id, data string) uint64 {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = []byte(data)
	m.Header.Set(broker.HeaderSubmissionID, id)
	ack, err := js.PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	return ack.Sequence
}

func streamMsgs(t testing.TB, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	return brokertest.StreamMsgs(t, js, name)
}

// handled records the messages a runner's handler saw.
type handled struct {
	mu   sync.Mutex
	msgs []*consumers.Message
}

func (h *handled) add(m *consumers.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, m)
}

func (h *handled) bySubject(subject string) []*consumers.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*consumers.Message
	for _, m := range h.msgs {
		if m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}

// runUntilDrained runs a real consumers.Runner on queue q with decide until the queue's stream is
// empty, then stops it. Every message the handler sees is recorded in h.
func runUntilDrained(t *testing.T, b *broker.Broker, topo broker.Topology, q broker.WorkQueue, h *handled, decide func(*consumers.Message) consumers.Decision) {
	t.Helper()
	cfg := consumers.ConfigFor(topo, q, 2)
	cfg.FetchWait = 200 * time.Millisecond
	r := consumers.NewRunner(b.JS, cfg, consumers.HandlerFunc(func(_ context.Context, m *consumers.Message) consumers.Decision {
		h.add(m)
		return decide(m)
	}), testenv.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	testenv.Eventually(t, 15*time.Second, func() bool { return streamMsgs(t, b.JS, q.Stream) == 0 },
		"%s not drained", q.Stream)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runner: %v", err)
	}
}

// terminateIDs returns a decision function that dead-letters the given submission ids with
// reason and acks the others.
func terminateIDs(reason string, ids ...string) func(*consumers.Message) consumers.Decision {
	return func(m *consumers.Message) consumers.Decision {
		for _, id := range ids {
			if m.SubmissionID() == id {
				return consumers.Terminate(reason)
			}
		}
		return consumers.Ack()
	}
}

// deadLetterMsg builds a message shaped like the consumers' dead letters.
func deadLetterMsg(deadSubject, stream, subject string) *nats.Msg {
	m := nats.NewMsg(deadSubject)
	m.Data = []byte("payload")
	m.Header.Set(broker.HeaderDeadReason, "handmade")
	m.Header.Set(broker.HeaderDeadStream, stream)
	m.Header.Set(broker.HeaderDeadConsumer, "submit")
	m.Header.Set(broker.HeaderDeadSequence, "1")
	m.Header.Set(broker.HeaderDeadSubject, subject)
	m.Header.Set(broker.HeaderDeadDeliveries, "1")
	m.Header.Set(broker.HeaderDeadAt, time.Now().UTC().Format(time.RFC3339Nano))
	return m
}
