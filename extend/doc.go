// Package extend is where a site adds its own behaviour to the agent, in Go: user mappers, periodic
// tasks and middleware around the submit and update handlers, collected in a Registry.
//
// A site fills a Registry in its own main package and passes it to cli.Main with
// cli.WithExtensions; examples/site-agent is a complete example, and the Registry examples show
// each plug-in point on its own.
//
// # Design
//
// The plug-in points are those of the reference agent's pluggy hooks: user mappers selectable by
// SLURM_USER_MAPPER, periodic tasks that run beside the built-in ones, and middleware around the
// handlers of pending submissions (submit) and of active submissions (update). The package has no
// dependency on go.uber.org/fx: fxmodules.Extensions turns a Registry into the agent's wiring.
package extend
