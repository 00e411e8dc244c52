// Package consumers is the pull-consumer runner every agent consumer shares; the submit, update,
// metrics and health handlers live in subpackages and only implement Handler or BatchHandler.
//
// A Runner binds a durable pull consumer by name, fetches messages with bounded concurrency,
// heartbeats long handlers with InProgress, turns panics into retries, and maps each Decision to
// JetStream acknowledgements:
//
//	Ack            -> DoubleAck (waits for the server's confirmation)
//	Retry          -> NakWithDelay(backoff(NumDelivered)), exponential with jitter, capped
//	RetryAfter(d)  -> NakWithDelay(d)
//	Terminate(why) -> copy to the DEAD stream, then TermWithReason(why)
//	Defer(d, why)  -> NakWithDelay(d or backoff) while fewer than half of MaxDeliver deliveries
//	                  are used, then a requeue: a copy at the end of the queue, then DoubleAck
//
// A bare Nak is never sent. Middleware wraps a Handler with cross-cutting behaviour (timeouts,
// metrics, tracing, a site's audit).
//
// # Design
//
// Retry and dead-lettering are the runner's own mapping rather than middleware, so every handler
// gets them and they cannot be ordered wrongly in a chain.
//
// # Deferring
//
// Defer is for a message that cannot start yet for a reason that is not its own fault, such as
// its owner's share of the handler being in use: it must wait its turn without being
// dead-lettered however long that takes, and without occupying the handler meanwhile. Naks
// count as deliveries, so once a message has used half of MaxDeliver the runner requeues it:
// it publishes a copy (same subject, data and headers, Jbg-Requeued counted up, Nats-Msg-Id
// "requeue-<stream>-<seq>") and then acknowledges the original. The copy starts from one
// delivery and leaves the consumer's ack-pending window, so a flood of one owner's deferred
// messages does not keep other messages from being delivered. Handlers must be idempotent for
// the rare original delivered again after a lost ack (every agent handler is).
//
// A handler that must wait for something other than this process's work (a share another
// message of the same owner holds) can give its runner slot back with ReleaseSlot, so that the
// runner goes on fetching; it then bounds those waiting messages itself.
//
// # Dead letters and MaxDeliver
//
// Nothing is dropped silently:
//   - a Retry on the last allowed delivery (NumDelivered >= MaxDeliver) is dead-lettered by the
//     runner at once with the handler's error as reason;
//   - a message whose last delivery timed out (process crash, lost ack) makes the server publish
//     a MAX_DELIVERIES advisory; broker.Provision persists those advisories in a stream, and the
//     runner's reaper reads them from a durable consumer, fetches the original with GetMsg (a
//     work-queue stream keeps it), dead-letters it and deletes it from the work stream;
//   - every dead letter is published with Nats-Msg-Id "dead-<stream>-<seq>", so the two paths,
//     a lost Term or a reaper crash between publish and delete never produce two dead letters
//     inside the DEAD stream's dedupe window; a dead letter that cannot be published is
//     nak'ed with backoff instead of terminated.
package consumers
