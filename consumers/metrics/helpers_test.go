package metrics

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker/brokertest"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

const (
	testClientID = "cluster-metrics"
	testSecret   = "metrics-secret-never-logged"
	metricsPath  = "/jobbergate/job-submissions/agent/metrics/"
	cycleLen     = time.Minute
)

// newAPI starts a development API with the agent's client and returns a client of it that
// tries each call at most twice.
func newAPI(t testing.TB) (*jobbergatetest.Server, *jobbergate.Client) {
	t.Helper()
	return newAPIRetry(t, jobbergate.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
}

// newAPIRetry is newAPI with the client's retry policy.
func newAPIRetry(t testing.TB, retry jobbergate.RetryPolicy) (*jobbergatetest.Server, *jobbergate.Client) {
	t.Helper()
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	api.AddClient(jobbergatetest.Client{ID: testClientID, Secret: testSecret, Permissions: jobbergatetest.AgentScopes})
	return api, newClient(t, api, api.URL(), retry)
}

// newClient returns a client of api, reached at base, with the agent's credentials.
func newClient(t testing.TB, api *jobbergatetest.Server, base string, retry jobbergate.RetryPolicy) *jobbergate.Client {
	t.Helper()
	tokens, err := jobbergate.NewTokenSource(jobbergate.TokenSourceOptions{
		TokenURL: jobbergate.OIDCTokenURL(api.OIDCDomain(), false), ClientID: testClientID,
		ClientSecret: testSecret, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	client, err := jobbergate.New(jobbergate.Options{BaseURL: base, Tokens: tokens, Timeout: 10 * time.Second, Retry: retry})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// addSubmission seeds a submission of this cluster with a Slurm job id (0: none).
func addSubmission(api *jobbergatetest.Server, status string, slurmID int) int {
	sub := jobbergatetest.Submission{Name: "metrics", OwnerEmail: "alice@example.com", ClientID: testClientID, Status: status}
	if slurmID != 0 {
		sub.SlurmJobID = &slurmID
	}
	return api.AddSubmission(sub)
}

// memSource is an in-memory influx.Source: points per job, with injectable failures.
type memSource struct {
	mu      sync.Mutex
	points  map[string][]influx.Point
	err     error // returned by Series and Query when set
	queries []query
}

// query is one Query call: the measurement and the time after which points were asked for.
type query struct {
	m     int
	after int64
}

func newMemSource() *memSource { return &memSource{points: map[string][]influx.Point{}} }

func (m *memSource) add(job string, pts ...influx.Point) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.points[job] = append(m.points[job], pts...)
}

func (m *memSource) setErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

func (m *memSource) Series(_ context.Context, job string) ([]influx.SeriesSpan, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	type key struct {
		m             int
		host, st, tsk string
	}
	spans := map[key]*influx.SeriesSpan{}
	for _, p := range m.points[job] {
		k := key{p.Measurement, p.Host, p.Step, p.Task}
		s, ok := spans[k]
		if !ok {
			s = &influx.SeriesSpan{Measurement: p.Measurement, Host: p.Host, Step: p.Step, Task: p.Task, First: p.Time, Last: p.Time}
			spans[k] = s
		}
		s.First, s.Last = min(s.First, p.Time), max(s.Last, p.Time)
	}
	out := make([]influx.SeriesSpan, 0, len(spans))
	for _, s := range spans {
		out = append(out, *s)
	}
	return out, nil
}

func (m *memSource) Query(_ context.Context, job string, measurement int, after int64) (influx.Stream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	m.queries = append(m.queries, query{measurement, after})
	var pts []influx.Point
	for _, p := range m.points[job] {
		if p.Measurement == measurement && (after == influx.All || p.Time > after) {
			pts = append(pts, p)
		}
	}
	slices.SortStableFunc(pts, func(a, b influx.Point) int { return cmp.Compare(a.Time, b.Time) })
	return &memStream{pts: pts}, nil
}

func (m *memSource) Ping(context.Context) (string, error) { return "mem", nil }
func (m *memSource) Close() error                         { return nil }

// queried returns the Query calls so far and forgets them.
func (m *memSource) queried() []query {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queries
	m.queries = nil
	return q
}

// memStream hands out its points in batches of 7, so that merges cross batch boundaries.
type memStream struct {
	pts []influx.Point
}

func (s *memStream) Next() ([]influx.Point, error) {
	if len(s.pts) == 0 {
		return nil, io.EOF
	}
	n := min(7, len(s.pts))
	batch := s.pts[:n]
	s.pts = s.pts[n:]
	return batch, nil
}

func (s *memStream) Close() error { return nil }

// samples returns the points of one (host, step, task) series of a job from t0 to t1 inclusive:
// CPUTime 1 and RSS 1000+t-t0 each second.
func samples(host, step, task string, t0, t1 int64) []influx.Point {
	cpu, _ := influx.MeasurementIndex("CPUTime")
	rss, _ := influx.MeasurementIndex("RSS")
	var out []influx.Point
	for ts := t0; ts <= t1; ts++ {
		out = append(out,
			influx.Point{Time: ts, Host: host, Step: step, Task: task, Measurement: cpu, Value: 1},
			influx.Point{Time: ts, Host: host, Step: step, Task: task, Measurement: rss, Value: float64(1000 + ts - t0)})
	}
	return out
}

// message builds the consumers.Message of a job, as delivery n of at most maxDeliver.
func message(subID, slurmID int, n uint64, maxDeliver int) *consumers.Message {
	return &consumers.Message{
		Subject:      "jbg_met.metrics." + fmt.Sprint(subID),
		Data:         fmt.Appendf(nil, `{"submission_id":%d,"slurm_job_id":%d}`, subID, slurmID),
		NumDelivered: n, MaxDeliver: maxDeliver,
	}
}

// env is one agent's metrics path on an embedded broker against the development API.
type env struct {
	api     *jobbergatetest.Server
	client  *jobbergate.Client
	b       *broker.Broker
	topo    broker.Topology
	clock   *testenv.Clock
	poller  *bridge.Poller
	handler *Handler
	runner  *consumers.Runner
}

func newEnv(t testing.TB, src influx.Source) *env {
	t.Helper()
	api, client := newAPI(t)
	b, topo := brokertest.Start(t, brokertest.Name("metrics-test"), brokertest.Prefix("JBG_MET"), brokertest.Limits(func(l *broker.Limits) {
		l.MaxDeliver = 3
		l.AckWait = 10 * time.Second
	}))
	clk := testenv.NewClock(time.Unix(1_800_000_000, 0))
	h, err := NewHandler(Options{Source: src, API: client, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{api: api, client: client, b: b, topo: topo, clock: clk, handler: h,
		poller: bridge.NewPoller(b.JS, cycleLen, testenv.Logger(t),
			NewSource(client, topo, SourceOptions{Interval: cycleLen, Now: clk.Now}))}
	cfg := consumers.ConfigFor(topo, topo.Metrics, 4)
	cfg.FetchWait = 100 * time.Millisecond
	cfg.Backoff = consumers.Backoff{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond}
	e.runner = consumers.NewRunner(b.JS, cfg, h, testenv.Logger(t))
	return e
}

// start runs the metrics runner until the test ends.
func (e *env) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// cycle moves to the next cycle and publishes it.
func (e *env) cycle(t testing.TB) bridge.CycleStats {
	t.Helper()
	e.clock.Advance(cycleLen)
	st := e.poller.Cycle(context.Background())
	if st.SourceErrors > 0 || st.Failed > 0 {
		t.Fatalf("bridge cycle failed: %+v", st)
	}
	return st
}

func (e *env) streamMsgs(t testing.TB, name string) uint64 {
	t.Helper()
	return brokertest.StreamMsgs(t, e.b.JS, name)
}

// runCycle publishes one cycle and waits until the METRICS queue is empty again.
func (e *env) runCycle(t testing.TB) bridge.CycleStats {
	t.Helper()
	st := e.cycle(t)
	testenv.Eventually(t, 60*time.Second, func() bool { return e.streamMsgs(t, e.topo.Metrics.Stream) == 0 },
		"METRICS queue drained")
	return st
}

// deadLetters returns the dead letters' reasons by submission id.
func (e *env) deadLetters(t testing.TB) map[string]string {
	t.Helper()
	return brokertest.DeadLetters(t, e.b.JS, e.topo.Dead)
}
