package telemetry

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
)

// Metrics are the agent's Prometheus collectors. All methods are safe for concurrent use; a nil
// *Metrics records nothing.
type Metrics struct {
	Registry *prometheus.Registry

	messages     *prometheus.CounterVec   // consumer, outcome
	handleTime   *prometheus.HistogramVec // consumer
	apiTime      *prometheus.HistogramVec // call, code
	sbatchTime   *prometheus.HistogramVec // result
	stepTime     *prometheus.HistogramVec // step
	influxRows   prometheus.Counter
	uploadChunks *prometheus.CounterVec // result
}

// New returns metrics registered on a new registry that also carries the Go and process
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobbergate_agent_messages_total",
			Help: "Messages handled, by consumer and outcome (ack, retry, terminate).",
		}, []string{"consumer", "outcome"}),
		handleTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jobbergate_agent_handler_seconds",
			Help:    "Time spent handling one message (or one batch), by consumer; for submit it includes waiting for a Slurm slot (SUBMIT_CONCURRENCY).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"consumer"}),
		apiTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jobbergate_agent_api_request_seconds",
			Help:    "Jobbergate API and OIDC request latency, by call and HTTP status (0: no response).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"call", "code"}),
		sbatchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jobbergate_agent_sbatch_seconds",
			Help:    "sbatch latency, by result (ok, error).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}, []string{"result"}),
		stepTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jobbergate_agent_submit_step_seconds",
			Help:    "Time of each step of the submit path outside sbatch and the API calls (user mapping, directory check, file writes, job state read, submission record reads and writes, the wait for a Slurm slot), by step.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"step"}),
		influxRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobbergate_agent_influx_points_read_total",
			Help: "Points read from InfluxDB for job metrics.",
		}),
		uploadChunks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobbergate_agent_metric_upload_chunks_total",
			Help: "Metric upload chunks sent to the API, by result (ok, error).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.messages, m.handleTime, m.apiTime, m.sbatchTime, m.stepTime, m.influxRows, m.uploadChunks)
	return m
}

// Middleware counts the outcome and time of every message a consumer handles.
func (m *Metrics) Middleware(consumer string) consumers.Middleware {
	return func(next consumers.Handler) consumers.Handler {
		if m == nil {
			return next
		}
		return consumers.HandlerFunc(func(ctx context.Context, msg *consumers.Message) consumers.Decision {
			start := time.Now()
			d := next.Handle(ctx, msg)
			m.handleTime.WithLabelValues(consumer).Observe(time.Since(start).Seconds())
			m.messages.WithLabelValues(consumer, outcome(d)).Inc()
			return d
		})
	}
}

// WrapBatch does for a batch handler what Middleware does for a handler: one observation of the
// batch's time, one count per message.
func (m *Metrics) WrapBatch(consumer string, next consumers.BatchHandler) consumers.BatchHandler {
	if m == nil {
		return next
	}
	return consumers.BatchHandlerFunc(func(ctx context.Context, msgs []*consumers.Message) []consumers.Decision {
		start := time.Now()
		ds := next.HandleBatch(ctx, msgs)
		m.handleTime.WithLabelValues(consumer).Observe(time.Since(start).Seconds())
		for _, d := range ds {
			m.messages.WithLabelValues(consumer, outcome(d)).Inc()
		}
		return ds
	})
}

func outcome(d consumers.Decision) string {
	switch {
	case d.IsAck():
		return "ack"
	case d.IsTerminate():
		return "terminate"
	default:
		return "retry"
	}
}

// ObserveSbatch records one sbatch run.
func (m *Metrics) ObserveSbatch(d time.Duration, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.sbatchTime.WithLabelValues(result).Observe(d.Seconds())
}

// ObserveSubmitStep records one step of the submit path.
func (m *Metrics) ObserveSubmitStep(step string, d time.Duration) {
	if m == nil {
		return
	}
	m.stepTime.WithLabelValues(step).Observe(d.Seconds())
}

// AddInfluxPoints counts points read from InfluxDB.
func (m *Metrics) AddInfluxPoints(n int) {
	if m != nil && n > 0 {
		m.influxRows.Add(float64(n))
	}
}

// AddUploadChunks counts metric upload chunks.
func (m *Metrics) AddUploadChunks(ok, failed int) {
	if m == nil {
		return
	}
	m.uploadChunks.WithLabelValues("ok").Add(float64(ok))
	m.uploadChunks.WithLabelValues("error").Add(float64(failed))
}

// callPatterns name API calls by path, so that ids do not explode the label's cardinality.
var callPatterns = []struct {
	re   *regexp.Regexp
	name string
}{
	{regexp.MustCompile(`/protocol/openid-connect/token$`), "token"},
	{regexp.MustCompile(`/job-submissions/agent/pending$`), "pending"},
	{regexp.MustCompile(`/job-submissions/agent/active$`), "active"},
	{regexp.MustCompile(`/job-submissions/agent/submitted$`), "submitted"},
	{regexp.MustCompile(`/job-submissions/agent/rejected$`), "rejected"},
	{regexp.MustCompile(`/job-submissions/agent/metrics/\d+$`), "metrics"},
	{regexp.MustCompile(`/job-submissions/agent/\d+$`), "update"},
	{regexp.MustCompile(`/job-scripts/\d+/upload/`), "file"},
	{regexp.MustCompile(`/clusters/status$`), "cluster_status"},
	{regexp.MustCompile(`/openapi\.json$`), "openapi"},
}

// CallName maps a request path to the API call it makes ("other" when unknown).
func CallName(path string) string {
	for _, p := range callPatterns {
		if p.re.MatchString(path) {
			return p.name
		}
	}
	return "other"
}

// RoundTripper times every request through next (http.DefaultTransport when nil) by call name
// and status code. Token requests are counted too (call "token"), which is how token refreshes
// show up.
func (m *Metrics) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if m == nil {
		return next
	}
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(r)
		code := "0"
		if resp != nil {
			code = strconv.Itoa(resp.StatusCode)
		}
		m.apiTime.WithLabelValues(CallName(r.URL.Path), code).Observe(time.Since(start).Seconds())
		return resp, err
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
