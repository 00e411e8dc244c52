package inspect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
)

// ErrNotRetryable is returned by RetryDead for a dead letter whose origin subject is not one of
// the topology's work queues (for instance a copy from another prefix): it stays in the dead
// stream.
var ErrNotRetryable = errors.New("inspect: dead letter has no work queue to go back to")

// Retry outcomes.
const (
	// Requeued: the original was published again to its work queue and the dead letter deleted.
	Requeued = "requeued"
	// AlreadyQueued: the work queue keeps one message per subject (update, health) and one is
	// waiting for the same submission; that message triggers the same work, so the dead letter is
	// deleted without publishing.
	AlreadyQueued = "already-queued"
)

// Retried is the result of retrying one dead letter.
type Retried struct {
	DeadLetter DeadLetter `json:"dead_letter"`
	Outcome    string     `json:"outcome"`
	// Stream and Seq locate the new message (Seq is 0 when AlreadyQueued).
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
}

// RetryDead puts dead letter seq back on its work queue: it publishes the original payload and the
// agent's headers (Jbg-Dead-* and Nats-* dropped) to the original subject, and deletes the dead
// letter only after the work stream acked the publish. A failed publish leaves the dead letter in
// place. The publish carries a Nats-Msg-Id derived from the dead letter (not the original's id,
// which the work stream's dedupe window may still hold), so retrying the same dead letter twice
// (say after a crash between publish and delete) enqueues it once.
func RetryDead(ctx context.Context, js jetstream.JetStream, topo broker.Topology, seq uint64) (Retried, error) {
	s, err := deadStream(ctx, js, topo)
	if err != nil {
		return Retried{}, err
	}
	d, err := getDead(ctx, s, seq)
	if err != nil {
		return Retried{}, err
	}
	return retry(ctx, js, s, topo, d)
}

// RetryAllDead retries every dead letter stored when it starts, oldest first. It goes on past
// failures and returns what was retried with the failures joined.
func RetryAllDead(ctx context.Context, js jetstream.JetStream, topo broker.Topology) ([]Retried, error) {
	s, err := deadStream(ctx, js, topo)
	if err != nil {
		return nil, err
	}
	letters, err := readDead(ctx, js, topo, 0)
	if err != nil {
		return nil, err
	}
	out := []Retried{}
	var errs []error
	for _, l := range letters {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		d, err := getDead(ctx, s, l.Seq)
		if errors.Is(err, ErrDeadNotFound) {
			continue // retried or purged meanwhile
		}
		if err == nil {
			var r Retried
			if r, err = retry(ctx, js, s, topo, d); err == nil {
				out = append(out, r)
				continue
			}
		}
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

func retry(ctx context.Context, js jetstream.JetStream, dead jetstream.Stream, topo broker.Topology, d DeadLetter) (Retried, error) {
	q, ok := originQueue(topo, d)
	if !ok {
		return Retried{}, fmt.Errorf("%w: dead letter %d came from %q (subject %q)", ErrNotRetryable, d.Seq, d.Stream, d.OriginSubject)
	}
	m := nats.NewMsg(d.OriginSubject)
	m.Data = d.Data
	for k, vs := range d.Header {
		if hasPrefixFold(k, "Jbg-Dead-") || hasPrefixFold(k, "Nats-") {
			continue
		}
		for _, v := range vs {
			m.Header.Add(k, v)
		}
	}
	r := Retried{DeadLetter: d, Stream: q.Stream}
	ack, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(RetryMsgID(topo, d)), jetstream.WithExpectStream(q.Stream))
	switch {
	case err == nil:
		r.Outcome, r.Seq = Requeued, ack.Sequence
	case perSubjectFull(err):
		r.Outcome = AlreadyQueued
	default:
		return Retried{}, fmt.Errorf("inspect: republish dead letter %d to %s: %w", d.Seq, d.OriginSubject, err)
	}
	if err := dead.DeleteMsg(ctx, d.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return r, fmt.Errorf("inspect: dead letter %d was requeued but not deleted (retrying it again is safe within the dedupe window): %w", d.Seq, err)
	}
	return r, nil
}

// RetryMsgID is the Nats-Msg-Id under which dead letter d is republished: stable for one dead
// letter, different from every earlier publish of the same work.
func RetryMsgID(topo broker.Topology, d DeadLetter) string {
	return "retry-" + topo.Dead + "-" + strconv.FormatUint(d.Seq, 10) + "-" + strconv.FormatInt(d.DeadAt.UnixNano(), 10)
}

// originQueue finds the work queue a dead letter came from; its subject must belong to it.
func originQueue(topo broker.Topology, d DeadLetter) (broker.WorkQueue, bool) {
	for _, q := range topo.Queues() {
		if d.Stream == q.Stream && strings.HasPrefix(d.OriginSubject, q.Subject("")) && len(d.OriginSubject) > len(q.Subject("")) {
			return q, true
		}
	}
	return broker.WorkQueue{}, false
}

func perSubjectFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum messages per subject exceeded")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// PurgeDead deletes dead letter seq and returns it (with payload), or ErrDeadNotFound.
func PurgeDead(ctx context.Context, js jetstream.JetStream, topo broker.Topology, seq uint64) (DeadLetter, error) {
	s, err := deadStream(ctx, js, topo)
	if err != nil {
		return DeadLetter{}, err
	}
	d, err := getDead(ctx, s, seq)
	if err != nil {
		return DeadLetter{}, err
	}
	if err := s.DeleteMsg(ctx, seq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return DeadLetter{}, fmt.Errorf("%w: %d", ErrDeadNotFound, seq)
		}
		return DeadLetter{}, fmt.Errorf("inspect: delete dead letter %d: %w", seq, err)
	}
	return d, nil
}

// PurgeAllDead removes every dead letter stored when it starts and returns them (without
// payloads). Dead letters that arrive meanwhile are kept: the purge stops at the last one read.
func PurgeAllDead(ctx context.Context, js jetstream.JetStream, topo broker.Topology) ([]DeadLetter, error) {
	s, err := deadStream(ctx, js, topo)
	if err != nil {
		return nil, err
	}
	letters, err := readDead(ctx, js, topo, 0)
	if err != nil || len(letters) == 0 {
		return letters, err
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSequence(letters[len(letters)-1].Seq+1)); err != nil {
		return nil, fmt.Errorf("inspect: purge %s: %w", topo.Dead, err)
	}
	return letters, nil
}
