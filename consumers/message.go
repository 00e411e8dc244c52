package consumers

import (
	"time"

	"github.com/nats-io/nats.go"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
)

// Message is what a handler sees of a JetStream message. Handlers never acknowledge: they return
// a Decision and the runner settles the message exactly once.
type Message struct {
	Subject string
	Data    []byte
	Header  nats.Header
	// Stream and Sequence locate the message in its stream.
	Stream   string
	Sequence uint64
	// NumDelivered counts deliveries including this one (1 on the first attempt).
	NumDelivered uint64
	// MaxDeliver is the consumer's delivery limit (0 or less: unlimited).
	MaxDeliver int
	// Published is when the message was stored.
	Published time.Time
}

// SubmissionID returns the Jbg-Submission-Id header, or "".
func (m *Message) SubmissionID() string { return m.Header.Get(broker.HeaderSubmissionID) }

// LastAttempt reports whether this is the last delivery the consumer allows: a Retry now is
// dead-lettered.
func (m *Message) LastAttempt() bool {
	return m.MaxDeliver > 0 && m.NumDelivered >= uint64(m.MaxDeliver)
}
