package metrics

import (
	"context"
	"errors"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// API is the Jobbergate side of a metrics sync: what the API holds of a job's metrics, and the
// upload of more. *jobbergate.Client implements it.
type API interface {
	MetricsMaxTimes(ctx context.Context, id int) (jobbergate.MetricsMaxTimes, error)
	PutMetrics(ctx context.Context, id int, rows []jobbergate.MetricRow) error
}

var _ API = (*jobbergate.Client)(nil)

// ErrChunkRejected: the API answered a chunk upload with a client error (4xx other than 408
// and 429, e.g. 400 "Failed to insert metrics"). It is not retried; the sync stops there.
var ErrChunkRejected = errors.New("metrics chunk rejected by the API")
