package cli

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// TestMetricsPortTaken: a second agent on a host finds METRICS_LISTEN's port taken (here by a
// real listener). The agent starts and runs anyway, saying so at WARN with the address; once the
// port is free, /readyz comes up on it.
func TestMetricsPortTaken(t *testing.T) {
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	addr := other.Addr().String()
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	env := append(agentEnv(t, api, "bridge,health"), "JOBBERGATE_AGENT_METRICS_LISTEN="+addr)
	a := startAgent(t, env)

	warned := false
	for _, line := range strings.Split(a.logs.String(), "\n") {
		warned = warned || strings.Contains(line, `level=WARN msg="metrics and health endpoints cannot listen; the agent runs without them and retries"`) &&
			strings.Contains(line, " addr="+addr+" ") && strings.Contains(line, "address already in use")
	}
	if !warned {
		t.Fatalf("no warning naming %s:\n%s", addr, a.logs.String())
	}
	select {
	case code := <-a.done:
		t.Fatalf("the agent exited (%d) with its metrics port taken", code)
	default:
	}

	other.Close()
	var body string
	testenv.Eventually(t, 40*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	}, "/readyz did not come up on %s once free: %s", addr, body)
	if !strings.Contains(body, `"nats":"ok"`) || !strings.Contains(body, `"started":"ok"`) {
		t.Errorf("/readyz: %s", body)
	}
	if got := a.logValue("metrics and health endpoints listening", "addr"); got != addr {
		t.Errorf("the bind is logged with addr %q, want %s", got, addr)
	}
	if code := a.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}
