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
//
// A bare Nak is never sent. Middleware wraps a Handler with cross-cutting behaviour (timeouts,
// metrics, tracing, a site's audit).
//
// # Design
//
// Retry and dead-lettering are the runner's own mapping rather than middleware, so every handler
// gets them and they cannot be ordered wrongly in a chain.
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
