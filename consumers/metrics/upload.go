package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// ErrChunkRejected: the API answered a chunk upload with a client error (4xx other than 408
// and 429, e.g. 400 "Failed to insert metrics") and does not hold the chunk. Sending it again
// will not help; the sync stops there. A *ChunkError whose Rejected is true matches it.
var ErrChunkRejected = errors.New("metrics chunk rejected by the API")

// ChunkError is a chunk upload that failed: which rows, and the API client's error.
type ChunkError struct {
	// Rows is the number of rows of the chunk, First and Last the times of its first and last.
	Rows        int
	First, Last int64
	// Rejected is true when the API refused the chunk (see ErrChunkRejected); false when the
	// upload failed otherwise (transport, 5xx, 408, 429, cancellation), which a later sync may
	// get through.
	Rejected bool
	// Err is the API client's error (a *jobbergate.APIError).
	Err error
}

// Error names the chunk and the cause.
func (e *ChunkError) Error() string {
	if e.Rejected {
		return fmt.Sprintf("%v (%d rows, times %d to %d): %v", ErrChunkRejected, e.Rows, e.First, e.Last, e.Err)
	}
	return fmt.Sprintf("upload of %d rows (times %d to %d) failed: %v", e.Rows, e.First, e.Last, e.Err)
}

// Unwrap returns the API client's error.
func (e *ChunkError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrChunkRejected) true for a rejected chunk.
func (e *ChunkError) Is(target error) bool { return target == ErrChunkRejected && e.Rejected }

// upload hands one chunk to the API, once. A refusal is checked against what the API holds: a
// chunk it holds already was stored by an earlier attempt whose answer was lost, and counts as
// uploaded.
func (s *Syncer) upload(ctx context.Context, log *slog.Logger, submissionID int, rows []jobbergate.MetricRow) error {
	err := s.api.PutMetrics(ctx, submissionID, rows)
	if err == nil {
		return nil
	}
	ce := &ChunkError{Rows: len(rows), First: rows[0].Time, Last: rows[len(rows)-1].Time, Err: err}
	if !isRefusal(err) {
		return ce
	}
	held, herr := s.holds(ctx, submissionID, rows)
	if herr != nil {
		// The check's error decides (a transient one retries the message): the refusal may
		// be a lost answer.
		return fmt.Errorf("%w (checking whether the API holds a refused chunk: %v)", herr, ce)
	}
	if !held {
		ce.Rejected = true
		return ce
	}
	log.Warn("metrics chunk refused but already stored by the API (an earlier answer was lost)",
		"rows", len(rows), "error", err)
	return nil
}

// holds reports whether the API holds every row of a chunk: each row's time is at or before
// the max time stored for its series (a chunk is stored whole or not at all).
func (s *Syncer) holds(ctx context.Context, submissionID int, rows []jobbergate.MetricRow) (bool, error) {
	maxTimes, err := s.maxTimes(ctx, submissionID)
	if err != nil {
		return false, err
	}
	for _, r := range rows {
		t, ok := maxTimes[influx.SeriesKey{Host: r.Host, Step: r.Step, Task: r.Task}]
		if !ok || r.Time > t {
			return false, nil
		}
	}
	return true, nil
}

// isRefusal reports an API answer that retrying cannot change: a 4xx other than 408 and 429.
func isRefusal(err error) bool {
	var ae *jobbergate.APIError
	if !errors.As(err, &ae) {
		return false
	}
	c := ae.StatusCode
	return c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests
}
