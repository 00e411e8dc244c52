package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// ErrNoSource and ErrNoAPI are returned by NewHandler when a dependency is missing.
var (
	ErrNoSource = errors.New("metrics: Options.Source is required")
	ErrNoAPI    = errors.New("metrics: Options.API is required")
)

// DefaultRefusedHold is how long a job whose metrics the API refused is left alone.
const DefaultRefusedHold = time.Hour

// Options configures NewHandler. Source and API are required.
type Options struct {
	// Source reads the samples (influx.NewInfluxQL or influx.NewFlux).
	Source influx.Source
	// API stores them; *jobbergate.Client implements it.
	API API
	// Sync tunes the uploads (chunk size).
	Sync SyncOptions
	// RefusedHold is how long a job is held after the API refused its metrics (see the package
	// doc). 0 means DefaultRefusedHold; negative disables holding.
	RefusedHold time.Duration
	// Now is the clock of the holds; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger

	// OnPoints, when set, is called after each sync with the number of points read from
	// InfluxDB (telemetry.Metrics.AddInfluxPoints fits). OnChunks, when set, is called after
	// each chunk upload attempt with (1, 0) for a stored chunk and (0, 1) for a failed one
	// (telemetry.Metrics.AddUploadChunks fits). Both are called from concurrent handlers and
	// must be safe for concurrent use.
	OnPoints func(n int)
	OnChunks func(ok, failed int)
}

// Handler is the metrics consumer's consumers.Handler (see the package doc for its decisions).
// It is safe for concurrent use on different jobs; the METRICS queue guarantees it never sees
// two messages of one job at once.
type Handler struct {
	syncer *Syncer
	log    *slog.Logger
	opts   Options
	holds  *holds
}

var _ consumers.Handler = (*Handler)(nil)

// NewHandler returns a Handler syncing from opts.Source to opts.API.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Source == nil {
		return nil, ErrNoSource
	}
	if opts.API == nil {
		return nil, ErrNoAPI
	}
	if opts.RefusedHold == 0 {
		opts.RefusedHold = DefaultRefusedHold
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = logging.Discard()
	}
	api := opts.API
	if opts.OnChunks != nil {
		api = countingAPI{API: api, onChunks: opts.OnChunks}
	}
	return &Handler{
		syncer: NewSyncer(opts.Source, api, log, opts.Sync),
		log:    log,
		opts:   opts,
		holds:  newHolds(),
	}, nil
}

// Handle syncs the job of one METRICS message and decides what becomes of the message.
func (h *Handler) Handle(ctx context.Context, msg *consumers.Message) consumers.Decision {
	job, err := DecodeJob(msg.Data)
	if err != nil {
		h.log.Error("metrics message dropped to DEAD", "subject", msg.Subject, "error", err)
		return consumers.Terminate(err.Error())
	}
	log := h.log.With("submission_id", job.SubmissionID, "slurm_job_id", job.SlurmJobID)
	if until, held := h.holds.heldUntil(job.SubmissionID, h.opts.Now()); held {
		log.Debug("metrics sync skipped: job held after the API refused its metrics", "until", until)
		return consumers.Ack()
	}

	_, err = h.sync(ctx, job)
	var ce *ChunkError
	if errors.As(err, &ce) && ce.Rejected {
		reason := "metrics refused by the API: " + rejectedDetail(err)
		if h.opts.RefusedHold > 0 {
			now := h.opts.Now()
			until := now.Add(h.opts.RefusedHold)
			h.holds.hold(job.SubmissionID, now, until)
			reason += fmt.Sprintf("; job held until %s", until.UTC().Format(time.RFC3339))
		}
		log.Error("metrics refused by the API, message dropped to DEAD", "error", err)
		return consumers.Terminate(reason)
	}
	if err == nil {
		return consumers.Ack()
	}
	d := decide(ctx, msg, err)
	if d.IsTerminate() {
		log.Error("metrics sync failed for good, message dropped to DEAD", "error", err)
	} else {
		log.Warn("metrics sync failed, will retry", "delivery", msg.NumDelivered, "error", err)
	}
	return d
}

func (h *Handler) sync(ctx context.Context, job Job) (Result, error) {
	res, err := h.syncer.Sync(ctx, job.SubmissionID, job.SlurmJobID)
	if h.opts.OnPoints != nil && res.PointsRead > 0 {
		h.opts.OnPoints(int(res.PointsRead))
	}
	return res, err
}

// countingAPI reports every chunk upload to onChunks.
type countingAPI struct {
	API
	onChunks func(ok, failed int)
}

func (c countingAPI) PutMetrics(ctx context.Context, id int, rows []jobbergate.MetricRow) error {
	err := c.API.PutMetrics(ctx, id, rows)
	if err != nil {
		c.onChunks(0, 1)
	} else {
		c.onChunks(1, 0)
	}
	return err
}
