package metrics

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// fastRetry makes the API client try each call once.
var fastRetry = jobbergate.RetryPolicy{MaxAttempts: 1}

// devAPI is the development API with one SUBMITTED submission of this cluster.
type devAPI struct {
	srv    *jobbergatetest.Server
	client *jobbergate.Client
	subID  int
}

func newDevAPI(t testing.TB, slurmJobID int, retry jobbergate.RetryPolicy) *devAPI {
	t.Helper()
	srv, client := newAPIRetry(t, retry)
	return &devAPI{srv: srv, client: client, subID: addSubmission(srv, "SUBMITTED", slurmJobID)}
}

func (a *devAPI) puts() int { return a.srv.Calls(http.MethodPut, metricsPath) }

// TestSyncChunkRetries: a chunk whose upload fails with 503 is retried on its own by the API
// client (earlier chunks are not re-sent) and the sync completes; the chunk size never exceeds
// ChunkRows.
func TestSyncChunkRetries(t *testing.T) {
	src := newMemSource()
	src.add("3", samples("h", "0", "0", 1, 25)...)
	api := newDevAPI(t, 3, jobbergate.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	api.srv.FailNext(http.MethodPut, metricsPath, http.StatusServiceUnavailable, 2)
	res, err := NewSyncer(src, api.client, nil, SyncOptions{ChunkRows: 10}).
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
	src := newMemSource()
	src.add("3", samples("h", "0", "0", 1, 25)...)
	api := newDevAPI(t, 3, fastRetry)
	syncer := NewSyncer(src, api.client, nil, SyncOptions{ChunkRows: 10})
	api.srv.FailNext(http.MethodPut, metricsPath, http.StatusBadRequest, 1)
	res, err := syncer.Sync(context.Background(), api.subID, 3)
	if !errors.Is(err, ErrChunkRejected) ||
		!strings.HasPrefix(err.Error(), "Could not update job metrics for slurm job 3 via the API -- ") {
		t.Fatalf("err = %v", err)
	}
	if res.Chunks != 0 || api.puts() != 1 {
		t.Fatalf("result %+v, %d PUTs: a rejected chunk must be neither retried nor followed", res, api.puts())
	}
	var ce *ChunkError
	if !errors.As(err, &ce) || !ce.Rejected || ce.Rows != 10 || ce.First != 1 || ce.Last != 10 ||
		!jobbergate.IsStatus(err, http.StatusBadRequest) {
		t.Fatalf("chunk error %+v, want the first 10 rows (times 1 to 10) rejected with HTTP 400", ce)
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
	src := newMemSource()
	src.add("8", samples("a", "0", "0", 1, 12)...)
	src.add("8", samples("b", "-5", "0", 1, 12)...)
	api := newDevAPI(t, 8, fastRetry)
	calls := 0
	flaky := &flakyAPI{API: api.client, fail: func() bool { calls++; return calls == 2 }}
	syncer := NewSyncer(src, flaky, nil, SyncOptions{ChunkRows: 5})
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

// flakyAPI fails the uploads for which fail returns true, as a dropped connection would.
type flakyAPI struct {
	API
	fail func() bool
}

func (f *flakyAPI) PutMetrics(ctx context.Context, id int, rows []jobbergate.MetricRow) error {
	if f.fail() {
		return errors.New("connection reset")
	}
	return f.API.PutMetrics(ctx, id, rows)
}

// TestSyncFinishedSeriesDoNotHoldBack: a step that ended long ago (its max time far behind)
// does not drag the queries back to its time: only the active series' bound is used.
func TestSyncFinishedSeriesDoNotHoldBack(t *testing.T) {
	src := newMemSource()
	src.add("4", samples("h", "0", "0", 1, 3)...)     // finished early
	src.add("4", samples("h", "-5", "0", 1, 1000)...) // still running
	api := newDevAPI(t, 4, fastRetry)
	syncer := NewSyncer(src, api.client, nil, SyncOptions{})
	if _, err := syncer.Sync(context.Background(), api.subID, 4); err != nil {
		t.Fatal(err)
	}
	src.add("4", samples("h", "-5", "0", 1001, 1002)...)
	src.queried()
	res, err := syncer.Sync(context.Background(), api.subID, 4)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 2 || res.PointsRead != 4 || res.ActiveSeries != 1 {
		t.Fatalf("result %+v", res)
	}
	queries := src.queried()
	for _, q := range queries {
		if q.after != 1000 {
			t.Fatalf("query %+v, want after=1000", q)
		}
	}
	if len(queries) != 2 {
		t.Fatalf("queries %+v: only CPUTime and RSS have data", queries)
	}
}

// TestSyncAPIErrors: a failing max-times call gives the reference's error and reads nothing.
func TestSyncAPIErrors(t *testing.T) {
	src := newMemSource()
	src.add("6", samples("h", "0", "0", 1, 1)...)
	api := newDevAPI(t, 6, fastRetry)
	api.srv.FailNext(http.MethodGet, metricsPath, http.StatusBadRequest, 1)
	_, err := NewSyncer(src, api.client, nil, SyncOptions{}).Sync(context.Background(), api.subID, 6)
	if queries := src.queried(); err == nil || !strings.HasPrefix(err.Error(), "Could not update job metrics for slurm job 6 via the API -- ") ||
		!jobbergate.IsStatus(err, http.StatusBadRequest) || len(queries) != 0 {
		t.Fatalf("err = %v, queries %v", err, queries)
	}
}

// TestSyncChunkRowsNeverAboveLimit: ChunkRows above the API's limit is clamped to 2,340.
func TestSyncChunkRowsNeverAboveLimit(t *testing.T) {
	src := newMemSource()
	src.add("2", samples("h", "0", "0", 1, 2341)...)
	api := newDevAPI(t, 2, fastRetry)
	res, err := NewSyncer(src, api.client, nil, SyncOptions{ChunkRows: 100_000}).Sync(context.Background(), api.subID, 2)
	if err != nil || res.Chunks != 2 || res.Rows != 2341 {
		t.Fatalf("%+v %v", res, err)
	}
}
