package influx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// FluxOptions configure the Flux backend (InfluxDB 1.8+ with flux-enabled = true, or 2.x).
type FluxOptions struct {
	// URL of the server, e.g. http://127.0.0.1:8086.
	URL string
	// Token: an API token on 2.x; "user:password" (or ":" without auth) on 1.8.
	Token string
	// Org: the organisation on 2.x; empty on 1.8.
	Org string
	// Bucket: the bucket on 2.x; "database/retention-policy" on 1.8 (e.g. "slurm/autogen").
	Bucket string
	// Timeout bounds each query (0: none).
	Timeout time.Duration
	// TLS, when not nil, is the TLS configuration for https URLs.
	TLS *tls.Config
	// BatchSize is the number of points per Stream.Next batch (0: 10,000).
	BatchSize int
	// PoolSize is INFLUX_POOL_SIZE: how many connections to the server are kept open for
	// reuse between queries; 0: the client library's default (100).
	PoolSize int
}

// Flux is the Source for Flux servers, through github.com/influxdata/influxdb-client-go/v2.
// Flux has no bind parameters on InfluxDB 1.8, so the only value taken from outside, the job
// id, must be a decimal number (ErrInvalidJobID otherwise) and the bucket is written as an
// escaped Flux string literal; measurement names are constants. Safe for concurrent use.
type Flux struct {
	c     influxdb2.Client
	q     api.QueryAPI
	opts  FluxOptions
	log   *slog.Logger
	batch int
	// first serialises queries until one has run (warm): the library builds and stores its
	// query URL on first use without synchronisation (influxdb-client-go v2.14.0,
	// api.queryAPI.queryURL), a data race between concurrent first queries.
	first sync.Mutex
	warm  atomic.Bool
}

var _ Source = (*Flux)(nil)

// NewFlux builds the backend; it does not contact the server (see Ping).
func NewFlux(opts FluxOptions, log *slog.Logger) (*Flux, error) {
	if log == nil {
		log = logging.Discard()
	}
	if opts.URL == "" || opts.Bucket == "" {
		return nil, fmt.Errorf("%w: the Flux backend needs a URL and a bucket", ErrInvalidOptions)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative timeout", ErrInvalidOptions)
	}
	o := influxdb2.DefaultOptions().SetApplicationName("jobbergate-agent")
	if opts.TLS != nil {
		o.SetTLSConfig(opts.TLS)
	}
	// The client's request timeout is whole seconds (0 would mean its default, 20 s): use the
	// context for the bound instead and give the client a long one.
	o.SetHTTPRequestTimeout(uint((24 * time.Hour).Seconds()))
	if opts.PoolSize > 0 {
		// The library's own client, built from the TLS and timeout options set above.
		if tr, ok := o.HTTPClient().Transport.(*http.Transport); ok {
			tr.MaxIdleConns, tr.MaxIdleConnsPerHost = opts.PoolSize, opts.PoolSize
		}
	}
	c := influxdb2.NewClientWithOptions(opts.URL, opts.Token, o)
	batch := opts.BatchSize
	if batch <= 0 {
		batch = 10000
	}
	return &Flux{c: c, q: c.QueryAPI(opts.Org), opts: opts, log: log, batch: batch}, nil
}

// Ping checks the server (GET /ping) and returns its version as reported by /health when the
// server has it.
func (f *Flux) Ping(ctx context.Context) (string, error) {
	ok, err := f.c.Ping(ctx)
	if err != nil {
		return "", fmt.Errorf("ping InfluxDB: %w", err)
	}
	if !ok {
		return "", fmt.Errorf("ping InfluxDB: server not ready")
	}
	h, err := f.c.Health(ctx)
	if err != nil || h.Version == nil {
		return "", nil
	}
	return *h.Version, nil
}

// query is f.q.Query, alone until one query has run (see first).
func (f *Flux) query(ctx context.Context, flux string) (*api.QueryTableResult, error) {
	if !f.warm.Load() {
		f.first.Lock()
		defer f.first.Unlock()
		defer f.warm.Store(true) // the URL is stored before the request is sent
	}
	return f.q.Query(ctx, flux)
}

// Close releases the client's connections.
func (f *Flux) Close() error {
	f.c.Close()
	return nil
}

// fluxString is s as a Flux string literal: backslash, double quote and the interpolation
// opener "${" are escaped, control characters written as escapes.
func fluxString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '$':
			b.WriteString(`\$`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// fluxTime is t (epoch s) as a Flux time literal.
func fluxTime(t int64) string {
	return time.Unix(t, 0).UTC().Format(time.RFC3339)
}

func (f *Flux) checkJob(job string) error {
	if !jobIDPattern.MatchString(job) {
		return fmt.Errorf("%w: %q is not a decimal number", ErrInvalidJobID, job)
	}
	return nil
}

func (f *Flux) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if f.opts.Timeout > 0 {
		return context.WithTimeout(ctx, f.opts.Timeout)
	}
	return context.WithCancel(ctx)
}

// Series yields first() and last() per (measurement, host, step, task).
func (f *Flux) Series(ctx context.Context, job string) ([]SeriesSpan, error) {
	if err := f.checkJob(job); err != nil {
		return nil, err
	}
	names := make([]string, len(Measurements))
	for i, m := range Measurements {
		names[i] = fluxString(m)
	}
	flux := `data = from(bucket: ` + fluxString(f.opts.Bucket) + `)
  |> range(start: 1970-01-01T00:00:00Z)
  |> filter(fn: (r) => r.job == "` + job + `" and r._field == "value" and contains(value: r._measurement, set: [` + strings.Join(names, ", ") + `]))
  |> group(columns: ["_measurement", "host", "step", "task"])
  |> keep(columns: ["_time", "_value", "_measurement", "host", "step", "task"])
data |> first() |> yield(name: "first")
data |> last() |> yield(name: "last")
`
	ctx, cancel := f.withTimeout(ctx)
	defer cancel()
	r, err := f.query(ctx, flux)
	if err != nil {
		return nil, fmt.Errorf("series query: %w", err)
	}
	defer r.Close()
	type key struct {
		m                int
		host, step, task string
	}
	index := map[key]int{}
	var spans []SeriesSpan
	for r.Next() {
		rec := r.Record()
		if rec == nil { // the client's CSV reader says "next" for some malformed answers
			return nil, fmt.Errorf("series query: %w", errMalformedFlux)
		}
		m, ok := MeasurementIndex(rec.Measurement())
		if !ok {
			continue
		}
		k := key{m, recString(rec.ValueByKey("host")), recString(rec.ValueByKey("step")), recString(rec.ValueByKey("task"))}
		t := rec.Time().Unix()
		i, seen := index[k]
		if !seen {
			i = len(spans)
			index[k] = i
			spans = append(spans, SeriesSpan{Measurement: m, Host: k.host, Step: k.step, Task: k.task, First: t, Last: t})
		}
		if rec.Result() == "first" {
			spans[i].First = t
		} else {
			spans[i].Last = t
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("series query: %w", err)
	}
	return spans, nil
}

// Query streams one measurement's points after a time, merged into one table sorted by time.
func (f *Flux) Query(ctx context.Context, job string, measurement int, after int64) (Stream, error) {
	if err := f.checkJob(job); err != nil {
		return nil, err
	}
	if measurement < 0 || measurement >= len(Measurements) {
		return nil, fmt.Errorf("%w: measurement index %d", ErrInvalidOptions, measurement)
	}
	start := int64(0)
	if after != All && after >= 0 {
		start = after + 1 // range's start is inclusive; the data has second precision
	}
	flux := `from(bucket: ` + fluxString(f.opts.Bucket) + `)
  |> range(start: ` + fluxTime(start) + `)
  |> filter(fn: (r) => r._measurement == ` + fluxString(Measurements[measurement]) + ` and r._field == "value" and r.job == "` + job + `")
  |> keep(columns: ["_time", "_value", "host", "step", "task"])
  |> group()
  |> sort(columns: ["_time"])
`
	ctx, cancel := f.withTimeout(ctx)
	r, err := f.query(ctx, flux)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("query %s: %w", Measurements[measurement], err)
	}
	return &fluxStream{r: r, cancel: cancel, m: measurement, after: after, batch: f.batch}, nil
}

type fluxStream struct {
	r      *api.QueryTableResult
	cancel context.CancelFunc
	m      int
	after  int64
	batch  int
	buf    []Point
	closed bool
}

func (s *fluxStream) Next() ([]Point, error) {
	s.buf = s.buf[:0]
	for len(s.buf) < s.batch && s.r.Next() {
		rec := s.r.Record()
		if rec == nil {
			return nil, fmt.Errorf("query %s: %w", measurementName(s.m), errMalformedFlux)
		}
		t := rec.Time().Unix()
		if t <= s.after {
			continue
		}
		v, ok := fluxFloat(rec.Value())
		if !ok {
			continue
		}
		s.buf = append(s.buf, Point{
			Time: t, Host: recString(rec.ValueByKey("host")), Step: recString(rec.ValueByKey("step")),
			Task: recString(rec.ValueByKey("task")), Measurement: s.m, Value: v,
		})
	}
	if len(s.buf) > 0 {
		return s.buf, nil
	}
	if err := s.r.Err(); err != nil {
		return nil, fmt.Errorf("query %s: %w", measurementName(s.m), err)
	}
	return nil, io.EOF
}

func (s *fluxStream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.r.Close()
	s.cancel()
	return err
}

// errMalformedFlux is an answer the client reports a row for but gives no record of (for
// example an annotation line without columns): reading on would dereference nil.
var errMalformedFlux = errors.New("malformed Flux answer: a row without a record")

func recString(v any) string {
	s, _ := v.(string)
	return s
}

func fluxFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}
