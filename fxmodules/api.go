package fxmodules

import (
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/buildinfo"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/errreport"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// API provides the OIDC token source, the Jobbergate API client and the Sentry reporter.
var API = fx.Module("api", fx.Provide(newReporter, newTokenSource, newClient))

func newReporter(lc fx.Lifecycle, s *config.Settings, id Identity) (*errreport.Reporter, error) {
	r, err := errreport.New(errreport.Options{
		DSN: s.SentryDSN, Environment: s.SentryEnv, SampleRate: s.SentrySampleRate,
		TracesSampleRate: s.SentryTracesSampleRate, Release: buildinfo.Version, ServerName: id.Host,
	})
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func() { r.Flush(2 * time.Second) }))
	return r, nil
}

func newTokenSource(s *config.Settings, logger *slog.Logger) (*jobbergate.TokenSource, error) {
	return jobbergate.NewTokenSource(jobbergate.TokenSourceOptions{
		TokenURL:     jobbergate.OIDCTokenURL(s.OIDCDomain, s.OIDCUseHTTPS),
		ClientID:     s.OIDCClientID,
		ClientSecret: s.OIDCClientSecret,
		CacheDir:     s.CacheDir,
		Logger:       logger.With("component", "oidc"),
	})
}

func newClient(s *config.Settings, ts *jobbergate.TokenSource, r *errreport.Reporter, logger *slog.Logger) (*jobbergate.Client, error) {
	var timeout time.Duration
	if s.RequestsTimeout != nil {
		timeout = time.Duration(*s.RequestsTimeout) * time.Second
	}
	return jobbergate.New(jobbergate.Options{
		BaseURL:  s.BaseAPIURL,
		Timeout:  timeout,
		Tokens:   ts,
		PageSize: s.ItemsPerPage,
		Logger:   logger.With("component", "api"),
		ReportError: func(err error) {
			r.Report(err, map[string]string{"component": "jobbergate-api"})
		},
	})
}
