// Package fxmodules is the only place that knows about go.uber.org/fx: it turns the agent's
// settings into an application made of one fx.Module per concern (broker, api, slurm, bridge,
// and one per consumer role). Every other package is plain constructors, usable without fx.
//
// Background work (consumers, the bridge, the heartbeat) is registered as Task values in the
// "tasks" group; one supervisor starts them after every constructor succeeded and, on stop,
// cancels them and waits for them before the broker closes, so in-flight messages are settled
// while the NATS connection is still up. A task that fails (returns an error other than by
// cancellation) shuts the application down with exit code 1.
package fxmodules
