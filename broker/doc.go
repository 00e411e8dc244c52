// Package broker is the agent's NATS JetStream backbone: the connection, the embedded server and
// the streams, consumers and buckets the agent uses.
//
// Start brings up an embedded nats-server or connects to an existing NATS deployment (Connect is
// the one place where a client connection is built, for the agent and its status and dead
// commands alike); OptionsFor and TopologyFor derive both from the agent's settings. Provision
// creates the streams, consumers and KV buckets of a Topology, AgentPermissions lists what an
// agent's NATS user needs for them, and Heartbeat keeps a per-process record in the agents bucket.
//
// # Design
//
// Everything here is plain constructors with explicit dependencies; the fx wiring lives in
// package fxmodules.
package broker
