package fxmodules

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// TestEveryRoleCombinationWires checks, without starting anything, that the dependency graph is
// complete for each way a site may split the roles across login nodes.
func TestEveryRoleCombinationWires(t *testing.T) {
	cases := []struct {
		roles string
		extra []string
	}{
		{"bridge,submit,update,metrics,health", nil},
		{"bridge,submit,update,metrics,health", []string{"JOBBERGATE_AGENT_INFLUX_DSN=influxdb://localhost:8086/slurm"}},
		{"bridge,metrics", []string{"JOBBERGATE_AGENT_INFLUX_FLUX_URL=http://localhost:8087"}},
		{"bridge", []string{"JOBBERGATE_AGENT_TASK_GARBAGE_COLLECTION_HOUR=3"}},
		{"submit", []string{"JOBBERGATE_AGENT_NATS_URL=nats://hub:4222", "JOBBERGATE_AGENT_SLURM_USER_MAPPER=command-mapper", "JOBBERGATE_AGENT_COMMAND_MAPPER_PATH=/usr/local/bin/map"}},
		{"update,health", []string{"JOBBERGATE_AGENT_TASK_SELF_UPDATE_INTERVAL_SECONDS=3600"}},
	}
	for _, c := range cases {
		t.Run(c.roles+" "+strings.Join(c.extra, " "), func(t *testing.T) {
			env := append([]string{"JOBBERGATE_AGENT_ROLES=" + c.roles, "JOBBERGATE_AGENT_CACHE_DIR=" + t.TempDir()}, c.extra...)
			s, err := config.Load(config.Source{Environ: env, Dotenv: "none"})
			if err != nil {
				t.Fatal(err)
			}
			logger := testenv.Logger(t)
			if err := fx.ValidateApp(fx.Supply(s, logger), fx.Provide(func() StartContext { return context.Background() }), Options(s), fx.NopLogger); err != nil {
				t.Fatalf("the graph does not wire: %v", err)
			}
		})
	}
}
