// Package extend is where a site adds its own behaviour to the agent, in Go, the way the
// reference agent's pluggy hooks did: user mappers selectable by SLURM_USER_MAPPER, periodic
// tasks that run beside the built-in ones, and middleware around the handlers of pending
// submissions (submit) and of active submissions (update).
//
// A site fills a Registry in its own main package and passes it to cli.Main with
// cli.WithExtensions; examples/site-agent is a complete example. The package has no dependency
// on go.uber.org/fx: fxmodules.Extensions turns a Registry into the agent's wiring.
package extend
