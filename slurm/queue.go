package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/jsonscan"
)

// QueueJobs reads every job slurmctld holds with one command run as the agent: squeue --json
// (a queue of 10,000 jobs prints about 40 MB), or, where squeue has no JSON output, scontrol
// show job -o. The jobs are indexed by id in one pass and decoded only when asked for (see
// Queue). Job objects whose id cannot be read are named in the error (*JobParseError, errors.Join
// of them) next to a usable Queue; a nil Queue with an error means nothing could be read. Jobs
// slurmctld no longer holds are not in the queue: see ResolveGone.
func (c *Client) QueueJobs(ctx context.Context) (*Queue, error) {
	var q *Queue
	_, err := c.runAsAgentStream(ctx, func(r io.Reader) error {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r); err != nil {
			return fmt.Errorf("read squeue --json output: %w", err)
		}
		var perr error
		q, perr = IndexJobsJSON(buf.Bytes())
		return perr
	}, c.opts.SqueuePath, "--json", "--states=all")
	var ce *CommandError
	switch {
	case errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.Stderr), "json"):
		c.logger.WarnContext(ctx, "squeue --json unavailable, reading the queue with scontrol", "error", err)
		jobs, err := c.scontrolAll(ctx)
		if jobs == nil {
			return nil, err
		}
		return NewQueue(jobs), err
	case err != nil && (ce != nil || q == nil):
		return nil, fmt.Errorf("squeue --json: %w", err)
	}
	return q, err
}

// Queue is one read of every job slurmctld held. Job objects are kept as Slurm printed them and
// decoded the first time they are asked for, so a large queue costs one pass to index plus the
// jobs the caller looks at. Safe for concurrent use.
type Queue struct {
	mu      sync.Mutex
	raw     map[int64][]byte
	decoded map[int64]decodedJob
}

type decodedJob struct {
	job JobData
	err error
}

// NewQueue returns a Queue holding jobs already decoded (the last of repeated ids wins).
func NewQueue(jobs []JobData) *Queue {
	q := &Queue{raw: map[int64][]byte{}, decoded: make(map[int64]decodedJob, len(jobs))}
	for _, j := range jobs {
		q.decoded[j.JobID] = decodedJob{job: j}
	}
	return q
}

// IndexJobsJSON indexes the "jobs" list of squeue --json by job id without decoding the jobs.
// data is kept (not copied) until the Queue is dropped. A job object whose id cannot be read is
// left out and named in the error (*JobParseError); a document that is not JSON or has no
// "jobs" list returns a nil Queue and an error.
func IndexJobsJSON(data []byte) (*Queue, error) {
	list, err := jobsList(data)
	if err != nil {
		return nil, err
	}
	q := &Queue{raw: map[int64][]byte{}, decoded: map[int64]decodedJob{}}
	var errs []error
	err = jsonscan.ArrayElements(list, func(raw []byte) bool {
		id, ok := quickJobID(raw)
		if !ok {
			_, perr := ParseJobObject(raw)
			if perr == nil {
				perr = errors.New("Failed parse info from slurm -- job_id not readable")
			}
			errs = append(errs, &JobParseError{Err: perr})
			return true
		}
		q.raw[id] = raw
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("parse slurm JSON: jobs: %w", err)
	}
	return q, errors.Join(errs...)
}

// Len returns the number of jobs in the queue.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.decoded)
	for id := range q.raw {
		if _, ok := q.decoded[id]; !ok {
			n++
		}
	}
	return n
}

// Job returns job id: ok is false when the queue does not hold it; a job object that cannot be
// decoded returns ok true and a *JobParseError.
func (q *Queue) Job(id int64) (j JobData, ok bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if d, ok := q.decoded[id]; ok {
		return d.job, true, d.err
	}
	raw, ok := q.raw[id]
	if !ok {
		return JobData{}, false, nil
	}
	j, err = ParseJobObject(raw)
	if err != nil {
		err = &JobParseError{JobID: id, Err: err}
	}
	q.decoded[id] = decodedJob{job: j, err: err}
	delete(q.raw, id)
	return j, true, err
}

// errNoSqueueJSON is returned by queueJobs when squeue has no JSON output (no openapi plugin).
var errNoSqueueJSON = errors.New("squeue has no JSON output")

// queueJobs returns the jobs of squeue --json that keep accepts (all when keep is nil). A nil
// slice with an error means nothing could be read; errNoSqueueJSON asks for a fallback.
func (c *Client) queueJobs(ctx context.Context, keep func(int64) bool) ([]JobData, error) {
	var jobs []JobData
	_, err := c.runAsAgentStream(ctx, func(r io.Reader) error {
		var perr error
		jobs, perr = DecodeJobsJSON(r, keep)
		return perr
	}, c.opts.SqueuePath, "--json", "--states=all")
	var ce *CommandError
	switch {
	case errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.Stderr), "json"):
		return nil, fmt.Errorf("%w: %w", errNoSqueueJSON, err)
	case err != nil && ce != nil:
		return nil, fmt.Errorf("squeue --json: %w", err)
	case err != nil && jobs == nil:
		return nil, fmt.Errorf("squeue --json: %w", err)
	}
	return jobs, err
}

// scontrolAll reads every job with one scontrol show job -o (all Slurm versions).
func (c *Client) scontrolAll(ctx context.Context) ([]JobData, error) {
	out, err := c.runAsAgent(ctx, c.opts.ScontrolPath, "show", "job", "-o")
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr+ce.Stdout, "No jobs in the system") {
			return []JobData{}, nil
		}
		return nil, fmt.Errorf("scontrol show job: %w", err)
	}
	jobs := []JobData{}
	var errs []error
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "No jobs in the system") {
			continue
		}
		j, err := ParseScontrolLine(line)
		if err != nil {
			errs = append(errs, &JobParseError{Err: err})
			continue
		}
		jobs = append(jobs, j)
	}
	return jobs, errors.Join(errs...)
}

// ResolveGone looks up jobs slurmctld no longer holds (finished more than MinJobAge ago, or
// never existed) with one accounting call for all of them (see AccountingMode): each id comes
// back as accounting knows it, or as UnknownJob when accounting does not know it either. When
// the lookup fails (slurmdbd down) the map holds none of them and the error is an
// *AccountingError, never a wrong UNKNOWN; an unreadable accounting record leaves its id out and
// is named in the error (*JobParseError).
func (c *Client) ResolveGone(ctx context.Context, ids []int64) (map[int64]JobData, error) {
	res := make(map[int64]JobData, len(ids))
	return res, c.resolveMissing(ctx, res, ids)
}
