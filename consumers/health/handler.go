package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// StatusReporter reports the cluster status; *jobbergate.Client implements it.
type StatusReporter interface {
	ReportStatus(ctx context.Context, interval time.Duration) error
}

// Handler PUTs the cluster status for each health tick. It is a consumers.Handler, safe for
// concurrent use.
type Handler struct {
	api      StatusReporter
	interval time.Duration
	log      *slog.Logger
}

// NewHandler returns a handler reporting interval (TASK_JOBS_INTERVAL_SECONDS) to the API, or the
// tick's own interval_seconds when it carries one.
func NewHandler(api StatusReporter, interval time.Duration, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = logging.Discard()
	}
	return &Handler{api: api, interval: interval, log: logger}
}

// Handle reports the status: Ack on success, Retry on a transient failure (Terminate on the last
// delivery), Terminate with the API's answer on any other failure (a 4xx: wrong scope, no client
// id, bad interval).
func (h *Handler) Handle(ctx context.Context, msg *consumers.Message) consumers.Decision {
	interval := h.interval
	var tick struct {
		IntervalSeconds int64 `json:"interval_seconds"`
	}
	if json.Unmarshal(msg.Data, &tick) == nil && tick.IntervalSeconds > 0 {
		interval = time.Duration(tick.IntervalSeconds) * time.Second
	}
	err := h.api.ReportStatus(ctx, interval)
	switch {
	case err == nil:
		h.log.Debug("cluster status reported", "interval", interval)
		return consumers.Ack()
	case jobbergate.IsTransient(err) || errors.Is(err, context.Canceled):
		if msg.LastAttempt() {
			h.log.Error("cluster status report failed on the last attempt", "error", err)
			return consumers.Terminate(fmt.Sprintf("giving up after %d deliveries: %v", msg.NumDelivered, err))
		}
		h.log.Warn("cluster status report failed: will retry", "error", err)
		return consumers.Retry(err)
	default:
		h.log.Error("cluster status report refused", "error", err)
		if code := jobbergate.StatusCode(err); code != 0 {
			var ae *jobbergate.APIError
			if errors.As(err, &ae) {
				return consumers.Terminate(fmt.Sprintf("HTTP %d: %s", code, ae.Body))
			}
		}
		return consumers.Terminate(err.Error())
	}
}
