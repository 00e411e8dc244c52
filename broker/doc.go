// Package broker owns the agent's NATS JetStream backbone: it starts an embedded nats-server (or
// connects to an existing NATS deployment), provisions the streams, consumers and KV buckets the
// agent uses (see Topology and Provision), and keeps a per-process heartbeat in the agents bucket.
//
// Everything here is plain constructors with explicit dependencies; wiring lives elsewhere.
package broker
