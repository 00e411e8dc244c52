package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// SyncOptions tune a Syncer; the zero value means the defaults.
type SyncOptions struct {
	// ChunkRows is the most rows per upload: 0 or anything above
	// jobbergate.MaxMetricRowsPerRequest (2,340, the API's limit) means that limit.
	ChunkRows int
}

func (o SyncOptions) withDefaults() SyncOptions {
	if o.ChunkRows <= 0 || o.ChunkRows > jobbergate.MaxMetricRowsPerRequest {
		o.ChunkRows = jobbergate.MaxMetricRowsPerRequest
	}
	return o
}

// Syncer brings the metrics the API holds for a job up to date with InfluxDB. It is safe for
// concurrent use on different jobs; two concurrent syncs of the same job may upload the same
// rows twice (the API then refuses the second, ErrChunkRejected), so callers serialise per job.
//
// A Syncer does not retry: each chunk is handed to the API once per Sync, and the API client
// retries its own transient failures (see the package doc).
type Syncer struct {
	src  influx.Source
	api  API
	log  *slog.Logger
	opts SyncOptions
}

// NewSyncer returns a Syncer reading from src and writing to api.
func NewSyncer(src influx.Source, api API, log *slog.Logger, opts SyncOptions) *Syncer {
	if log == nil {
		log = logging.Discard()
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
	// Rows and Chunks count what the API holds now that it did not before.
	Rows, Chunks int
	// Skipped lists the series left out because a tag cannot be sent ("step=foo" ...).
	Skipped []string
}

// Sync uploads the job's points newer than what the API holds: per (host, step, task) series
// only times strictly after the API's max time for it, and every point of series the API does
// not know yet (a host or step that appeared since the last sync). Rows go oldest first, in
// chunks of at most ChunkRows; nothing is uploaded when nothing is new. Because every series'
// rows go in time order, a sync that stops half way (error, cancellation) leaves the API with a
// time prefix of each series, and the next Sync resumes exactly after it.
//
// A chunk the API refuses although it already holds it (its first upload was stored but the
// answer lost, and the client's retry collided with the stored rows) counts as uploaded.
//
// Errors carry the reference agent's texts: "Could not update job metrics for slurm job <id>
// via the API -- ..." around everything, with "Failed to fetch measures from InfluxDB -- ..."
// inside for InfluxDB failures. A failed upload is a *ChunkError.
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

	maxTimes, err := s.maxTimes(ctx, submissionID)
	if err != nil {
		return res, err
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

	c := &chunker{size: s.opts.ChunkRows, upload: func(rows []jobbergate.MetricRow) error {
		if err := s.upload(ctx, log, submissionID, rows); err != nil {
			return err
		}
		res.Rows += len(rows)
		res.Chunks++
		return nil
	}}
	err = influx.Merge(ctx, streams, agg, c.add)
	if err == nil {
		err = c.flush()
	}
	res.PointsRead, res.PointsKept = agg.Points()
	res.Skipped = sortedKeys(skipped)
	if len(res.Skipped) > 0 {
		log.Warn("metric series skipped: tags the API cannot store", "tags", strings.Join(res.Skipped, ","))
	}
	switch {
	case err == nil:
	case c.err != nil && errors.Is(err, c.err):
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

// maxTimes returns what the API holds of the job: the latest stored time per series.
func (s *Syncer) maxTimes(ctx context.Context, submissionID int) (map[influx.SeriesKey]int64, error) {
	stored, err := s.api.MetricsMaxTimes(ctx, submissionID)
	if err != nil {
		return nil, err
	}
	out := make(map[influx.SeriesKey]int64, len(stored.MaxTimes))
	for _, m := range stored.MaxTimes {
		k := influx.SeriesKey{Host: m.NodeHost, Step: m.Step, Task: m.Task}
		if t, ok := out[k]; !ok || m.MaxTime > t {
			out[k] = m.MaxTime
		}
	}
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
