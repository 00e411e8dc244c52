package consumers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/backoff"
)

// deferMsg settles a Defer: a nak with the delay while the message has used less than half of
// MaxDeliver, a requeue from then on, so deferrals never use up the deliveries a message needs
// for its real retries. A requeue that fails falls back to the nak, except on the message's
// last delivery, where the message is dead-lettered with the reason (the server would give up
// on it after that nak).
func (r *Runner) deferMsg(ctx context.Context, log *slog.Logger, f *inflight, msg *Message, dec Decision) {
	if r.maxDeliver > 0 && msg.NumDelivered*2 >= uint64(r.maxDeliver) {
		err := r.requeue(ctx, log, f, msg)
		if err == nil {
			return
		}
		if msg.LastAttempt() {
			r.deadLetter(ctx, log, f, msg, fmt.Sprintf("deferred (%s) on its last delivery, and requeueing it failed: %v", dec.reason, err))
			return
		}
		log.Warn("requeue of a deferred message failed; nak'ed instead", "error", err)
	}
	if delay, ok := r.nak(log, f, msg, dec); ok {
		log.Info("message deferred", "delay", delay, "reason", dec.reason)
	}
}

// requeue acknowledges msg and then publishes a copy at the end of its work queue: same subject,
// data and headers, Jbg-Requeued counted up, Nats-Msg-Id "requeue-<stream>-<seq>". The work
// queues keep one message per subject (broker.Provision), so the copy can only be stored once
// the original is gone; a copy refused because a message of the subject is queued again already
// (the bridge re-polled it) is not needed. An error before the acknowledgement leaves the
// original in place (the caller naks it). Should the copy be lost after the acknowledgement
// (publish failing three times, a crash in between), the source queues the message again while
// it is still pending in the API, once the stream's dedupe window has passed: work is delayed,
// not lost.
func (r *Runner) requeue(ctx context.Context, log *slog.Logger, f *inflight, msg *Message) error {
	out := nats.NewMsg(msg.Subject)
	out.Data = msg.Data
	for k, v := range msg.Header {
		if k == nats.MsgIdHdr || strings.HasPrefix(k, "Nats-Expected") {
			continue
		}
		out.Header[k] = slices.Clone(v)
	}
	n, _ := strconv.Atoi(msg.Header.Get(broker.HeaderRequeued))
	out.Header.Set(broker.HeaderRequeued, strconv.Itoa(n+1))
	out.Header.Set(nats.MsgIdHdr, fmt.Sprintf("requeue-%s-%d", msg.Stream, msg.Sequence))
	if err := f.msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("ack before requeue: %w", err)
	}
	var err error
	for attempt := 1; attempt <= requeueAttempts; attempt++ {
		var ack *jetstream.PubAck
		ack, err = r.js.PublishMsg(ctx, out)
		switch {
		case err == nil:
			log.Info("deferred message requeued", "copy_seq", ack.Sequence, "duplicate", ack.Duplicate, "requeued", n+1)
			return nil
		case broker.IsAlreadyQueued(err):
			log.Info("deferred message acked: it is queued again already")
			return nil
		}
		if attempt < requeueAttempts && backoff.Wait(ctx, time.Duration(attempt)*100*time.Millisecond) != nil {
			break
		}
	}
	log.Error("deferred message acked but its copy could not be published: it is queued again by its source once the dedupe window has passed",
		"error", err)
	return nil
}

// requeueAttempts bounds the publishes of a requeued copy.
const requeueAttempts = 3
