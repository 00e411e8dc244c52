package inspect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
)

// ErrDeadNotFound is returned when no dead letter has the given sequence.
var ErrDeadNotFound = errors.New("inspect: no dead letter with this sequence")

// DeadLetter is one message of the dead stream, decoded from the Jbg-Dead-* headers the consumers
// put on it (see consumers.publishDead).
type DeadLetter struct {
	// Seq is the dead letter's sequence in the dead stream: the handle for show, retry and purge.
	Seq uint64 `json:"seq"`
	// Subject is the dead letter's subject (<root>.dead.<kind>).
	Subject string `json:"subject"`
	// Stream, Consumer, OriginSeq and OriginSubject say where the message came from.
	Stream        string `json:"stream"`
	Consumer      string `json:"consumer"`
	OriginSeq     uint64 `json:"origin_seq"`
	OriginSubject string `json:"origin_subject"`
	SubmissionID  string `json:"submission_id,omitempty"`
	Reason        string `json:"reason"`
	// Deliveries is how many times the message had been delivered when it was given up.
	Deliveries uint64 `json:"deliveries"`
	// DeadAt is when it was dead-lettered (the dead stream's timestamp if the header is missing).
	DeadAt time.Time `json:"dead_at"`
	// Size is the payload size in bytes.
	Size int `json:"size"`
	// Header and Data are the full message; only GetDead fills them.
	Header nats.Header `json:"header,omitempty"`
	Data   []byte      `json:"data,omitempty"`
}

// decodeDead builds a DeadLetter from a stored message's headers.
func decodeDead(seq uint64, subject string, h nats.Header, stored time.Time, size int) DeadLetter {
	d := DeadLetter{
		Seq: seq, Subject: subject, Size: size,
		Stream:        h.Get(broker.HeaderDeadStream),
		Consumer:      h.Get(broker.HeaderDeadConsumer),
		OriginSubject: h.Get(broker.HeaderDeadSubject),
		SubmissionID:  h.Get(broker.HeaderSubmissionID),
		Reason:        h.Get(broker.HeaderDeadReason),
	}
	d.OriginSeq, _ = strconv.ParseUint(h.Get(broker.HeaderDeadSequence), 10, 64)
	d.Deliveries, _ = strconv.ParseUint(h.Get(broker.HeaderDeadDeliveries), 10, 64)
	if t, err := time.Parse(time.RFC3339Nano, h.Get(broker.HeaderDeadAt)); err == nil {
		d.DeadAt = t.UTC()
	} else {
		d.DeadAt = stored.UTC()
	}
	return d
}

// ListDead returns the newest limit dead letters (all of them when limit <= 0), oldest first,
// without their payloads.
func ListDead(ctx context.Context, js jetstream.JetStream, topo broker.Topology, limit int) ([]DeadLetter, error) {
	return readDead(ctx, js, topo, limit)
}

// GetDead returns the dead letter with sequence seq, with its headers and payload, or
// ErrDeadNotFound.
func GetDead(ctx context.Context, js jetstream.JetStream, topo broker.Topology, seq uint64) (DeadLetter, error) {
	s, err := deadStream(ctx, js, topo)
	if err != nil {
		return DeadLetter{}, err
	}
	return getDead(ctx, s, seq)
}

func getDead(ctx context.Context, s jetstream.Stream, seq uint64) (DeadLetter, error) {
	raw, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("%w: %d", ErrDeadNotFound, seq)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("inspect: get dead letter %d: %w", seq, err)
	}
	d := decodeDead(raw.Sequence, raw.Subject, raw.Header, raw.Time, len(raw.Data))
	d.Header, d.Data = raw.Header, raw.Data
	return d, nil
}

func deadStream(ctx context.Context, js jetstream.JetStream, topo broker.Topology) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, topo.Dead)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: stream %s does not exist", ErrNotProvisioned, topo.Dead)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect: stream %s: %w", topo.Dead, err)
	}
	return s, nil
}

// readBatch is how many dead letters one pull asks for; msgSizeHeader is the header carrying the
// payload size on a headers-only delivery.
const (
	readBatch     = 256
	msgSizeHeader = "Nats-Msg-Size"
)

// readDead reads the headers of every dead letter stored when it starts, through an ephemeral
// headers-only consumer on the dead stream (a limits stream, so that is allowed), which it deletes
// afterwards (its inactivity threshold removes it anyway if the process dies). It keeps the newest
// limit letters when limit > 0.
func readDead(ctx context.Context, js jetstream.JetStream, topo broker.Topology, limit int) ([]DeadLetter, error) {
	s, err := deadStream(ctx, js, topo)
	if err != nil {
		return nil, err
	}
	state := s.CachedInfo().State
	out := []DeadLetter{}
	if state.Msgs == 0 {
		return out, nil
	}
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Description:       "jobbergate-agent inspection (temporary)",
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		HeadersOnly:       true,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute,
		Replicas:          1,
	})
	if err != nil {
		return nil, fmt.Errorf("inspect: reader on %s: %w", topo.Dead, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = js.DeleteConsumer(dctx, topo.Dead, cons.CachedInfo().Name)
	}()
	for {
		batch, err := cons.FetchNoWait(readBatch)
		if err != nil {
			return nil, fmt.Errorf("inspect: read %s: %w", topo.Dead, err)
		}
		n, done := 0, false
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			size, _ := strconv.Atoi(m.Headers().Get(msgSizeHeader))
			out = append(out, decodeDead(md.Sequence.Stream, m.Subject(), m.Headers(), md.Timestamp, size))
			if limit > 0 && len(out) > limit {
				out = out[1:]
			}
			if md.Sequence.Stream >= state.LastSeq || md.NumPending == 0 {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("inspect: read %s: %w", topo.Dead, err)
		}
		if done || n == 0 {
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("inspect: read %s: %w", topo.Dead, ctx.Err())
		}
	}
}
