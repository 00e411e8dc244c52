// Package errreport sends errors to Sentry when the site configured a DSN (the reference agent's
// SENTRY_* settings) and does nothing otherwise.
package errreport

import (
	"fmt"
	"time"

	"github.com/getsentry/sentry-go"
)

// Options are the reference's Sentry settings.
type Options struct {
	DSN              string  // empty disables reporting
	Environment      string  // SENTRY_ENV
	SampleRate       float64 // SENTRY_SAMPLE_RATE: share of error events sent
	TracesSampleRate float64 // SENTRY_TRACES_SAMPLE_RATE
	Release          string  // agent version
	ServerName       string  // host name; empty lets Sentry choose
}

// Reporter sends errors to Sentry. The zero value and a Reporter built without a DSN are valid
// and report nothing. It is safe for concurrent use.
type Reporter struct {
	client *sentry.Client
}

// New builds a Reporter. An invalid DSN is an error naming the problem, never the DSN itself
// (it holds the project key).
func New(opts Options) (*Reporter, error) {
	if opts.DSN == "" {
		return &Reporter{}, nil
	}
	c, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:                    opts.DSN,
		Environment:            opts.Environment,
		SampleRate:             opts.SampleRate,
		TracesSampleRate:       opts.TracesSampleRate,
		Release:                opts.Release,
		ServerName:             opts.ServerName,
		AttachStacktrace:       true,
		DisableTelemetryBuffer: true,
	})
	if err != nil {
		return nil, fmt.Errorf("sentry: invalid SENTRY_DSN (%T)", err)
	}
	return &Reporter{client: c}, nil
}

// Enabled reports whether errors are sent anywhere.
func (r *Reporter) Enabled() bool { return r != nil && r.client != nil }

// Report sends err with the given tags (e.g. call, submission_id). A nil err or a disabled
// Reporter does nothing. It never blocks on the network.
func (r *Reporter) Report(err error, tags map[string]string) {
	if err == nil || !r.Enabled() {
		return
	}
	scope := sentry.NewScope()
	scope.SetTags(tags)
	r.client.CaptureException(err, nil, scope)
}

// Flush waits up to timeout for queued events to be sent; it reports whether all were.
func (r *Reporter) Flush(timeout time.Duration) bool {
	if !r.Enabled() {
		return true
	}
	return r.client.Flush(timeout)
}
