package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// SyncOptions tune a Syncer; the zero value means the defaults.
type SyncOptions struct {
	// ChunkRows is the most rows per upload: 0 or anything above
	// jobbergate.MaxMetricRowsPerRequest (2,340, the API's limit) means that limit.
	ChunkRows int
	// Attempts bounds the uploads of one chunk, first included (0: 3). The jobbergate client
	// may retry each attempt on its own.
	Attempts int
	// InitialBackoff (0: 500 ms) doubles after each failed attempt up to MaxBackoff (0: 10 s),
	// with jitter.
	InitialBackoff, MaxBackoff time.Duration
}

func (o SyncOptions) withDefaults() SyncOptions {
	if o.ChunkRows <= 0 || o.ChunkRows > jobbergate.MaxMetricRowsPerRequest {
		o.ChunkRows = jobbergate.MaxMetricRowsPerRequest
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.InitialBackoff)
	return o
}

// Syncer brings the metrics the API holds for a job up to date with InfluxDB. It is safe for
// concurrent use on different jobs; two concurrent syncs of the same job may upload the same
// rows twice (the API then refuses the second, ErrChunkRejected), so callers serialise per job.
type Syncer struct {
	src  influx.Source
	api  API
	log  *slog.Logger
	opts SyncOptions
}

// NewSyncer returns a Syncer reading from src and writing to api.
func NewSyncer(src influx.Source, api API, log *slog.Logger, opts SyncOptions) *Syncer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Syncer{src: src, api: api, log: log, opts: opts.withDefaults()}
}

// Result says what one Sync did.
type Result struct {
	// Series is the number of (host, step, task) series of the job in InfluxDB; NewSeries
	// those the API held nothing for; ActiveSeries those with points newer than the API's.
	Series, NewSeries, ActiveSeries int
	// Queries is the number of measurement queries run.
	Queries int
	// PointsRead counts the points read from InfluxDB, PointsKept those that went into rows
	// (the others were already stored or belong to skipped series).
	PointsRead, PointsKept int64
	// Rows and Chunks count what the API accepted.
	Rows, Chunks int
	// Skipped lists the series left out because a tag cannot be sent ("step=foo" ...).
	Skipped []string
}

// Sync uploads the job's points newer than what the API holds: per (host, step, task) series
// only times strictly after the API's max time for it, and every point of series the API does
// not know yet (a host or step that appeared since the last sync). Rows go oldest first, in
// chunks of at most ChunkRows, each retried on its own; nothing is uploaded when nothing is
// new. Because every series' rows go in time order, a sync that stops half way (error,
// cancellation) leaves the API with a time prefix of each series, and the next Sync resumes
// exactly after it.
//
// Errors carry the reference agent's texts: "Could not update job metrics for slurm job <id>
// via the API -- ..." around everything, with "Failed to fetch measures from InfluxDB -- ..."
// inside for InfluxDB failures. A rejected chunk wraps ErrChunkRejected.
func (s *Syncer) Sync(ctx context.Context, submissionID, slurmJobID int) (Result, error) {
	res, err := s.sync(ctx, submissionID, slurmJobID)
	if err != nil {
		return res, fmt.Errorf("Could not update job metrics for slurm job %d via the API -- %w", slurmJobID, err)
	}
	return res, nil
}

func (s *Syncer) sync(ctx context.Context, submissionID, slurmJobID int) (Result, error) {
	var res Result
	job := strconv.Itoa(slurmJobID)
	log := s.log.With("submission_id", submissionID, "slurm_job_id", slurmJobID)

	stored, err := s.api.MetricsMaxTimes(ctx, submissionID)
	if err != nil {
		return res, err
	}
	maxTimes := make(map[influx.SeriesKey]int64, len(stored.MaxTimes))
	for _, m := range stored.MaxTimes {
		k := influx.SeriesKey{Host: m.NodeHost, Step: m.Step, Task: m.Task}
		if t, ok := maxTimes[k]; !ok || m.MaxTime > t {
			maxTimes[k] = m.MaxTime
		}
	}

	spans, err := s.src.Series(ctx, job)
	if err != nil {
		return res, fmt.Errorf("Failed to fetch measures from InfluxDB -- %w", err)
	}
	plan := planQueries(spans, maxTimes)
	res.Series, res.NewSeries, res.ActiveSeries = plan.series, plan.newSeries, plan.active
	skipped := map[string]bool{}
	for _, b := range plan.bad {
		skipped[b] = true
	}

	agg := influx.NewAggregator(
		func(k influx.SeriesKey) int64 {
			if t, ok := maxTimes[k]; ok {
				return t
			}
			return influx.All
		},
		func(tag, value string, k influx.SeriesKey) { skipped[tag+"="+value] = true },
	)
	var streams []influx.Stream
	for m, after := range plan.after {
		if !plan.query[m] {
			continue
		}
		st, err := s.src.Query(ctx, job, m, after)
		if err != nil {
			for _, o := range streams {
				_ = o.Close()
			}
			return res, fmt.Errorf("Failed to fetch measures from InfluxDB -- %w", err)
		}
		streams = append(streams, st)
		res.Queries++
	}

	chunk := make([]jobbergate.MetricRow, 0, min(s.opts.ChunkRows, 256))
	var uploadErr error
	upload := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := s.put(ctx, submissionID, chunk); err != nil {
			uploadErr = err
			return err
		}
		res.Rows += len(chunk)
		res.Chunks++
		chunk = chunk[:0]
		return nil
	}
	emit := func(rows []influx.Row) error {
		for _, r := range rows {
			chunk = append(chunk, jobbergate.MetricRow(r))
			if len(chunk) == s.opts.ChunkRows {
				if err := upload(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err = influx.Merge(ctx, streams, agg, emit)
	if err == nil {
		err = upload()
	}
	res.PointsRead, res.PointsKept = agg.Points()
	res.Skipped = sortedKeys(skipped)
	if len(res.Skipped) > 0 {
		log.Warn("metric series skipped: tags the API cannot store", "tags", strings.Join(res.Skipped, ","))
	}
	switch {
	case err == nil:
	case uploadErr != nil && errors.Is(err, uploadErr):
		return res, err
	case ctx.Err() != nil:
		return res, err
	default:
		return res, fmt.Errorf("Failed to fetch measures from InfluxDB -- %w", err)
	}
	if res.Rows > 0 {
		log.Info("job metrics uploaded", "rows", res.Rows, "chunks", res.Chunks,
			"points", res.PointsRead, "new_series", res.NewSeries)
	} else {
		log.Debug("no new job metrics", "points", res.PointsRead)
	}
	return res, nil
}

// put uploads one chunk with bounded retries; a client error is final.
func (s *Syncer) put(ctx context.Context, submissionID int, rows []jobbergate.MetricRow) error {
	backoff := s.opts.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := s.api.PutMetrics(ctx, submissionID, rows)
		if err == nil {
			return nil
		}
		first, last := rows[0].Time, rows[len(rows)-1].Time
		if isFinal(err) {
			return fmt.Errorf("%w (%d rows, times %d to %d): %w", ErrChunkRejected, len(rows), first, last, err)
		}
		if attempt >= s.opts.Attempts || ctx.Err() != nil {
			return fmt.Errorf("upload of %d rows (times %d to %d) failed after %d attempts: %w",
				len(rows), first, last, attempt, err)
		}
		s.log.Warn("metrics chunk upload failed, retrying", "submission_id", submissionID,
			"attempt", attempt, "rows", len(rows), "error", err)
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("upload of %d rows interrupted: %w (last error: %v)", len(rows), ctx.Err(), err)
		}
		backoff = min(backoff*2, s.opts.MaxBackoff)
	}
}

// isFinal reports an API answer that retrying cannot change: a 4xx other than 408 and 429.
func isFinal(err error) bool {
	var ae *jobbergate.APIError
	if !errors.As(err, &ae) {
		return false
	}
	c := ae.StatusCode
	return c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests
}
