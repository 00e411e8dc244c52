package consumers

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// settle applies a decision to a message exactly once (see inflight) and logs the outcome with
// the subject and submission id.
func (r *Runner) settle(f *inflight, msg *Message, dec Decision) {
	f.once.Do(func() {
		log := r.logger.With("stream", msg.Stream, "seq", msg.Sequence, "subject", msg.Subject,
			"submission_id", msg.SubmissionID(), "delivered", msg.NumDelivered)
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.AckTimeout)
		defer cancel()
		switch dec.kind {
		case kindAck:
			if err := f.msg.DoubleAck(ctx); err != nil {
				// The server will redeliver after AckWait; handlers are idempotent.
				log.Error("ack not confirmed; message will be redelivered", "error", err)
				return
			}
			log.Info("message acked")
		case kindRetry:
			if msg.LastAttempt() {
				reason := fmt.Sprintf("max deliveries (%d) reached: %s", r.maxDeliver, dec.Reason())
				r.deadLetter(ctx, log, f, msg, reason)
				return
			}
			if delay, ok := r.nak(log, f, msg, dec); ok {
				log.Warn("message will be retried", "delay", delay, "error", dec.Reason())
			}
		case kindTerminate:
			r.deadLetter(ctx, log, f, msg, dec.reason)
		case kindDefer:
			r.deferMsg(ctx, log, f, msg, dec)
		}
	})
}

// nak asks for msg's redelivery after dec's delay, or the Backoff's delay for its delivery count
// when dec has none. It returns the delay, and false when the nak failed (logged; the server
// then redelivers after AckWait).
func (r *Runner) nak(log *slog.Logger, f *inflight, msg *Message, dec Decision) (time.Duration, bool) {
	delay := dec.delay
	if delay <= 0 {
		delay = r.cfg.Backoff.Delay(msg.NumDelivered)
	}
	if err := f.msg.NakWithDelay(delay); err != nil {
		log.Error("nak failed; message will be redelivered after AckWait", "error", err)
		return delay, false
	}
	return delay, true
}

// deadLetter copies msg to DEAD and then terminates it. If the copy cannot be stored, the
// message is nak'ed with backoff instead, so it is never lost.
func (r *Runner) deadLetter(ctx context.Context, log *slog.Logger, f *inflight, msg *Message, reason string) {
	if err := publishDead(ctx, r.js, r.cfg.DeadSubject, r.cfg.Consumer, msg, reason); err != nil {
		delay := r.cfg.Backoff.Delay(msg.NumDelivered)
		log.Error("dead-letter publish failed; message nak'ed instead", "reason", reason, "delay", delay, "error", err)
		if err := f.msg.NakWithDelay(delay); err != nil {
			log.Error("nak failed; message will be redelivered after AckWait", "error", err)
		}
		return
	}
	if err := f.msg.TermWithReason(reason); err != nil {
		// The copy is in DEAD; a redelivery is dead-lettered again under the same Msg-Id
		// (deduplicated) or reaped after MaxDeliver.
		log.Error("term failed after dead-lettering", "reason", reason, "error", err)
		return
	}
	log.Error("message dead-lettered", "reason", reason)
}
