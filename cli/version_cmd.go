package cli

import (
	"context"
	"fmt"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/buildinfo"
)

func versionCmd(_ context.Context, env *cliEnv, _ []string) int {
	fmt.Fprintf(env.stdout, "jobbergate-agent %s", buildinfo.Version)
	if c := buildinfo.Commit(); c != "" {
		fmt.Fprintf(env.stdout, " (commit %.12s)", c)
	}
	fmt.Fprintf(env.stdout, " %s\n", buildinfo.GoVersion())
	return 0
}
