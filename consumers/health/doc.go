// Package health reports the cluster's liveness to the Jobbergate API and runs the daily
// garbage-collection calls of older APIs.
//
// # Liveness
//
// Liveness is a tick on the HEALTH work queue: NewSource (a bridge.Source) yields one tick per
// interval whose Nats-Msg-Id is derived from the interval number, so two bridges, or two agents,
// enqueue one tick per interval; HEALTH also keeps at most one waiting tick. Handler, run by any
// number of agents on the shared durable consumer, PUTs the cluster status for each tick it gets.
// The result is one status PUT per cluster per interval, sent by whichever login node's agent is
// alive; when none is, the portal sees the cluster unhealthy after one interval.
//
// The per-process heartbeat in the agents bucket is broker.Heartbeat's job, not this package's.
//
// # Garbage collection
//
// GarbageCollector triggers the reference's three garbage-collection DELETE calls once a day at
// TASK_GARBAGE_COLLECTION_HOUR, for APIs older than 5.7.0 that still have them. A newer API
// answers 404: logged once at info level, never as an error.
package health
