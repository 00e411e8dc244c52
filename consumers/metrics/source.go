package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// ErrBadJob is wrapped by DecodeJob for a payload that is not a valid Job.
var ErrBadJob = errors.New("invalid metrics message")

// Job is the payload of a METRICS message.
type Job struct {
	SubmissionID int `json:"submission_id"`
	SlurmJobID   int `json:"slurm_job_id"`
}

// DecodeJob decodes and validates a METRICS payload: both ids are required and positive.
func DecodeJob(data []byte) (Job, error) {
	var raw struct {
		SubmissionID *int `json:"submission_id"`
		SlurmJobID   *int `json:"slurm_job_id"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Job{}, fmt.Errorf("%w: %v", ErrBadJob, err)
	}
	if raw.SubmissionID == nil || *raw.SubmissionID <= 0 {
		return Job{}, fmt.Errorf("%w: submission_id missing or not positive", ErrBadJob)
	}
	if raw.SlurmJobID == nil || *raw.SlurmJobID <= 0 {
		return Job{}, fmt.Errorf("%w: slurm_job_id missing or not positive", ErrBadJob)
	}
	return Job{SubmissionID: *raw.SubmissionID, SlurmJobID: *raw.SlurmJobID}, nil
}

// SourceOptions configures NewSource.
type SourceOptions struct {
	// Interval is the metrics cycle (TASK_JOBS_INTERVAL_SECONDS); default 60 s. The source
	// lists the API at most once per cycle however often the bridge polls it.
	Interval time.Duration
	// Now is the clock the cycle number is derived from; default time.Now.
	Now func() time.Time
}

func (o SourceOptions) withDefaults() SourceOptions {
	if o.Interval <= 0 {
		o.Interval = 60 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// MsgID is the Nats-Msg-Id of submission id's metrics message in cycle.
func MsgID(id int, cycle int64) string {
	return "metrics-" + strconv.Itoa(id) + "-" + strconv.FormatInt(cycle, 10)
}

// Messages turns an already-fetched list of active submissions into the cycle's METRICS
// messages: one per submission with a Slurm job id (the others are skipped).
func Messages(topo broker.Topology, subs []jobbergate.ActiveSubmission, cycle int64) ([]bridge.Outgoing, error) {
	out := make([]bridge.Outgoing, 0, len(subs))
	for _, s := range subs {
		if s.SlurmJobID == nil || *s.SlurmJobID <= 0 {
			continue
		}
		data, err := json.Marshal(Job{SubmissionID: s.ID, SlurmJobID: *s.SlurmJobID})
		if err != nil {
			return nil, fmt.Errorf("metrics source: encode submission %d: %w", s.ID, err)
		}
		id := strconv.Itoa(s.ID)
		out = append(out, bridge.Outgoing{
			Subject: topo.Metrics.Subject(id),
			Data:    data,
			Header:  nats.Header{broker.HeaderSubmissionID: []string{id}},
			MsgID:   MsgID(s.ID, cycle),
		})
	}
	return out, nil
}

// NewSource returns the bridge source of the metrics path (see the package doc). Poll is safe
// for concurrent use; it returns no messages for a cycle it already listed successfully, and a
// failing list fails the whole poll (nothing is published from a partial list).
func NewSource(api jobbergate.ActiveLister, topo broker.Topology, opts SourceOptions) bridge.Source {
	opts = opts.withDefaults()
	return bridge.PerCycle("metrics", opts.Interval, opts.Now, func(ctx context.Context, cycle int64) ([]bridge.Outgoing, error) {
		subs, err := api.ActiveSubmissions(ctx)
		if err != nil {
			return nil, fmt.Errorf("metrics source: %w", err)
		}
		return Messages(topo, subs, cycle)
	})
}
