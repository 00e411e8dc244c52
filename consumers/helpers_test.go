package consumers

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker/brokertest"
)

// newBroker starts an embedded broker on a temp store and provisions a topology whose limits
// tune may change.
func newBroker(t testing.TB, tune func(*broker.Limits)) (*broker.Broker, broker.Topology) {
	t.Helper()
	return brokertest.Start(t, brokertest.Limits(tune))
}

// runRunner starts r and returns a stop function that cancels it and waits for Run to return.
func runRunner(t testing.TB, r *Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func publish(t testing.TB, js jetstream.JetStream, subject, id string, data string) {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = []byte(data)
	m.Header.Set(broker.HeaderSubmissionID, id)
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

func streamMsgs(t testing.TB, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	return brokertest.StreamMsgs(t, js, name)
}

// recorder counts handler calls per subject and remembers delivery times.
type recorder struct {
	mu        sync.Mutex
	calls     map[string][]time.Time
	delivered map[string][]uint64
}

func newRecorder() *recorder {
	return &recorder{calls: map[string][]time.Time{}, delivered: map[string][]uint64{}}
}

func (r *recorder) record(m *Message) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[m.Subject] = append(r.calls[m.Subject], time.Now())
	r.delivered[m.Subject] = append(r.delivered[m.Subject], m.NumDelivered)
	return len(r.calls[m.Subject])
}

func (r *recorder) count(subject string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls[subject])
}

func (r *recorder) times(subject string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.calls[subject]...)
}
