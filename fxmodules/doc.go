// Package fxmodules is the agent's go.uber.org/fx wiring: one fx.Module per concern (broker, api,
// slurm, bridge, and one per consumer role), assembled from the settings by New.
//
// # Design
//
// It is the only package that knows about fx, and it holds wiring only: every other package is
// plain constructors, usable without fx, and the mapping of settings to their options lives beside
// the options (broker.OptionsFor, submit.InFlight, ...). Parameter objects follow fx's naming:
// an fx.In struct is named xxxParams, an fx.Out struct XxxResult.
//
// # Start
//
// The constructors that talk to NATS (connect, provision the streams, open the buckets) run
// while New builds the application. Their timeouts derive from New's context (StartContext),
// so a stop requested while the agent starts ends them at once; the errors that this
// cancellation causes are logged at DEBUG, not as failures.
//
// # Tasks
//
// Background work (consumers, the bridge, the heartbeat) is registered as Task values in the
// "tasks" group; one supervisor starts them after every constructor succeeded and, on stop,
// cancels them and waits for them before the broker closes, so in-flight messages are settled
// while the NATS connection is still up. A task that fails (returns an error other than by
// cancellation) shuts the application down with exit code 1.
package fxmodules
