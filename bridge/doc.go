// Package bridge turns Jobbergate API state into JetStream messages.
//
// Exactly one bridge per Slurm cluster polls at a time: the holder of a KV lease (Elector). The
// leader runs a Poller that asks each Source for its Outgoing messages every interval and
// publishes them with a stable Nats-Msg-Id chosen by the source (e.g. "submit-<id>-<status>").
// The package does not know the Jobbergate client: sources are plain interfaces, and SourceFunc
// makes one of a function.
//
// # Dedupe window versus poll interval
//
// JetStream drops a publish whose Nats-Msg-Id it has seen within the stream's Duplicates window.
// The same message is published again by the next poll (one interval later) while the API still
// shows the old state, by a second bridge that took over (at most about two lease TTLs later), or
// by a bridge restarted mid-cycle. The window must therefore exceed the time between two
// publishes of the same item: at least MinDuplicates(interval, leaseTTL) = max(2*interval,
// interval + 2*leaseTTL). CheckDedupeWindow verifies it at start. Beyond the window a
// still-pending item is enqueued again; that is harmless because consumers are idempotent (the
// submit consumer claims each submission in KV), and UPDATE has a per-subject limit of one
// waiting message that rejects duplicates regardless of the window (counted as AlreadyQueued).
package bridge
