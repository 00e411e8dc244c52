// Package cli is the jobbergate-agent command, importable so that a site can compile its own
// binary with its extensions (see Main and WithExtensions).
//
// # Subcommands
//
//	run      (default) run the agent
//	config   print the effective settings (secrets masked); non-zero exit with one line per problem;
//	         --example prints an env file documenting every setting
//	version  print the version
//	status   queues, consumers, bridge leader, agents and dead letters
//	dead     list, show, retry and purge dead letters
package cli
