package metrics

import (
	"context"
	"encoding/json"
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
			return retry(msg, err)
		case ae.StatusCode >= 400 && ae.StatusCode < 500:
			return consumers.Terminate(fmt.Sprintf("HTTP %d: %s", ae.StatusCode, apiDetail(ae)))
		default:
			return consumers.Terminate(err.Error())
		}
	}
	// InfluxDB failures (and anything else): worth another try.
	return retry(msg, err)
}

// retry asks for a redelivery, or terminates with err's text when this was the last attempt.
func retry(msg *consumers.Message, err error) consumers.Decision {
	if msg.LastAttempt() {
		return consumers.Terminate(fmt.Sprintf("giving up after %d deliveries: %v", msg.NumDelivered, err))
	}
	return consumers.Retry(err)
}

// rejectedDetail describes a refused chunk: the HTTP status and the API's detail, then the
// whole error (which names the chunk's rows and times).
func rejectedDetail(err error) string {
	var ae *jobbergate.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("HTTP %d: %s (%v)", ae.StatusCode, apiDetail(ae), err)
	}
	return err.Error()
}

// apiDetail returns the "detail" of a FastAPI error body, else the body excerpt, else the
// error text.
func apiDetail(ae *jobbergate.APIError) string {
	var body struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal([]byte(ae.Body), &body) == nil && len(body.Detail) > 0 {
		var s string
		if json.Unmarshal(body.Detail, &s) == nil {
			return s
		}
		return string(body.Detail)
	}
	if ae.Body != "" {
		return ae.Body
	}
	return ae.Error()
}
