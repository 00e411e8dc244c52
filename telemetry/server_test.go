package telemetry

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// TestServeRetriesATakenPort: a port another process holds is a warning, not an error; the
// server binds once the port is free.
func TestServeRetriesATakenPort(t *testing.T) {
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	addr := other.Addr().String()
	var logs testenv.SyncBuffer
	s := NewServer(nil, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	s.Serve(addr, 5*time.Millisecond, 20*time.Millisecond)
	defer s.Stop(context.Background())

	if s.Addr() != "" {
		t.Fatalf("listening on %s while another listener holds it", s.Addr())
	}
	warn := "level=WARN msg=\"metrics and health endpoints cannot listen; the agent runs without them and retries\" addr=" + addr
	if !strings.Contains(logs.String(), warn) || !strings.Contains(logs.String(), "address already in use") {
		t.Errorf("no warning naming the address and the error:\n%s", logs.String())
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "level=DEBUG msg=\"metrics and health endpoints still cannot listen\"")
	},
		"no retry logged")
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want one (a retry that fails the same way is DEBUG):\n%s", n, logs.String())
	}

	other.Close()
	testenv.Eventually(t, 10*time.Second, func() bool { return s.Addr() == addr }, "the server did not bind the freed port:\n%s", logs.String())
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), `msg="metrics and health endpoints listening" addr=`+addr) {
		t.Errorf("the bind is not logged:\n%s", logs.String())
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("the server still answers after Stop")
	}
}

// TestStopEndsTheRetries: Stop while the port is taken ends the retries; the server never binds.
func TestStopEndsTheRetries(t *testing.T) {
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := other.Addr().String()
	s := NewServer(nil, testenv.Logger(t))
	s.Serve(addr, time.Millisecond, time.Millisecond)
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if s.Addr() != "" {
		t.Errorf("bound %s after Stop", s.Addr())
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
}
