package influx_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// memSource is an in-memory Source: points per measurement, in time order.
type memSource struct {
	mu      sync.Mutex
	points  [10][]influx.Point
	queries []query
}

type query struct {
	m     int
	after int64
}

func (s *memSource) add(p influx.Point) { s.points[p.Measurement] = append(s.points[p.Measurement], p) }

func (s *memSource) Series(context.Context, string) ([]influx.SeriesSpan, error) {
	type key struct {
		m                int
		host, step, task string
	}
	idx := map[key]int{}
	var out []influx.SeriesSpan
	for mi, ps := range s.points {
		for _, p := range ps {
			k := key{mi, p.Host, p.Step, p.Task}
			i, ok := idx[k]
			if !ok {
				i = len(out)
				idx[k] = i
				out = append(out, influx.SeriesSpan{Measurement: mi, Host: p.Host, Step: p.Step, Task: p.Task, First: p.Time, Last: p.Time})
			}
			out[i].First, out[i].Last = min(out[i].First, p.Time), max(out[i].Last, p.Time)
		}
	}
	return out, nil
}

func (s *memSource) Query(_ context.Context, _ string, mi int, after int64) (influx.Stream, error) {
	s.mu.Lock()
	s.queries = append(s.queries, query{mi, after})
	s.mu.Unlock()
	var sel []influx.Point
	for _, p := range s.points[mi] {
		if after == influx.All || p.Time > after {
			sel = append(sel, p)
		}
	}
	st := &sliceStream{}
	for len(sel) > 0 {
		n := min(7, len(sel))
		st.batches = append(st.batches, sel[:n])
		sel = sel[n:]
	}
	return st, nil
}

func (s *memSource) Ping(context.Context) (string, error) { return "mem", nil }
func (s *memSource) Close() error                         { return nil }

// series adds CPUTime and RSS points of one series at the given times.
func (s *memSource) series(host, step string, times ...int64) {
	for _, t := range times {
		s.add(influx.Point{Time: t, Host: host, Step: step, Task: "0", Measurement: m("CPUTime"), Value: 1})
		s.add(influx.Point{Time: t, Host: host, Step: step, Task: "0", Measurement: m("RSS"), Value: 2})
	}
}

func (s *memSource) sortAll() {
	for i := range s.points {
		slices.SortStableFunc(s.points[i], func(a, b influx.Point) int { return int(a.Time - b.Time) })
	}
}

// TestSyncChunkRetries: a chunk whose upload fails with 503 is retried on its own (earlier
// chunks are not re-sent) and the sync completes; the chunk size never exceeds ChunkRows.
func TestSyncChunkRetries(t *testing.T) {
	src := &memSource{}
	src.series("h", "0", seq(1, 25)...)
	api := newDevAPI(t, 3, fastRetry)
	api.srv.FailNext(http.MethodPut, metricsPath, http.StatusServiceUnavailable, 2)
	res, err := influx.NewSyncer(src, api.client, nil, influx.SyncOptions{ChunkRows: 10, InitialBackoff: time.Millisecond}).
		Sync(context.Background(), api.subID, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 25 || res.Chunks != 3 || api.puts() != 5 {
		t.Fatalf("result %+v, %d PUTs (want 3 chunks + 2 retries)", res, api.puts())
	}
	if got := len(api.srv.Metrics(api.subID)); got != 25 {
		t.Fatalf("stored %d rows", got)
	}
}

// TestSyncChunkRejected: a 400 is final for its chunk: no retry, no later chunk, an error
// wrapping ErrChunkRejected with the reference's text; the rows before it stay stored and the
// next sync resumes right after them.
func TestSyncChunkRejected(t *testing.T) {
	src := &memSource{}
	src.series("h", "0", seq(1, 25)...)
	api := newDevAPI(t, 3, fastRetry)
	syncer := influx.NewSyncer(src, api.client, nil, influx.SyncOptions{ChunkRows: 10, InitialBackoff: time.Millisecond})
	api.srv.FailNext(http.MethodPut, metricsPath, http.StatusBadRequest, 1)
	res, err := syncer.Sync(context.Background(), api.subID, 3)
	if !errors.Is(err, influx.ErrChunkRejected) ||
		!strings.HasPrefix(err.Error(), "Could not update job metrics for slurm job 3 via the API -- ") {
		t.Fatalf("err = %v", err)
	}
	if res.Chunks != 0 || api.puts() != 1 {
		t.Fatalf("result %+v, %d PUTs: a rejected chunk must be neither retried nor followed", res, api.puts())
	}
	// Next cycle: everything goes.
	res, err = syncer.Sync(context.Background(), api.subID, 3)
	if err != nil || res.Rows != 25 || res.Chunks != 3 {
		t.Fatalf("retry cycle: %+v %v", res, err)
	}
}

// TestSyncResumesAfterPartialUpload: when a later chunk fails, the next sync sends only what
// is missing (each series' rows are a time prefix in the API).
func TestSyncResumesAfterPartialUpload(t *testing.T) {
	src := &memSource{}
	src.series("a", "0", seq(1, 12)...)
	src.series("b", "-5", seq(1, 12)...)
	src.sortAll()
	api := newDevAPI(t, 8, fastRetry)
	calls := 0
	flaky := &flakyAPI{MetricsAPI: api.client, fail: func() bool { calls++; return calls == 2 }}
	syncer := influx.NewSyncer(src, flaky, nil, influx.SyncOptions{ChunkRows: 5, Attempts: 1})
	if _, err := syncer.Sync(context.Background(), api.subID, 8); err == nil {
		t.Fatal("no error from the failed chunk")
	}
	if got := len(api.srv.Metrics(api.subID)); got != 5 {
		t.Fatalf("stored %d rows after the first chunk", got)
	}
	res, err := syncer.Sync(context.Background(), api.subID, 8)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 19 {
		t.Fatalf("resumed sync sent %d rows, want 19", res.Rows)
	}
	if got := len(storedRows(t, api.srv.Metrics(api.subID))); got != 24 {
		t.Fatalf("stored %d rows, want 24", got)
	}
}

type flakyAPI struct {
	influx.MetricsAPI
	fail func() bool
}

func (f *flakyAPI) PutMetrics(ctx context.Context, id int, rows []jobbergate.MetricRow) error {
	if f.fail() {
		return errors.New("connection reset")
	}
	return f.MetricsAPI.PutMetrics(ctx, id, rows)
}

// TestSyncFinishedSeriesDoNotHoldBack: a step that ended long ago (its max time far behind)
// does not drag the queries back to its time: only the active series' bound is used.
func TestSyncFinishedSeriesDoNotHoldBack(t *testing.T) {
	src := &memSource{}
	src.series("h", "0", seq(1, 3)...)     // finished early
	src.series("h", "-5", seq(1, 1000)...) // still running
	src.sortAll()
	api := newDevAPI(t, 4, fastRetry)
	syncer := influx.NewSyncer(src, api.client, nil, influx.SyncOptions{})
	if _, err := syncer.Sync(context.Background(), api.subID, 4); err != nil {
		t.Fatal(err)
	}
	src.series("h", "-5", 1001, 1002)
	src.queries = nil
	res, err := syncer.Sync(context.Background(), api.subID, 4)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 2 || res.PointsRead != 4 || res.ActiveSeries != 1 {
		t.Fatalf("result %+v", res)
	}
	for _, q := range src.queries {
		if q.after != 1000 {
			t.Fatalf("query %+v, want after=1000", q)
		}
	}
	if len(src.queries) != 2 {
		t.Fatalf("queries %+v: only CPUTime and RSS have data", src.queries)
	}
}

// TestSyncAPIErrors: a failing max-times call gives the reference's error and reads nothing.
func TestSyncAPIErrors(t *testing.T) {
	src := &memSource{}
	src.series("h", "0", 1)
	api := newDevAPI(t, 6, fastRetry)
	api.srv.FailNext(http.MethodGet, metricsPath, http.StatusBadRequest, 1)
	_, err := influx.NewSyncer(src, api.client, nil, influx.SyncOptions{}).Sync(context.Background(), api.subID, 6)
	if err == nil || !strings.HasPrefix(err.Error(), "Could not update job metrics for slurm job 6 via the API -- ") ||
		!jobbergate.IsStatus(err, http.StatusBadRequest) || len(src.queries) != 0 {
		t.Fatalf("err = %v, queries %v", err, src.queries)
	}
}

// TestSyncChunkRowsNeverAboveLimit: ChunkRows above the API's limit is clamped to 2,340.
func TestSyncChunkRowsNeverAboveLimit(t *testing.T) {
	src := &memSource{}
	src.series("h", "0", seq(1, 2341)...)
	api := newDevAPI(t, 2, fastRetry)
	res, err := influx.NewSyncer(src, api.client, nil, influx.SyncOptions{ChunkRows: 100_000}).Sync(context.Background(), api.subID, 2)
	if err != nil || res.Chunks != 2 || res.Rows != 2341 {
		t.Fatalf("%+v %v", res, err)
	}
}
