package metrics

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

func TestNewHandlerRequiresDependencies(t *testing.T) {
	_, client := newAPI(t)
	if _, err := NewHandler(Options{API: client}); !errors.Is(err, ErrNoSource) {
		t.Errorf("no source: %v, want ErrNoSource", err)
	}
	if _, err := NewHandler(Options{Source: newMemSource()}); !errors.Is(err, ErrNoAPI) {
		t.Errorf("no API: %v, want ErrNoAPI", err)
	}
}

func TestDecodeJob(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		ok         bool
	}{
		{"valid", `{"submission_id":3,"slurm_job_id":17}`, true},
		{"not json", `submission 3`, false},
		{"missing slurm id", `{"submission_id":3}`, false},
		{"null slurm id", `{"submission_id":3,"slurm_job_id":null}`, false},
		{"zero submission", `{"submission_id":0,"slurm_job_id":17}`, false},
		{"negative slurm id", `{"submission_id":3,"slurm_job_id":-2}`, false},
		{"string id", `{"submission_id":"3","slurm_job_id":17}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := DecodeJob([]byte(tc.data))
			if tc.ok && (err != nil || j != (Job{SubmissionID: 3, SlurmJobID: 17})) {
				t.Fatalf("DecodeJob: %+v, %v", j, err)
			}
			if !tc.ok && !errors.Is(err, ErrBadJob) {
				t.Fatalf("DecodeJob: %+v, %v; want ErrBadJob", j, err)
			}
		})
	}
}

// handlerFixture is a handler over an in-memory source and the development API, with one
// SUBMITTED submission whose job has 20 s of samples of two series.
type handlerFixture struct {
	api     *jobbergatetest.Server
	src     *memSource
	h       *Handler
	clock   *testenv.Clock
	sub     int
	points  atomic.Int64
	okPuts  atomic.Int64
	badPuts atomic.Int64
}

const fixtureJob = 4242

func newHandlerFixture(t *testing.T, tune func(*Options)) *handlerFixture {
	t.Helper()
	api, client := newAPI(t)
	f := &handlerFixture{api: api, src: newMemSource(), clock: testenv.NewClock(time.Unix(1_800_000_000, 0))}
	f.src.add("4242", samples("vm", "-5", "0", 1000, 1019)...)
	f.src.add("4242", samples("vm", "0", "0", 1005, 1014)...)
	f.sub = addSubmission(api, "SUBMITTED", fixtureJob)
	opts := Options{Source: f.src, API: client, Now: f.clock.Now, Logger: testenv.Logger(t),
		OnPoints: func(n int) { f.points.Add(int64(n)) },
		OnChunks: func(ok, failed int) { f.okPuts.Add(int64(ok)); f.badPuts.Add(int64(failed)) }}
	if tune != nil {
		tune(&opts)
	}
	h, err := NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// rows counts the metric rows the API holds for the submission.
func (f *handlerFixture) rows() int { return len(f.api.Metrics(f.sub)) }

// calls counts the metrics requests with method the API received.
func (f *handlerFixture) calls(method string) int { return f.api.Calls(method, metricsPath) }

// failNext makes the next times metrics requests with method answer status.
func (f *handlerFixture) failNext(method string, status, times int) {
	f.api.FailNext(method, metricsPath, status, times)
}

func (f *handlerFixture) handle(n uint64) consumers.Decision {
	return f.h.Handle(context.Background(), message(f.sub, fixtureJob, n, 3))
}

// A sync uploads every row once, counts points and chunks through the hooks, and the next
// message of the job uploads nothing (Ack without any PUT).
func TestHandlerUploadsThenNothingNew(t *testing.T) {
	f := newHandlerFixture(t, func(o *Options) { o.Sync.ChunkRows = 7 })
	rows, calls := f.rows, f.calls
	if d := f.handle(1); !d.IsAck() {
		t.Fatalf("first sync: %s, want ack", d)
	}
	if got := rows(); got != 30 { // 20 batch-step seconds + 10 step-0 seconds
		t.Fatalf("API holds %d rows, want 30", got)
	}
	if p, ok, bad := f.points.Load(), f.okPuts.Load(), f.badPuts.Load(); p != 60 || ok != 5 || bad != 0 {
		t.Errorf("hooks: %d points, %d ok chunks, %d failed; want 60, 5 (30 rows by 7), 0", p, ok, bad)
	}
	puts := calls("PUT")
	if d := f.handle(1); !d.IsAck() {
		t.Fatalf("second sync: %s, want ack", d)
	}
	if got := calls("PUT"); got != puts {
		t.Errorf("second sync made %d PUTs, want none", got-puts)
	}
	if got := rows(); got != 30 {
		t.Errorf("API holds %d rows after the second sync, want 30", got)
	}
	// New samples arrive: only they go up.
	f.src.add("4242", samples("vm", "-5", "0", 1020, 1024)...)
	if d := f.handle(1); !d.IsAck() || rows() != 35 {
		t.Errorf("third sync: %s, %d rows; want ack, 35", d, rows())
	}
}

func TestHandlerDecisions(t *testing.T) {
	influxDown := errors.New("dial tcp 127.0.0.1:8086: connect: connection refused")
	for _, tc := range []struct {
		name     string
		setup    func(f *handlerFixture)
		delivery uint64
		want     string // ack, retry, terminate
		reason   string // substring of the terminate reason
		rows     int
	}{
		{name: "no samples: ack without upload", want: "ack",
			setup: func(f *handlerFixture) { f.src.points = map[string][]influx.Point{} }},
		{name: "influxdb unreachable: retry", want: "retry",
			setup: func(f *handlerFixture) { f.src.setErr(influxDown) }},
		{name: "influxdb unreachable on the last delivery: terminate", want: "terminate", delivery: 3,
			reason: "giving up after 3 deliveries", setup: func(f *handlerFixture) { f.src.setErr(influxDown) }},
		{name: "max times 503: retry", want: "retry",
			setup: func(f *handlerFixture) { f.failNext("GET", 503, 10) }},
		{name: "upload 500 on every attempt: retry", want: "retry",
			setup: func(f *handlerFixture) { f.failNext("PUT", 500, 10) }},
		{name: "upload 429 once: retried by the API client, ack", want: "ack", rows: 30,
			setup: func(f *handlerFixture) { f.failNext("PUT", 429, 1) }},
		{name: "max times 403: terminate with the detail", want: "terminate", reason: "HTTP 403: injected failure",
			setup: func(f *handlerFixture) { f.failNext("GET", 403, 10) }},
		{name: "chunk refused: terminate with the detail", want: "terminate",
			reason: "metrics refused by the API: HTTP 400: injected failure",
			setup:  func(f *handlerFixture) { f.failNext("PUT", 400, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newHandlerFixture(t, nil)
			tc.setup(f)
			n := tc.delivery
			if n == 0 {
				n = 1
			}
			d := f.handle(n)
			switch {
			case tc.want == "ack" && !d.IsAck(), tc.want == "retry" && !d.IsRetry(), tc.want == "terminate" && !d.IsTerminate():
				t.Fatalf("decision %s, want %s", d, tc.want)
			}
			if tc.reason != "" && !strings.Contains(d.Reason(), tc.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason(), tc.reason)
			}
			if got := f.rows(); got != tc.rows {
				t.Errorf("API holds %d rows, want %d", got, tc.rows)
			}
			if strings.Contains(d.Reason(), testSecret) {
				t.Errorf("reason leaks the client secret: %q", d.Reason())
			}
		})
	}
}

func TestHandlerUndecodablePayloadTerminates(t *testing.T) {
	f := newHandlerFixture(t, nil)
	for _, data := range []string{"not json", `{"submission_id":1}`, `{}`} {
		d := f.h.Handle(context.Background(), &consumers.Message{Subject: "jbg_met.metrics.1", Data: []byte(data), NumDelivered: 1, MaxDeliver: 3})
		if !d.IsTerminate() || !strings.Contains(d.Reason(), ErrBadJob.Error()) {
			t.Errorf("payload %q: %s, want terminate (%v)", data, d, ErrBadJob)
		}
	}
	if n := f.calls(""); n != 0 {
		t.Errorf("%d API calls for undecodable messages, want 0", n)
	}
}

// A sync cut short by shutdown retries (the runner naks it for another process).
func TestHandlerCancelledRetries(t *testing.T) {
	f := newHandlerFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d := f.h.Handle(ctx, message(f.sub, fixtureJob, 3, 3)); !d.IsRetry() {
		t.Fatalf("cancelled sync: %s, want retry even on the last delivery", d)
	}
}

// A job whose metrics the API refuses for good gets one dead letter, then is left alone for
// RefusedHold (its messages are acked without any API call), then is tried again.
func TestHandlerRefusedJobIsHeld(t *testing.T) {
	f := newHandlerFixture(t, func(o *Options) { o.RefusedHold = 10 * time.Minute })
	f.failNext("PUT", 400, 1)
	d := f.handle(1)
	if !d.IsTerminate() || !strings.Contains(d.Reason(), "held until") {
		t.Fatalf("refused: %s, want terminate with the hold", d)
	}
	if f.rows() != 0 || f.badPuts.Load() != 1 {
		t.Fatalf("after refusal: %d rows, %d failed chunks; want 0, 1", f.rows(), f.badPuts.Load())
	}
	before := f.calls("")
	f.clock.Advance(9 * time.Minute)
	if d := f.handle(1); !d.IsAck() {
		t.Fatalf("held job: %s, want ack", d)
	}
	if n := f.calls("") - before; n != 0 {
		t.Errorf("held job made %d API calls, want 0", n)
	}
	f.clock.Advance(time.Minute)
	if d := f.handle(1); !d.IsAck() || f.rows() != 30 {
		t.Fatalf("after the hold: %s, %d rows; want ack, 30", d, f.rows())
	}
}

// With RefusedHold negative the job is synced (and refused) every time.
func TestHandlerRefusedWithoutHold(t *testing.T) {
	f := newHandlerFixture(t, func(o *Options) { o.RefusedHold = -1 })
	f.failNext("PUT", 400, 2)
	for i := range 2 {
		if d := f.handle(1); !d.IsTerminate() || strings.Contains(d.Reason(), "held until") {
			t.Fatalf("refusal %d: %s, want terminate without hold", i+1, d)
		}
	}
	if got := f.calls("PUT"); got != 2 {
		t.Errorf("%d PUTs, want 2 (one per message: a refused chunk is not sent again)", got)
	}
}

// A chunk the API stored but whose answer was lost: the client's retry of the upload collides
// with the stored rows (400), the sync finds them stored and goes on: ack, every row stored once.
func TestHandlerLostAnswer(t *testing.T) {
	f := newHandlerFixture(t, nil)
	link := newFlakyLink(t, f.api)
	h, err := NewHandler(Options{Source: f.src, Logger: testenv.Logger(t), Sync: SyncOptions{ChunkRows: 7},
		API: link.client(t, f.api, jobbergate.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond})})
	if err != nil {
		t.Fatal(err)
	}
	link.cutNext(1, true)
	if d := h.Handle(context.Background(), message(f.sub, fixtureJob, 1, 3)); !d.IsAck() {
		t.Fatalf("lost answer: %s (%s), want ack", d, d.Reason())
	}
	if got := len(storedRows(t, f.api.Metrics(f.sub))); got != 30 {
		t.Errorf("API holds %d rows, want 30", got)
	}
	if got := link.received(); got != 6 {
		t.Errorf("%d uploads, want 6 (5 chunks of 7 rows, the first one sent twice)", got)
	}
}

// A real InfluxQL backend whose server does not answer: the message is retried.
func TestHandlerInfluxUnreachableRetries(t *testing.T) {
	src, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: "influxdb://127.0.0.1:1/slurm", Timeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newHandlerFixture(t, func(o *Options) { o.Source = src })
	d := f.handle(1)
	if !d.IsRetry() || !strings.Contains(d.Reason(), "Failed to fetch measures from InfluxDB") {
		t.Fatalf("unreachable InfluxDB: %s (%s), want retry", d, d.Reason())
	}
}
