package metrics

import (
	"context"
	"errors"
	"fmt"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// decide maps a failed sync (other than a refused chunk) to a decision, as the package doc says.
func decide(ctx context.Context, msg *consumers.Message, err error) consumers.Decision {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return consumers.Retry(err)
	}
	if errors.Is(err, influx.ErrInvalidJobID) {
		return consumers.Terminate(err.Error())
	}
	var ae *jobbergate.APIError
	if errors.As(err, &ae) {
		switch {
		case jobbergate.IsTransient(err):
			return consumers.RetryUnlessLast(msg, err)
		case ae.StatusCode >= 400 && ae.StatusCode < 500:
			return consumers.Terminate(fmt.Sprintf("HTTP %d: %s", ae.StatusCode, ae.Detail()))
		default:
			return consumers.Terminate(err.Error())
		}
	}
	// InfluxDB failures (and anything else): worth another try.
	return consumers.RetryUnlessLast(msg, err)
}

// rejectedDetail describes a refused chunk: the HTTP status and the API's detail, then the
// whole error (which names the chunk's rows and times).
func rejectedDetail(err error) string {
	var ae *jobbergate.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("HTTP %d: %s (%v)", ae.StatusCode, ae.Detail(), err)
	}
	return err.Error()
}
