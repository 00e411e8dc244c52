package consumers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/backoff"
)

// DeadMsgID is the Nats-Msg-Id of the dead letter of stream/seq. Both dead-letter paths use it,
// so the DEAD stream stores one copy per original message within its dedupe window.
func DeadMsgID(stream string, seq uint64) string {
	return "dead-" + stream + "-" + strconv.FormatUint(seq, 10)
}

// publishDead stores a copy of msg (payload and headers, minus the Nats-* control headers) with
// the reason and origin headers on the dead subject, and waits for the stream's ack.
func publishDead(ctx context.Context, js jetstream.JetStream, subject, consumer string, msg *Message, reason string) error {
	out := nats.NewMsg(subject)
	out.Data = msg.Data
	for k, vs := range msg.Header {
		if strings.HasPrefix(k, "Nats-") {
			continue
		}
		for _, v := range vs {
			out.Header.Add(k, v)
		}
	}
	out.Header.Set(broker.HeaderDeadReason, reason)
	out.Header.Set(broker.HeaderDeadStream, msg.Stream)
	out.Header.Set(broker.HeaderDeadConsumer, consumer)
	out.Header.Set(broker.HeaderDeadSequence, strconv.FormatUint(msg.Sequence, 10))
	out.Header.Set(broker.HeaderDeadSubject, msg.Subject)
	out.Header.Set(broker.HeaderDeadDeliveries, strconv.FormatUint(msg.NumDelivered, 10))
	out.Header.Set(broker.HeaderDeadAt, time.Now().UTC().Format(time.RFC3339Nano))
	if _, err := js.PublishMsg(ctx, out, jetstream.WithMsgID(DeadMsgID(msg.Stream, msg.Sequence))); err != nil {
		return fmt.Errorf("consumers: publish dead letter for %s/%d: %w", msg.Stream, msg.Sequence, err)
	}
	return nil
}

// maxDeliveriesAdvisory is the part of io.nats.jetstream.advisory.v1.max_deliver the reaper uses.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// reap dead-letters messages whose deliveries ran out without a decision (ack timeouts), reading
// the persisted MAX_DELIVERIES advisories until ctx is done. Each advisory is acked only after the
// original is in DEAD and deleted from the work stream (or is already gone).
func (r *Runner) reap(ctx context.Context, log *slog.Logger) {
	log = log.With("reaper", r.cfg.AdvisoryConsumer)
	var adv jetstream.Consumer
	var stream jetstream.Stream
	for ctx.Err() == nil {
		var err error
		if adv == nil {
			adv, err = r.js.Consumer(ctx, r.cfg.AdvisoryStream, r.cfg.AdvisoryConsumer)
		}
		if err == nil && stream == nil {
			stream, err = r.js.Stream(ctx, r.cfg.Stream)
		}
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("reaper cannot bind", "error", err)
				_ = backoff.Wait(ctx, r.cfg.FetchWait)
			}
			continue
		}
		batch, err := adv.Fetch(16, jetstream.FetchMaxWait(r.cfg.FetchWait))
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("reaper fetch failed", "error", err)
				_ = backoff.Wait(ctx, r.cfg.FetchWait)
			}
			continue
		}
		for m := range batch.Messages() {
			r.reapOne(stream, log, m)
		}
	}
}

func (r *Runner) reapOne(stream jetstream.Stream, log *slog.Logger, m jetstream.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*r.cfg.AckTimeout)
	defer cancel()
	var a maxDeliveriesAdvisory
	if err := json.Unmarshal(m.Data(), &a); err != nil || a.StreamSeq == 0 {
		log.Error("unreadable max-deliveries advisory; terminated", "error", err)
		_ = m.TermWithReason("unreadable advisory")
		return
	}
	log = log.With("seq", a.StreamSeq, "deliveries", a.Deliveries)
	raw, err := stream.GetMsg(ctx, a.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		// Already acked or dead-lettered by a runner (or reaped before a lost advisory ack).
		_ = m.DoubleAck(ctx)
		return
	}
	if err != nil {
		log.Warn("reaper: get original failed; will retry", "error", err)
		_ = m.NakWithDelay(r.cfg.Backoff.Delay(1))
		return
	}
	msg := &Message{Subject: raw.Subject, Data: raw.Data, Header: raw.Header, Stream: r.cfg.Stream,
		Sequence: raw.Sequence, NumDelivered: a.Deliveries, MaxDeliver: r.maxDeliver, Published: raw.Time}
	reason := fmt.Sprintf("max deliveries (%d) exhausted: last delivery not acknowledged in time", a.Deliveries)
	if err := publishDead(ctx, r.js, r.cfg.DeadSubject, r.cfg.Consumer, msg, reason); err != nil {
		log.Error("reaper: dead-letter publish failed; will retry", "error", err)
		_ = m.NakWithDelay(r.cfg.Backoff.Delay(1))
		return
	}
	if err := stream.DeleteMsg(ctx, raw.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		log.Error("reaper: delete original failed; will retry", "error", err)
		_ = m.NakWithDelay(r.cfg.Backoff.Delay(1))
		return
	}
	if err := m.DoubleAck(ctx); err != nil {
		log.Warn("reaper: advisory ack not confirmed", "error", err)
	}
	log.Error("message dead-lettered after max deliveries", "subject", raw.Subject,
		"submission_id", raw.Header.Get(broker.HeaderSubmissionID), "reason", reason)
}
