// Package inspect reads the state of a running agent deployment from NATS JetStream and operates
// on its dead letters; it backs `jobbergate-agent status` and `jobbergate-agent dead ...`.
//
// Every function takes the JetStream context and topology explicitly and keeps no state; they are
// safe for concurrent use as far as the underlying JetStream context is.
//
// # Design
//
// Inspection never disturbs the work queues: work streams and their durable consumers are only
// read through stream info and consumer info (never a new consumer: a work-queue stream refuses
// non-DeliverAll consumers and a second unfiltered one), single messages through GetMsg. The
// dead-letter stream is a limits-policy stream, so it is read with a short-lived ephemeral
// consumer (headers only, no acks) that is deleted when the read is done.
package inspect
