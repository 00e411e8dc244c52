package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// agentEnv returns the settings of an embedded agent talking to the development API.
func agentEnv(t *testing.T, api *jobbergatetest.Server, roles string) []string {
	t.Helper()
	api.AddClient(jobbergatetest.Client{ID: "cluster-test", Secret: "s3cret", Permissions: jobbergatetest.AgentScopes})
	return []string{
		"JOBBERGATE_AGENT_BASE_API_URL=" + api.URL(),
		"JOBBERGATE_AGENT_OIDC_DOMAIN=" + api.OIDCDomain(),
		"JOBBERGATE_AGENT_OIDC_USE_HTTPS=false",
		"JOBBERGATE_AGENT_OIDC_CLIENT_ID=cluster-test",
		"JOBBERGATE_AGENT_OIDC_CLIENT_SECRET=s3cret",
		"JOBBERGATE_AGENT_CACHE_DIR=" + t.TempDir(),
		"JOBBERGATE_AGENT_NATS_LISTEN=127.0.0.1:0",
		"JOBBERGATE_AGENT_METRICS_LISTEN=127.0.0.1:0",
		"JOBBERGATE_AGENT_ROLES=" + roles,
		"JOBBERGATE_AGENT_LOG_LEVEL=debug",
	}
}

func TestRunStartsAndStopsCleanly(t *testing.T) {
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	env := agentEnv(t, api, "bridge")
	var stderr testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"--env-file", "none", "run"}, env, &bytes.Buffer{}, &stderr)
	}()
	testenv.Eventually(t, 30*time.Second, func() bool { return strings.Contains(stderr.String(), "agent started") },
		"the agent did not start:\n%s", agentLog(&stderr))
	// The telemetry endpoint answers while the agent runs.
	addr := regexp.MustCompile(`metrics and health endpoints listening.* addr=(\S+)`).FindStringSubmatch(stderr.String())
	if addr == nil {
		t.Fatalf("no telemetry address in the log:\n%s", agentLog(&stderr))
	}
	for path, want := range map[string]string{"/readyz": `"nats":"ok"`, "/metrics": `jobbergate_agent_queue_waiting_messages{queue="submit"} 0`, "/healthz": "ok"} {
		resp, err := http.Get("http://" + addr[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, want %q in:\n%.500s", path, resp.StatusCode, want, body)
		}
	}
	cancel() // what SIGTERM does
	stoppedCleanly(t, done, &stderr)
	out := stderr.String()
	for _, want := range []string{"Starting Jobbergate-agent", "streams and buckets ready", "Jobbergate-agent is shutting down...", "embedded nats-server stopped", "Jobbergate-agent has been stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Error("the client secret appears in the log")
	}
}

func TestRunRefusesInvalidSettings(t *testing.T) {
	code, _, stderr := run(t, []string{"JOBBERGATE_AGENT_SCANCEL_PATH=scancel", "JOBBERGATE_AGENT_ROLES=poller"}, "run")
	if code != exitConfig {
		t.Fatalf("want exit %d, got %d", exitConfig, code)
	}
	for _, want := range []string{"2 invalid setting(s)", "JOBBERGATE_AGENT_SCANCEL_PATH", "JOBBERGATE_AGENT_ROLES"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestRunStopRequestedWhileStarting: SIGTERM while the agent still waits for its NATS servers is
// a requested stop (exit 0, said as such, no ERROR record for Sentry), not a failed start.
func TestRunStopRequestedWhileStarting(t *testing.T) {
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there: start waits for NATS
	env := append(agentEnv(t, api, "bridge"), "JOBBERGATE_AGENT_NATS_URL=nats://"+closed)
	var stderr testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"--env-file", "none", "run"}, env, &bytes.Buffer{}, &stderr) }()
	testenv.Eventually(t, 30*time.Second, func() bool { return strings.Contains(stderr.String(), "nats connect attempt failed") },
		"the agent is not waiting for NATS:\n%s", agentLog(&stderr))
	cancel()
	stoppedCleanly(t, done, &stderr)
	out := stderr.String()
	if !strings.Contains(out, "stop requested while starting") || strings.Contains(out, "level=ERROR") || strings.Contains(out, "agent started") {
		t.Errorf("the log does not say a stop was requested while starting:\n%s", out)
	}
}

// agentLog shows an agent's log in a failure message, read when the message is formatted and
// without the DEBUG lines, whose fx wiring would hide the cause.
func agentLog(buf *testenv.SyncBuffer) testenv.Lazy {
	return func() string {
		var keep []string
		for _, line := range strings.Split(buf.String(), "\n") {
			if !strings.Contains(line, "level=DEBUG") {
				keep = append(keep, line)
			}
		}
		return strings.Join(keep, "\n")
	}
}

// stoppedCleanly waits for the exit code of a `run` told to stop (its context cancelled) and
// fails the test unless it is 0 within 60 s.
func stoppedCleanly(t *testing.T, done <-chan int, log *testenv.SyncBuffer) {
	t.Helper()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d:\n%s", code, agentLog(log))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the agent did not stop within 60 s of SIGTERM")
	}
}
