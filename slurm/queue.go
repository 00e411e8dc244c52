package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/jsonscan"
)

// QueueJobs reads every job slurmctld holds, in every state, with one command run as the agent,
// in the form job records take on this Slurm (see jsonRecords): squeue --json --states=all on
// 23.02 and later (scontrol --json show job where squeue has no JSON output), scontrol show
// job -o on 22.05. The jobs are indexed by id in one pass and decoded only when asked for (see
// Queue). Job objects whose id cannot be read are named in the error (*JobParseError,
// errors.Join of them) next to a usable Queue; a nil Queue with an error means nothing could be
// read. Jobs slurmctld no longer holds are not in the queue: see ResolveGone.
func (c *Client) QueueJobs(ctx context.Context) (*Queue, error) {
	if !c.jsonRecords(ctx) {
		jobs, err := c.scontrolAll(ctx)
		if jobs == nil {
			return nil, err
		}
		return NewQueue(jobs), err
	}
	q, err := c.indexJSON(ctx, c.opts.SqueuePath, "--json", "--states=all")
	var ce *CommandError
	if errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.Stderr), "json") {
		c.logger.WarnContext(ctx, "squeue --json unavailable, reading the queue with scontrol --json", "error", err)
		return c.indexJSON(ctx, c.opts.ScontrolPath, "--json", "show", "job")
	}
	return q, err
}

// indexJSON runs program as the agent and indexes the JSON job list it prints (IndexJobsJSON).
func (c *Client) indexJSON(ctx context.Context, program string, args ...string) (*Queue, error) {
	var q *Queue
	_, err := c.runAsAgentStream(ctx, func(r io.Reader) error {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r); err != nil {
			return fmt.Errorf("read %s output: %w", strings.Join(args, " "), err)
		}
		var perr error
		q, perr = IndexJobsJSON(buf.Bytes())
		return perr
	}, program, args...)
	var ce *CommandError
	if err != nil && (errors.As(err, &ce) || q == nil) {
		return nil, fmt.Errorf("%s %s: %w", program, strings.Join(args, " "), err)
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

// scontrolAll reads every job with one scontrol show job -o (all Slurm versions). scontrol
// prints values as they are, so a job's name or comment can hold a newline followed by what
// looks like another job's record: only records whose id squeue lists (squeue -h -t all -o %i,
// whose output no user controls) count, and an id with more than one record is read again on
// its own (scontrol show job <id> prints that job's record first).
func (c *Client) scontrolAll(ctx context.Context) ([]JobData, error) {
	listed, err := c.listIDs(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.runAsAgent(ctx, c.opts.ScontrolPath, "show", "job", "-o")
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr+ce.Stdout, "No jobs in the system") {
			return []JobData{}, nil
		}
		return nil, fmt.Errorf("scontrol show job: %w", err)
	}
	byID := map[int64]JobData{}
	seen := map[int64]int{}
	var order []int64
	var errs []error
	for _, rec := range scontrolRecords(strings.Split(out, "\n")) {
		j, err := ParseScontrolLine(rec)
		if err != nil {
			errs = append(errs, &JobParseError{Err: err})
			continue
		}
		if !listed[j.JobID] {
			continue // a record forged by a value, for an id slurmctld does not hold
		}
		if seen[j.JobID]++; seen[j.JobID] == 1 {
			order = append(order, j.JobID)
		}
		byID[j.JobID] = j
	}
	jobs := make([]JobData, 0, len(order))
	for _, id := range order {
		j := byID[id]
		if seen[id] > 1 {
			single, found, err := c.scontrolJob(ctx, id)
			if err != nil || !found {
				errs = append(errs, &JobParseError{JobID: id, Err: fmt.Errorf("job %d: several records and no single read: %v", id, err)})
				continue
			}
			j = single
		}
		jobs = append(jobs, j)
	}
	return jobs, errors.Join(errs...)
}

// listIDs lists the ids of every job slurmctld holds, in every state (squeue -h -t all -o %i:
// numbers only, which no job's owner can forge).
func (c *Client) listIDs(ctx context.Context) (map[int64]bool, error) {
	out, err := c.runAsAgent(ctx, c.opts.SqueuePath, "-h", "--states=all", "--format=%i")
	if err != nil {
		return nil, fmt.Errorf("squeue job ids: %w", err)
	}
	ids := map[int64]bool{}
	for _, f := range strings.Fields(out) {
		if id, err := strconv.ParseInt(f, 10, 64); err == nil {
			ids[id] = true
		}
	}
	return ids, nil
}

// scontrolRecords joins scontrol -o lines into records: a line that does not start with JobId=
// continues the record before it (a value with a newline in it), and so does a line that does
// but follows a record without JobState= (every real record has one: a job name with a newline
// cut the record before the state, and what follows the newline is the rest of that job's
// record, whatever it starts with).
func scontrolRecords(lines []string) []string {
	var records []string
	for _, line := range lines {
		switch {
		case strings.HasPrefix(line, "JobId=") && (len(records) == 0 || hasState(records[len(records)-1])):
			records = append(records, line)
		case len(records) > 0:
			records[len(records)-1] += "\n" + line
		}
	}
	for i := range records {
		records[i] = strings.TrimRight(records[i], "\n")
	}
	return records
}

// stateKeyRe finds the JobState= key of a scontrol record.
var stateKeyRe = regexp.MustCompile(`(^|[ \n])JobState=`)

func hasState(record string) bool { return stateKeyRe.MatchString(record) }

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
