package update

import (
	"context"
	"errors"
	"fmt"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// apiDecision maps a failed API call to a decision: transient failures (transport, timeouts,
// 5xx, 408, 429) and shutdown retry; an HTTP 4xx answer (409 slurm id mismatch, 400 no longer
// updatable, 403, 404, 422...) terminates with the API's detail; any other failure (an answer
// that cannot be decoded) terminates with the error.
func apiDecision(msg *consumers.Message, err error) consumers.Decision {
	if jobbergate.IsTransient(err) || errors.Is(err, context.Canceled) {
		return consumers.RetryUnlessLast(msg, err)
	}
	var ae *jobbergate.APIError
	if errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500 {
		return consumers.Terminate(fmt.Sprintf("HTTP %d: %s", ae.StatusCode, ae.Detail()))
	}
	return consumers.Terminate(err.Error())
}
