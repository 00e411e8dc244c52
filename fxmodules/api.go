package fxmodules

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/submit"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/buildinfo"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/errreport"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/telemetry"
)

// API provides the OIDC token source, the Jobbergate API client and the Sentry reporter.
var API = fx.Module("api", fx.Provide(newReporter, APIHTTPClient, newTokenSource, newClient))

// reporterParams are what the Sentry reporter needs; Logs, when the agent's logger has one, is
// told the reporter so that error records reach Sentry.
type reporterParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Settings  *config.Settings
	Identity  Identity
	Logger    *slog.Logger
	Logs      *errreport.LogHandler `optional:"true"`
}

// newReporter builds the Sentry reporter. An invalid SENTRY_DSN is said at start and leaves
// reporting off; it never stops the agent. SENTRY_PROFILING_SAMPLE_RATE is accepted and
// ignored (the Go client has no profiler), and the agent starts no traces.
func newReporter(p reporterParams) *errreport.Reporter {
	s := p.Settings
	r, err := errreport.New(errreport.Options{
		DSN: s.SentryDSN, Environment: s.SentryEnv, SampleRate: s.SentrySampleRate,
		TracesSampleRate: s.SentryTracesSampleRate, Release: buildinfo.Version, ServerName: p.Identity.Host,
	})
	if err != nil {
		p.Logger.Warn("errors are not sent to Sentry", "error", err)
		r = &errreport.Reporter{}
	}
	if p.Logs != nil {
		p.Logs.SetReporter(r)
	}
	p.Lifecycle.Append(fx.StopHook(func() { r.Flush(2 * time.Second) }))
	return r
}

// APIHTTPClient is the HTTP client for the API and OIDC servers: REQUESTS_TIMEOUT, the system
// roots plus API_CA_FILE, idle connections kept for every submission in flight, and
// instrumented with the agent's metrics.
func APIHTTPClient(s *config.Settings, m *telemetry.Metrics) (*http.Client, error) {
	base := jobbergate.NewTransport(submit.InFlight(s.SubmitConc))
	if s.APICAFile != "" {
		pem, err := os.ReadFile(s.APICAFile)
		if err != nil {
			return nil, fmt.Errorf("API_CA_FILE: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("API_CA_FILE: %s holds no PEM certificate", s.APICAFile)
		}
		base.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c := &http.Client{Transport: m.RoundTripper(base)}
	if s.RequestsTimeout != nil {
		c.Timeout = time.Duration(*s.RequestsTimeout) * time.Second
	}
	return c, nil
}

func newTokenSource(s *config.Settings, hc *http.Client, logger *slog.Logger) (*jobbergate.TokenSource, error) {
	return jobbergate.NewTokenSource(jobbergate.TokenSourceOptions{
		HTTPClient:   hc,
		TokenURL:     jobbergate.OIDCTokenURL(s.OIDCDomain, s.OIDCUseHTTPS),
		ClientID:     s.OIDCClientID,
		ClientSecret: s.OIDCClientSecret,
		CacheDir:     s.CacheDir,
		Logger:       logger.With("component", "oidc"),
	})
}

func newClient(s *config.Settings, hc *http.Client, ts *jobbergate.TokenSource, r *errreport.Reporter, logger *slog.Logger) (*jobbergate.Client, error) {
	return jobbergate.New(jobbergate.Options{
		BaseURL:    s.BaseAPIURL,
		HTTPClient: hc,
		Tokens:     ts,
		PageSize:   s.ItemsPerPage,
		Logger:     logger.With("component", "api"),
		ReportError: func(err error) {
			r.Report(err, map[string]string{"component": "jobbergate-api"})
		},
	})
}
