package metrics

import (
	"context"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// API is the Jobbergate side of a metrics sync: what the API holds of a job's metrics, and the
// upload of more. *jobbergate.Client implements it.
type API interface {
	MetricsMaxTimes(ctx context.Context, id int) (jobbergate.MetricsMaxTimes, error)
	PutMetrics(ctx context.Context, id int, rows []jobbergate.MetricRow) error
}

var _ API = (*jobbergate.Client)(nil)
