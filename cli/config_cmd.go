package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
)

// configCmd prints every setting with its effective value (secrets masked); with --example, an
// env file documenting every setting instead (settings are not read then). Unknown
// JOBBERGATE_AGENT_* variables are printed to stderr as warnings (with --json, also under
// "warnings"), without changing the exit code. Invalid settings are printed to stderr, one line
// per problem, and the exit code is 1.
func configCmd(_ context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	example := fs.Bool("example", false, "print an env file documenting every setting at its default (deploy/env/jobbergate-agent.env.example)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *example {
		if err := writeEnvExample(env.stdout); err != nil {
			fmt.Fprintf(env.stderr, "config: %v\n", err)
			return 1
		}
		return 0
	}
	s, err := env.load()
	env.printWarnings()
	var problems config.Problems
	if err != nil && !errors.As(err, &problems) {
		fmt.Fprintln(env.stderr, err)
		return exitConfig
	}
	entries := config.Describe(s)
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		warnings := env.warnings
		if warnings == nil {
			warnings = []config.Warning{}
		}
		_ = enc.Encode(map[string]any{"settings": entries, "problems": problems, "warnings": warnings})
	} else {
		for _, e := range entries {
			fmt.Fprintf(env.stdout, "%s=%s\n", e.Name, e.Value)
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(env.stderr, "%d invalid setting(s):\n", len(problems))
		for _, p := range problems {
			fmt.Fprintln(env.stderr, p)
		}
		return exitConfig
	}
	return 0
}
