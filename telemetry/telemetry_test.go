package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker/brokertest"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

func scrape(t *testing.T, s *Server) string {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

func TestCallName(t *testing.T) {
	for path, want := range map[string]string{
		"/realms/x/protocol/openid-connect/token":               "token",
		"/jobbergate/job-submissions/agent/pending":             "pending",
		"/jobbergate/job-submissions/agent/active":              "active",
		"/jobbergate/job-submissions/agent/submitted":           "submitted",
		"/jobbergate/job-submissions/agent/rejected":            "rejected",
		"/jobbergate/job-submissions/agent/42":                  "update",
		"/jobbergate/job-submissions/agent/metrics/42":          "metrics",
		"/jobbergate/job-scripts/7/upload/job.sh":               "file",
		"/jobbergate/clusters/status":                           "cluster_status",
		"/jobbergate/openapi.json":                              "openapi",
		"/jobbergate/job-scripts/upload/garbage-collector":      "other",
		"/prefix/jobbergate/job-submissions/agent/metrics/1234": "metrics",
	} {
		if got := CallName(path); got != want {
			t.Errorf("CallName(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestMiddlewareAndRoundTripperRecord(t *testing.T) {
	m := New()
	decisions := []consumers.Decision{consumers.Ack(), consumers.Retry(errors.New("later")), consumers.Terminate("bad"), consumers.Ack()}
	i := 0
	h := m.Middleware("submit")(consumers.HandlerFunc(func(context.Context, *consumers.Message) consumers.Decision {
		d := decisions[i]
		i++
		return d
	}))
	for range decisions {
		h.Handle(context.Background(), &consumers.Message{})
	}
	b := m.WrapBatch("update", consumers.BatchHandlerFunc(func(_ context.Context, msgs []*consumers.Message) []consumers.Decision {
		return []consumers.Decision{consumers.Ack(), consumers.Ack(), consumers.Terminate("409")}
	}))
	b.HandleBatch(context.Background(), make([]*consumers.Message, 3))

	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/pending") {
			w.WriteHeader(503)
		}
	}))
	defer api.Close()
	client := &http.Client{Transport: m.RoundTripper(nil)}
	for _, p := range []string{"/jobbergate/job-submissions/agent/pending", "/jobbergate/job-submissions/agent/9"} {
		resp, err := client.Get(api.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	m.ObserveSbatch(30*time.Millisecond, nil)
	m.AddInfluxPoints(120)
	m.AddUploadChunks(2, 1)

	out := scrape(t, NewServer(m, testenv.Logger(t)))
	for _, want := range []string{
		`jobbergate_agent_messages_total{consumer="submit",outcome="ack"} 2`,
		`jobbergate_agent_messages_total{consumer="submit",outcome="retry"} 1`,
		`jobbergate_agent_messages_total{consumer="submit",outcome="terminate"} 1`,
		`jobbergate_agent_messages_total{consumer="update",outcome="ack"} 2`,
		`jobbergate_agent_messages_total{consumer="update",outcome="terminate"} 1`,
		`jobbergate_agent_handler_seconds_count{consumer="update"} 1`,
		`jobbergate_agent_api_request_seconds_count{call="pending",code="503"} 1`,
		`jobbergate_agent_api_request_seconds_count{call="update",code="200"} 1`,
		`jobbergate_agent_sbatch_seconds_count{result="ok"} 1`,
		`jobbergate_agent_influx_points_read_total 120`,
		`jobbergate_agent_metric_upload_chunks_total{result="error"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	h := m.Middleware("x")(consumers.HandlerFunc(func(context.Context, *consumers.Message) consumers.Decision { return consumers.Ack() }))
	if !h.Handle(context.Background(), &consumers.Message{}).IsAck() {
		t.Fatal("the wrapped handler's decision must pass through")
	}
	m.ObserveSbatch(time.Second, nil)
	if m.RoundTripper(nil) != http.DefaultTransport {
		t.Error("nil metrics must not wrap the transport")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	s := NewServer(nil, testenv.Logger(t))
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	ready := false
	s.AddCheck("nats", func(context.Context) error {
		if !ready {
			return errors.New("not connected")
		}
		return nil
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "not connected") {
		t.Errorf("/readyz before ready: %d %s", code, body)
	}
	ready = true
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"nats":"ok"`) {
		t.Errorf("/readyz when ready: %d %s", code, body)
	}
	if code, _ := get("/metrics"); code != 404 {
		t.Errorf("/metrics without metrics: want 404, got %d", code)
	}
}

func TestQueueGaugesReadJetStream(t *testing.T) {
	b, topo := brokertest.Start(t, brokertest.Prefix("JBG_TEL"))
	ctx := context.Background()
	for _, id := range []string{"1", "2", "3"} {
		if _, err := b.JS.Publish(ctx, topo.Submit.Subject(id), []byte("{}"), jetstream.WithMsgID("s-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	m := New()
	if err := m.RegisterQueues(b.JS, topo); err != nil {
		t.Fatal(err)
	}
	out := scrape(t, NewServer(m, testenv.Logger(t)))
	for _, want := range []string{
		`jobbergate_agent_queue_waiting_messages{queue="submit"} 3`,
		`jobbergate_agent_queue_waiting_messages{queue="update"} 0`,
		`jobbergate_agent_queue_inflight_messages{queue="submit"} 0`,
		`jobbergate_agent_dead_letters 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestDebugMeasureLogsTimeAndMemory(t *testing.T) {
	var buf strings.Builder
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := DebugMeasure(logger, "submit")(consumers.HandlerFunc(func(context.Context, *consumers.Message) consumers.Decision {
		sink = make([]byte, 1<<20) // allocate 1 MiB
		time.Sleep(5 * time.Millisecond)
		return consumers.Ack()
	}))
	msg := &consumers.Message{Header: map[string][]string{"Jbg-Submission-Id": {"42"}}}
	if !h.Handle(context.Background(), msg).IsAck() {
		t.Fatal("decision must pass through")
	}
	out := buf.String()
	for _, want := range []string{"handler measured", "consumer=submit", "submission_id=42", "elapsed="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
	var allocated uint64
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "allocated_bytes="); ok {
			allocated, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	if allocated < 1<<20 {
		t.Errorf("allocated_bytes = %d, want at least the handler's 1 MiB", allocated)
	}

	buf.Reset()
	quiet := DebugMeasure(slog.New(slog.NewTextHandler(&buf, nil)), "submit")(consumers.HandlerFunc(func(context.Context, *consumers.Message) consumers.Decision {
		return consumers.Ack()
	}))
	quiet.Handle(context.Background(), msg)
	if buf.Len() != 0 {
		t.Errorf("at info level nothing is logged, got %q", buf.String())
	}
}

var sink []byte
