package influx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	client "github.com/influxdata/influxdb1-client/v2"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// InfluxQL is the Source for the InfluxDB 1.x HTTP API (InfluxDB 1.6 and later). Queries are
// sent as the official client github.com/influxdata/influxdb1-client/v2 sends them, with its
// parser for the streamed answers, over an http.Client of the backend's own: the official one
// keeps two idle connections per server and has no option for more (PoolSize). Every
// user-supplied value (the job id, times) travels as a bind parameter, never inside the query
// text; tags are compared as strings, as the profile plugin writes them. Answers are streamed in
// chunks (chunked=true). It is safe for concurrent use.
type InfluxQL struct {
	hc       *http.Client
	tr       *http.Transport
	addr     string // scheme://host:port
	username string
	password string
	database string
	chunk    int
	log      *slog.Logger
}

var _ Source = (*InfluxQL)(nil)

// userAgent is the User-Agent of the agent's InfluxDB requests.
const userAgent = "jobbergate-agent"

// NewInfluxQL builds the backend from the reference agent's settings. It does not contact the
// server (see Ping). Errors wrap ErrInvalidDSN or ErrInvalidOptions and never contain the
// password.
func NewInfluxQL(opts InfluxQLOptions, log *slog.Logger) (*InfluxQL, error) {
	if log == nil {
		log = logging.Discard()
	}
	cfg, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if cfg.insecure {
		log.Warn("InfluxDB TLS certificate is not verified (INFLUX_VERIFY_SSL=false)", "addr", cfg.addr)
	}
	// As the official client's transport (no proxy from the environment), with the pool.
	tr := &http.Transport{
		TLSClientConfig: cfg.tls, MaxIdleConns: cfg.poolSize, MaxIdleConnsPerHost: cfg.poolSize,
		IdleConnTimeout: 90 * time.Second,
	}
	return &InfluxQL{
		hc: &http.Client{Timeout: cfg.timeout, Transport: tr}, tr: tr, addr: cfg.addr,
		username: cfg.username, password: cfg.password, database: cfg.database, chunk: cfg.chunkSize, log: log,
	}, nil
}

// request is a request to the server at path with the query values, authenticated.
func (q *InfluxQL) request(ctx context.Context, method, path string, values url.Values) (*http.Request, error) {
	u := q.addr + path
	if len(values) > 0 {
		u += "?" + values.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	if q.username != "" {
		req.SetBasicAuth(q.username, q.password)
	}
	return req, nil
}

// Ping returns the server's version (X-Influxdb-Version).
func (q *InfluxQL) Ping(ctx context.Context) (string, error) {
	req, err := q.request(ctx, http.MethodGet, "/ping", nil)
	if err != nil {
		return "", fmt.Errorf("ping InfluxDB: %w", err)
	}
	resp, err := q.hc.Do(req)
	if err != nil {
		return "", ctxErr(ctx, fmt.Errorf("ping InfluxDB: %w", err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusNoContent {
		return "", fmt.Errorf("ping InfluxDB: %s", body)
	}
	return resp.Header.Get("X-Influxdb-Version"), nil
}

// Close releases idle connections.
func (q *InfluxQL) Close() error {
	q.tr.CloseIdleConnections()
	return nil
}

// measurementList is `"CPUFrequency","CPUTime",...`: constant names, quoted identifiers.
func measurementList() string {
	names := make([]string, len(Measurements))
	for i, m := range Measurements {
		names[i] = `"` + m + `"`
	}
	return strings.Join(names, ",")
}

// Series runs two statements, last() and first() per (measurement, host, step, task).
func (q *InfluxQL) Series(ctx context.Context, job string) ([]SeriesSpan, error) {
	from := measurementList()
	cmd := `SELECT last("value") FROM ` + from + ` WHERE "job" = $job GROUP BY "host","step","task"; ` +
		`SELECT first("value") FROM ` + from + ` WHERE "job" = $job GROUP BY "host","step","task"`
	cr, stop, err := q.start(ctx, cmd, map[string]any{"job": job})
	if err != nil {
		return nil, err
	}
	defer stop()
	type key struct {
		m                int
		host, step, task string
	}
	index := map[key]int{}
	var spans []SeriesSpan
	for {
		resp, err := cr.NextResponse()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, ctxErr(ctx, fmt.Errorf("read series: %w", err))
		}
		if err := resp.Error(); err != nil {
			return nil, fmt.Errorf("series query: %w", err)
		}
		for _, res := range resp.Results {
			for _, row := range res.Series {
				m, ok := MeasurementIndex(row.Name)
				if !ok || len(row.Values) == 0 || len(row.Values[0]) == 0 {
					continue
				}
				t, err := jsonInt(row.Values[0][0])
				if err != nil {
					return nil, fmt.Errorf("series %s time: %w", row.Name, err)
				}
				k := key{m, row.Tags["host"], row.Tags["step"], row.Tags["task"]}
				i, seen := index[k]
				if !seen {
					i = len(spans)
					index[k] = i
					spans = append(spans, SeriesSpan{Measurement: m, Host: k.host, Step: k.step, Task: k.task, First: t, Last: t})
				}
				if res.StatementId == 0 {
					spans[i].Last = t
				} else {
					spans[i].First = t
				}
			}
		}
	}
	return spans, nil
}

// Query selects value and the three tags of one measurement, job and time bound as bind
// parameters ($job as a string, $after in nanoseconds).
func (q *InfluxQL) Query(ctx context.Context, job string, measurement int, after int64) (Stream, error) {
	if measurement < 0 || measurement >= len(Measurements) {
		return nil, fmt.Errorf("%w: measurement index %d", ErrInvalidOptions, measurement)
	}
	cmd := `SELECT "value","host","step","task" FROM "` + Measurements[measurement] + `" WHERE "job" = $job`
	params := map[string]any{"job": job}
	if after != All {
		cmd += ` AND time > $after`
		params["after"] = secondsToNanos(after)
	}
	cr, stop, err := q.start(ctx, cmd, params)
	if err != nil {
		return nil, err
	}
	return &influxQLStream{ctx: ctx, cr: cr, stop: stop, m: measurement}, nil
}

// secondsToNanos converts, saturating at the int64 range.
func secondsToNanos(s int64) int64 {
	const limit = math.MaxInt64 / 1_000_000_000
	switch {
	case s > limit:
		return math.MaxInt64
	case s < -limit:
		return math.MinInt64
	}
	return s * 1e9
}

// start sends a chunked query; stop closes the answer (and is what cancelling ctx does).
func (q *InfluxQL) start(ctx context.Context, cmd string, params map[string]any) (*client.ChunkedResponse, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	cr, err := q.queryAsChunk(ctx, cmd, params)
	if err != nil {
		return nil, nil, ctxErr(ctx, fmt.Errorf("query: %w", err))
	}
	unhook := context.AfterFunc(ctx, func() { _ = cr.Close() })
	stop := func() {
		unhook()
		_ = cr.Close()
	}
	return cr, stop, nil
}

// queryAsChunk is the official client's QueryAsChunk with epoch=s, bound by ctx: POST /query
// with the command, database and bind parameters in the URL, chunked.
func (q *InfluxQL) queryAsChunk(ctx context.Context, cmd string, params map[string]any) (*client.ChunkedResponse, error) {
	p, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	values := url.Values{"q": {cmd}, "db": {q.database}, "params": {string(p)}, "epoch": {"s"},
		"chunked": {"true"}, "chunk_size": {strconv.Itoa(q.chunk)}}
	req, err := q.request(ctx, http.MethodPost, "/query", values)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "")
	resp, err := q.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if err := checkResponse(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return client.NewChunkedResponse(resp.Body), nil
}

// checkResponse is the official client's check: an answer that is not InfluxDB's JSON (a proxy's
// error page) is an error showing its status and the start of its body; InfluxDB's own errors
// come in the JSON.
func checkResponse(resp *http.Response) error {
	if resp.Header.Get("X-Influxdb-Version") == "" && resp.StatusCode >= http.StatusInternalServerError {
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if err != nil || len(body) == 0 {
			return fmt.Errorf("received status code %d from downstream server", resp.StatusCode)
		}
		return fmt.Errorf("received status code %d from downstream server, with response body: %q", resp.StatusCode, body)
	}
	if cType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); cType != "application/json" {
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if err != nil || len(body) == 0 {
			return fmt.Errorf("expected json response, got empty body, with status: %v", resp.StatusCode)
		}
		return fmt.Errorf("expected json response, got %q, with status: %v and response body: %q", cType, resp.StatusCode, body)
	}
	return nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

type influxQLStream struct {
	ctx  context.Context
	cr   *client.ChunkedResponse
	stop func()
	m    int
	buf  []Point
	done bool
}

func (s *influxQLStream) Next() ([]Point, error) {
	for !s.done {
		resp, err := s.cr.NextResponse()
		if errors.Is(err, io.EOF) {
			s.done = true
			break
		}
		if err != nil {
			return nil, ctxErr(s.ctx, fmt.Errorf("read %s: %w", measurementName(s.m), err))
		}
		if err := resp.Error(); err != nil {
			return nil, fmt.Errorf("query %s: %w", measurementName(s.m), err)
		}
		s.buf = s.buf[:0]
		for _, res := range resp.Results {
			for _, row := range res.Series {
				if err := s.appendRow(row.Columns, row.Values); err != nil {
					return nil, err
				}
			}
		}
		if len(s.buf) > 0 {
			return s.buf, nil
		}
	}
	return nil, io.EOF
}

func (s *influxQLStream) appendRow(columns []string, values [][]any) error {
	col := map[string]int{"time": -1, "value": -1, "host": -1, "step": -1, "task": -1}
	for i, c := range columns {
		if _, ok := col[c]; ok {
			col[c] = i
		}
	}
	for name, i := range col {
		if i < 0 {
			return fmt.Errorf("query %s: answer has no %q column", measurementName(s.m), name)
		}
	}
	ti, vi, hi, si, ki := col["time"], col["value"], col["host"], col["step"], col["task"]
	need := max(ti, vi, hi, si, ki) + 1
	for _, v := range values {
		if len(v) < need { // a hostile or broken answer must not index past the row
			return fmt.Errorf("query %s: answer row has %d values for %d columns", measurementName(s.m), len(v), len(columns))
		}
		t, err := jsonInt(v[ti])
		if err != nil {
			return fmt.Errorf("query %s: time: %w", measurementName(s.m), err)
		}
		val, err := jsonFloat(v[vi])
		if err != nil {
			continue // a null or non-numeric value: nothing to sum
		}
		s.buf = append(s.buf, Point{
			Time: t, Host: jsonString(v[hi]), Step: jsonString(v[si]), Task: jsonString(v[ki]),
			Measurement: s.m, Value: val,
		})
	}
	return nil
}

func (s *influxQLStream) Close() error {
	s.stop()
	return nil
}

func jsonInt(v any) (int64, error) {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
		f, err := n.Float64()
		if err != nil {
			return 0, err
		}
		return int64(f), nil
	case float64:
		return int64(n), nil
	}
	return 0, fmt.Errorf("not a number: %v", v)
}

func jsonFloat(v any) (float64, error) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, err
		}
		// Beyond float64's range ("1e400") f is ±Inf, which clampValue turns into 0.
		return f, nil
	case float64:
		return n, nil
	}
	return 0, fmt.Errorf("not a number: %v", v)
}

func jsonString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
