package cli

import (
	"strings"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// TestInvalidSentryDSNDoesNotStopTheAgent: a SENTRY_DSN Sentry cannot use is said at start, and
// the agent runs without error reporting.
func TestInvalidSentryDSNDoesNotStopTheAgent(t *testing.T) {
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	env := append(agentEnv(t, api, "bridge"), "JOBBERGATE_AGENT_SENTRY_DSN=not-a-dsn")
	a := startAgent(t, env)
	if !strings.Contains(a.logs.String(), `level=WARN msg="errors are not sent to Sentry"`) {
		t.Errorf("no warning about the DSN:\n%s", a.logs.String())
	}
	if strings.Contains(a.logs.String(), "not-a-dsn") {
		t.Error("the DSN (it holds the project key) reached the log")
	}
	if code := a.stop(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}
