package health

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker/brokertest"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

const (
	testClientID = "cluster-health"
	testSecret   = "health-secret-never-logged"
	statusPath   = "/jobbergate/clusters/status"
)

func newAPIClient(t *testing.T, api *jobbergatetest.Server) *jobbergate.Client {
	t.Helper()
	tokens, err := jobbergate.NewTokenSource(jobbergate.TokenSourceOptions{
		TokenURL: jobbergate.OIDCTokenURL(api.OIDCDomain(), false), ClientID: testClientID,
		ClientSecret: testSecret, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := jobbergate.New(jobbergate.Options{BaseURL: api.URL(), Tokens: tokens, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// recorder wraps the API client and remembers when each successful status PUT happened.
type recorder struct {
	api StatusReporter
	mu  sync.Mutex
	at  []time.Time
}

func (r *recorder) ReportStatus(ctx context.Context, interval time.Duration) error {
	err := r.api.ReportStatus(ctx, interval)
	if err == nil {
		r.mu.Lock()
		r.at = append(r.at, time.Now())
		r.mu.Unlock()
	}
	return err
}

func (r *recorder) times() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.at)
}

// startAgent runs one agent's health path (a bridge poller publishing ticks and a runner on
// the shared HEALTH consumer) on its own connection; the returned stop ends both.
func startAgent(t *testing.T, b *broker.Broker, topo broker.Topology, api StatusReporter, interval time.Duration) (stop func()) {
	t.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(b.Server()))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The bridge polls five times per interval: repeats inside one interval must be deduplicated.
	poller := bridge.NewPoller(js, interval/5, testenv.Logger(t), NewSource(topo, interval, nil))
	cfg := consumers.ConfigFor(topo, topo.Health, 1)
	cfg.FetchWait = 100 * time.Millisecond
	runner := consumers.NewRunner(js, cfg, NewHandler(api, interval, testenv.Logger(t)), testenv.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = poller.Run(ctx) }()
	go func() { defer wg.Done(); _ = runner.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait(); nc.Close() }) }
	t.Cleanup(stop)
	return stop
}

// Two agents on one broker: the portal sees the cluster healthy and gets one status PUT per
// interval; after both stop it turns unhealthy within two intervals.
func TestTwoAgentsOneStatusPerInterval(t *testing.T) {
	const interval = time.Second
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	api.AddClient(jobbergatetest.Client{ID: testClientID, Secret: testSecret, Permissions: jobbergatetest.AgentScopes})
	b, topo := brokertest.Start(t, brokertest.Name("health-test"), brokertest.Prefix("JBG_HEALTH"))
	rec := &recorder{api: newAPIClient(t, api)}
	stopA := startAgent(t, b, topo, rec, interval)
	stopB := startAgent(t, b, topo, rec, interval)

	testenv.Eventually(t, 3*interval, func() bool {
		st, ok := api.ClusterStatus(testClientID)
		return ok && st.IsHealthy && st.Interval == 1
	}, "cluster healthy with interval 1")
	// Wait for six more PUTs: with one per interval they span at least four intervals.
	first := len(rec.times())
	testenv.Eventually(t, 15*interval, func() bool { return len(rec.times()) >= first+6 }, "six more status PUTs")
	at := rec.times()[first : first+6]
	if span := at[5].Sub(at[0]); span < 4*interval {
		t.Errorf("6 status PUTs within %s: more than one per interval (%v)", span, at)
	}
	if st, ok := api.ClusterStatus(testClientID); !ok || !st.IsHealthy {
		t.Errorf("cluster not healthy while two agents run: %+v", st)
	}
	if n, want := api.Calls(http.MethodPut, statusPath), len(rec.times()); n < want {
		t.Errorf("API saw %d status PUTs, recorder %d", n, want)
	}

	stopA()
	stopB()
	stopped := time.Now()
	testenv.Eventually(t, 2*interval+500*time.Millisecond, func() bool {
		st, _ := api.ClusterStatus(testClientID)
		return !st.IsHealthy
	}, "cluster unhealthy after both agents stopped")
	t.Logf("unhealthy %s after the agents stopped", time.Since(stopped).Round(10*time.Millisecond))
}

func msg(data string, delivered uint64) *consumers.Message {
	return &consumers.Message{Data: []byte(data), NumDelivered: delivered, MaxDeliver: 3}
}

// Decisions of the health handler against the development API's answers.
func TestHandlerDecisions(t *testing.T) {
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	api.AddClient(jobbergatetest.Client{ID: testClientID, Secret: testSecret, Permissions: jobbergatetest.AgentScopes})
	h := NewHandler(newAPIClient(t, api), 30*time.Second, testenv.Logger(t))
	ctx := context.Background()

	if d := h.Handle(ctx, msg(`{"interval_seconds":7}`, 1)); !d.IsAck() {
		t.Fatalf("healthy API: %v", d)
	}
	if st, _ := api.ClusterStatus(testClientID); st.Interval != 7 {
		t.Errorf("reported interval %d, want the tick's 7", st.Interval)
	}
	if d := h.Handle(ctx, msg(`garbage`, 1)); !d.IsAck() {
		t.Fatalf("tick without payload: %v", d)
	}
	if st, _ := api.ClusterStatus(testClientID); st.Interval != 30 {
		t.Errorf("reported interval %d, want the handler's 30", st.Interval)
	}
	api.FailNext(http.MethodPut, statusPath, http.StatusServiceUnavailable, 3)
	if d := h.Handle(ctx, msg(`{}`, 1)); !d.IsRetry() {
		t.Errorf("503: %v, want retry", d)
	}
	api.FailNext(http.MethodPut, statusPath, http.StatusServiceUnavailable, 3)
	if d := h.Handle(ctx, msg(`{}`, 3)); !d.IsTerminate() || !strings.Contains(d.Reason(), "503") {
		t.Errorf("503 on the last delivery: %v, want terminate with the reason", d)
	}
	api.FailNext(http.MethodPut, statusPath, http.StatusForbidden, 1)
	if d := h.Handle(ctx, msg(`{}`, 1)); !d.IsTerminate() || !strings.Contains(d.Reason(), "HTTP 403") || !strings.Contains(d.Reason(), "injected failure") {
		t.Errorf("403: %v, want terminate with the detail", d)
	}
}

// logBuffer collects log output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Against the current API (no endpoints): three DELETEs a day, one info line, no error.
func TestGarbageCollectorAgainstCurrentAPI(t *testing.T) {
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	api.AddClient(jobbergatetest.Client{ID: testClientID, Secret: testSecret, Permissions: jobbergatetest.AgentScopes})
	var logs logBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The stand-in fires at once and only counts the pauses: it must never block the collector,
	// which loops as fast as the test server answers until the test cancels it (a send on a
	// buffered channel nobody reads blocked it once the buffer was full, and the test waited on
	// <-done for ever whenever the collector was fast enough, as it is without -race).
	var pauseWaits atomic.Int64
	after := func(d time.Duration) <-chan time.Time {
		if d == time.Minute {
			pauseWaits.Add(1)
		}
		c := make(chan time.Time, 1)
		c <- time.Now()
		return c
	}
	gc, err := NewGarbageCollector(newAPIClient(t, api), GCOptions{Hour: 3, Pause: time.Minute, After: after, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = gc.Run(ctx) }()
	// Two days: 2 x (wait for 03:00 + 3 pauses).
	testenv.Eventually(t, 5*time.Second, func() bool { return api.Calls(http.MethodDelete, "/jobbergate/") >= 6 }, "two days of calls")
	cancel()
	<-done
	for _, ep := range jobbergate.GCEndpoints {
		if n := api.Calls(http.MethodDelete, string(ep)); n < 2 {
			t.Errorf("%s called %d times, want once a day", ep, n)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "garbage-collection endpoint not found"); n != 1 {
		t.Errorf("%d info lines about missing endpoints, want 1:\n%s", n, out)
	}
	if strings.Contains(out, "level=ERROR") || strings.Contains(out, testSecret) {
		t.Errorf("error or secret logged:\n%s", out)
	}
	pauses := pauseWaits.Load()
	if pauses < 6 {
		t.Errorf("%d pauses before calls, want one per call", pauses)
	}
}

// Against an API that has the endpoints: each is called, successes logged; other failures are
// returned and logged as errors; ShouldRun false skips the day.
func TestGarbageCollectorAgainstOldAPI(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "clean-unused-entries") {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c, err := jobbergate.New(jobbergate.Options{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	gc, err := NewGarbageCollector(c, GCOptions{Hour: 0, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = gc.RunOnce(context.Background())
	if !jobbergate.IsStatus(err, http.StatusInternalServerError) {
		t.Errorf("RunOnce: %v, want the 500 of clean-unused-entries", err)
	}
	want := []string{"DELETE " + string(jobbergate.GCTemplateFiles), "DELETE " + string(jobbergate.GCScriptFiles), "DELETE " + string(jobbergate.GCUnusedEntries)}
	if !slices.Equal(paths, want) {
		t.Errorf("calls %v, want %v", paths, want)
	}

	ticks := 0
	ctx, cancel := context.WithCancel(context.Background())
	skip, err := NewGarbageCollector(c, GCOptions{Hour: 0, ShouldRun: func() bool { return false }, Logger: testenv.Logger(t),
		After: func(time.Duration) <-chan time.Time {
			ticks++
			if ticks > 3 {
				cancel()
			}
			ch := make(chan time.Time, 1)
			ch <- time.Now()
			return ch
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	paths = nil
	mu.Unlock()
	_ = skip.Run(ctx)
	if len(paths) != 0 {
		t.Errorf("a skipped day called %v", paths)
	}
}

func TestGarbageCollectorSchedule(t *testing.T) {
	if _, err := NewGarbageCollector(nil, GCOptions{Hour: 24}); err == nil {
		t.Error("hour 24 accepted")
	}
	gc, _ := NewGarbageCollector(nil, GCOptions{Hour: 3})
	loc := time.FixedZone("X", 3600)
	tests := []struct{ now, want time.Time }{
		{time.Date(2026, 1, 1, 2, 59, 0, 0, loc), time.Date(2026, 1, 1, 3, 0, 0, 0, loc)},
		{time.Date(2026, 1, 1, 3, 0, 0, 0, loc), time.Date(2026, 1, 2, 3, 0, 0, 0, loc)},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, loc), time.Date(2027, 1, 1, 3, 0, 0, 0, loc)},
	}
	for _, tt := range tests {
		if got := gc.Next(tt.now); !got.Equal(tt.want) {
			t.Errorf("Next(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
}
