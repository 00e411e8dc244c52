package update

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// retry asks for a redelivery, or terminates with err's text when this was the last attempt.
func retry(msg *consumers.Message, err error) consumers.Decision {
	if msg.LastAttempt() {
		return consumers.Terminate(fmt.Sprintf("giving up after %d deliveries: %v", msg.NumDelivered, err))
	}
	return consumers.Retry(err)
}

// apiDecision maps a failed API call to a decision: transient failures (transport, timeouts,
// 5xx, 408, 429) and shutdown retry; an HTTP 4xx answer (409 slurm id mismatch, 400 no longer
// updatable, 403, 404, 422...) terminates with the API's detail; any other failure (an answer
// that cannot be decoded) terminates with the error.
func apiDecision(msg *consumers.Message, err error) consumers.Decision {
	if jobbergate.IsTransient(err) || errors.Is(err, context.Canceled) {
		return retry(msg, err)
	}
	var ae *jobbergate.APIError
	if errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500 {
		return consumers.Terminate(fmt.Sprintf("HTTP %d: %s", ae.StatusCode, apiDetail(ae)))
	}
	return consumers.Terminate(err.Error())
}

// apiDetail returns the "detail" string of a FastAPI error body, else the body excerpt, else the
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
