package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/jsonscan"
)

// StateUnknown is the state the agent reports for a job Slurm does not know (any more).
const StateUnknown = "UNKNOWN"

// ErrNoJobsKey is returned when squeue/scontrol JSON has no "jobs" list.
var ErrNoJobsKey = errors.New("Failed to parse job info")

// JobData is what the agent reports about one Slurm job. JobInfo is that job's JSON object as
// Slurm printed it (compacted), "{}" for an unknown job.
type JobData struct {
	JobID                   int64  `json:"job_id"`
	JobState                string `json:"job_state"`
	StateReason             string `json:"state_reason"`
	JobInfo                 string `json:"job_info"`
	UserName                string `json:"user_name,omitempty"`
	CurrentWorkingDirectory string `json:"current_working_directory,omitempty"`
	// Comment is the job's --comment: the user's own comment, if any, and the submission's
	// marker for jobs this agent submitted (JoinComment).
	Comment string `json:"-"`
	// UserID is the uid of the job's owner, -1 when Slurm did not show it or showed it
	// ambiguously (a value forged by text the owner controls); Identity.Check then falls back
	// to UserName, which is empty in the ambiguous case.
	UserID int64 `json:"-"`
	// SubmitTime is when slurmctld accepted the job; zero when not shown.
	SubmitTime time.Time `json:"-"`
	// FromAccounting is set for a job read from accounting (sacct), which may lack comments.
	FromAccounting bool `json:"-"`
}

// UnknownJob is the data reported for an id slurmctld does not hold: state UNKNOWN, job_info
// "{}" and the reference's reason text.
func UnknownJob(id int64) JobData {
	return JobData{
		JobID:       id,
		JobState:    StateUnknown,
		StateReason: fmt.Sprintf("Slurm did not find a job matching id %d", id),
		JobInfo:     "{}",
		UserID:      -1,
	}
}

type jobFields struct {
	JobID       flexInt         `json:"job_id"`
	JobState    json.RawMessage `json:"job_state"`
	StateReason string          `json:"state_reason"`
	UserName    string          `json:"user_name"`
	Cwd         string          `json:"current_working_directory"`
	Comment     string          `json:"comment"`
	UserID      flexInt         `json:"user_id"`
	SubmitTime  flexInt         `json:"submit_time"`
}

// ParseJobObject reads one job object of squeue --json / scontrol show job --json, any Slurm
// version from 22.05 to 24.11. The object is validated and compacted into JobInfo, then only the
// members the agent needs are decoded (member names as Slurm prints them; the last of repeated
// names wins).
func ParseJobObject(raw []byte) (JobData, error) {
	var compact bytes.Buffer
	compact.Grow(len(raw))
	if err := json.Compact(&compact, raw); err != nil {
		return JobData{}, fmt.Errorf("Failed parse info from slurm -- %w", err)
	}
	var f jobFields
	var ferr error
	err := jsonscan.ObjectMembers(compact.Bytes(), func(key, value []byte) bool {
		var dst any
		switch string(key) {
		case "job_id":
			dst = &f.JobID
		case "job_state":
			f.JobState = json.RawMessage(value)
			return true
		case "state_reason":
			dst = &f.StateReason
		case "user_name":
			dst = &f.UserName
		case "current_working_directory":
			dst = &f.Cwd
		case "comment":
			dst = &f.Comment
		case "user_id":
			dst = &f.UserID
		case "submit_time":
			dst = &f.SubmitTime
		default:
			return true
		}
		if err := json.Unmarshal(value, dst); err != nil {
			ferr = fmt.Errorf("member %s: %w", key, err)
			return false
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return JobData{}, fmt.Errorf("Failed parse info from slurm -- %w", err)
	}
	if !f.JobID.Set {
		return JobData{}, fmt.Errorf("Failed parse info from slurm -- job without job_id")
	}
	state, err := parseJobState(f.JobState)
	if err != nil {
		return JobData{}, fmt.Errorf("Failed parse info from slurm -- job %d: %w", f.JobID.Value, err)
	}
	j := JobData{
		JobID:                   f.JobID.Value,
		JobState:                state,
		StateReason:             f.StateReason,
		JobInfo:                 compact.String(),
		UserName:                f.UserName,
		CurrentWorkingDirectory: f.Cwd,
		Comment:                 f.Comment,
		UserID:                  -1,
	}
	if f.UserID.Set && f.UserID.Value >= 0 {
		j.UserID = f.UserID.Value
	}
	if f.SubmitTime.Set && f.SubmitTime.Value > 0 {
		j.SubmitTime = time.Unix(f.SubmitTime.Value, 0)
	}
	return j, nil
}

// JobParseError is one job object that could not be read (for example an empty job_state list).
// It does not stop the other jobs of a batch from being read.
type JobParseError struct {
	JobID int64
	Err   error
}

func (e *JobParseError) Error() string { return e.Err.Error() }
func (e *JobParseError) Unwrap() error { return e.Err }

// ParseJobsJSON reads the "jobs" list of squeue --json (or scontrol show job --json) and returns
// the jobs keep accepts (every job when keep is nil), in Slurm's order. Only kept jobs are fully
// decoded, so a batch read of a large queue costs one pass over it plus the kept jobs. A job
// object that cannot be read is left out and reported in the returned error as a
// *JobParseError (errors.Join of them); the other jobs are still returned. A document that is
// not JSON or has no "jobs" list returns no jobs and an error.
func ParseJobsJSON(data []byte, keep func(id int64) bool) ([]JobData, error) {
	list, err := jobsList(data)
	if err != nil {
		return nil, err
	}
	var out []JobData
	var errs []error
	err = jsonscan.ArrayElements(list, func(raw []byte) bool {
		if keep != nil {
			id, ok := quickJobID(raw)
			if ok && !keep(id) {
				return true
			}
		}
		j, err := ParseJobObject(raw)
		if err != nil {
			id, _ := quickJobID(raw)
			errs = append(errs, &JobParseError{JobID: id, Err: err})
			return true
		}
		if keep == nil || keep(j.JobID) {
			out = append(out, j)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("parse slurm JSON: jobs: %w", err)
	}
	return out, errors.Join(errs...)
}

// jobsList returns the text of the "jobs" member of a squeue/scontrol JSON document.
func jobsList(data []byte) ([]byte, error) {
	var list []byte
	found := false
	err := jsonscan.ObjectMembers(data, func(key, value []byte) bool {
		if string(key) == "jobs" {
			list, found = value, true
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("parse slurm JSON: %w", err)
	}
	if !found || string(list) == "null" {
		return nil, fmt.Errorf("%w from %.200q", ErrNoJobsKey, data)
	}
	return list, nil
}

// quickJobID returns the job_id member of a job object without decoding the rest (the last
// one when it is repeated, as the full parse takes it); ok is false when it cannot be read that
// way (the full parse then decides).
func quickJobID(raw []byte) (id int64, ok bool) {
	var last []byte
	if jsonscan.ObjectMembers(raw, func(key, value []byte) bool {
		if string(key) == "job_id" {
			last = value
		}
		return true
	}) != nil || last == nil {
		return 0, false
	}
	var f flexInt
	if json.Unmarshal(last, &f) != nil || !f.Set {
		return 0, false
	}
	return f.Value, true
}

// JobStates reads the state of every id singly (scontrol show job <id>, in a state session
// when the client has them; see JobState), at most max(1, Options.StateSessions) reads at a
// time, so that its cost follows len(ids) and not the number of jobs slurmctld holds: no read of
// the whole queue, no other user's job parsed. Every read is made after the call began, so an
// id slurmctld does not hold is gone (or never existed); those are looked up together with one
// sacct call (see AccountingMode), and only ids accounting does not know either come back as
// UnknownJob. Without error the map holds exactly the requested ids. A job whose read failed or
// whose record cannot be read is missing from the map and named in the error, and when the sacct
// lookup fails (slurmdbd down) the ids it was for are missing and the error is an
// *AccountingError (errors.Is ErrAccountingUnavailable) rather than a wrong UNKNOWN; the other
// ids are still returned: one odd job never blocks the batch.
func (c *Client) JobStates(ctx context.Context, ids []int64) (map[int64]JobData, error) {
	res := make(map[int64]JobData, len(ids))
	ids = uniqueIDs(ids)
	if len(ids) == 0 {
		return res, nil
	}
	type answer struct {
		id    int64
		job   JobData
		found bool
		err   error
	}
	work := make(chan int64)
	answers := make(chan answer, len(ids)) // workers never wait on a caller that left
	workers := min(max(1, c.opts.StateSessions), len(ids))
	for range workers {
		go func() {
			for id := range work {
				j, found, err := c.scontrolJob(ctx, id)
				answers <- answer{id: id, job: j, found: found, err: err}
			}
		}()
	}
	go func() {
		defer close(work)
		for _, id := range ids {
			select {
			case work <- id:
			case <-ctx.Done():
				return
			}
		}
	}()
	var errs []error
	notHeld := make(map[int64]bool)
	for range ids {
		var a answer
		select {
		case a = <-answers:
		case <-ctx.Done():
			// The workers finish the reads they began (each bounded by ctx) and exit.
			return res, errors.Join(append(errs, ctx.Err())...)
		}
		switch {
		case a.err != nil:
			errs = append(errs, a.err)
		case a.found:
			res[a.id] = a.job
		default:
			notHeld[a.id] = true
		}
	}
	var missing []int64 // in the order asked
	for _, id := range ids {
		if notHeld[id] {
			missing = append(missing, id)
		}
	}
	return res, errors.Join(append(errs, c.resolveMissing(ctx, res, missing))...)
}

// uniqueIDs returns ids without repeats, in their first order.
func uniqueIDs(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// resolveMissing looks ids slurmctld does not hold up in accounting and stores the result in
// res: the job accounting knows, else UnknownJob. When the lookup fails the ids stay out of res
// and the error says so.
func (c *Client) resolveMissing(ctx context.Context, res map[int64]JobData, missing []int64) error {
	if len(missing) == 0 {
		return nil
	}
	found, err := c.lookupAccounting(ctx, missing)
	if errors.Is(err, ErrAccountingUnavailable) {
		c.logger.WarnContext(ctx, "sacct lookup failed; jobs left unresolved", "job_ids", missing, "error", err)
		return err
	}
	failed := map[int64]bool{}
	var pe *JobParseError
	for _, e := range unjoin(err) {
		if errors.As(e, &pe) {
			failed[pe.JobID] = true
		}
	}
	for _, id := range missing {
		if j, ok := found[id]; ok {
			res[id] = j
		} else if !failed[id] {
			res[id] = UnknownJob(id)
		}
	}
	return err
}

// unjoin returns the errors joined in err (err itself when it is not a join).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// JobState reads one job with scontrol show job <id> -o (every Slurm version has it; --json
// only exists from 23.02). An id slurmctld does not hold is looked up with sacct (see
// JobStates) and comes back as UnknownJob when accounting does not know it either; a failed
// sacct lookup is an *AccountingError. JobInfo is a JSON object of scontrol's Key=Value pairs in
// scontrol's order (of sacct's columns, or sacct's job object, for a job read from accounting).
func (c *Client) JobState(ctx context.Context, id int64) (JobData, error) {
	j, ok, err := c.scontrolJob(ctx, id)
	if err != nil || ok {
		return j, err
	}
	res := map[int64]JobData{}
	if err := c.resolveMissing(ctx, res, []int64{id}); err != nil {
		return JobData{}, err
	}
	return res[id], nil
}

// scontrolJob reads one job with scontrol show job <id> (--json on 23.02 and later, -o before:
// see jsonRecords), in a state session when the client has them and it answers with the job,
// else with a scontrol of its own; ok is false when slurmctld does not hold it.
func (c *Client) scontrolJob(ctx context.Context, id int64) (JobData, bool, error) {
	flags := c.stateReadFlags(ctx, true)
	asJSON := slices.Contains(flags, "--json")
	if c.states != nil {
		if lines, ok := c.states.showJob(ctx, id); ok {
			// A JSON answer is whole even without the job (an empty list: slurmctld does not
			// hold it); a -o answer without the job's line falls back to a scontrol of its own.
			if j, found, err := jobFromAnswer(lines, id, asJSON); err == nil && (found || asJSON) {
				return j, found, nil
			}
		}
	}
	args := append(flags, "show", "job", strconv.FormatInt(id, 10))
	if !asJSON {
		args = append(args, "-o")
	}
	out, err := c.runAsAgent(ctx, c.opts.ScontrolPath, args...)
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr+ce.Stdout, "Invalid job id") {
			return JobData{}, false, nil
		}
		return JobData{}, false, fmt.Errorf("scontrol show job %d: %w", id, err)
	}
	return jobFromAnswer(strings.Split(out, "\n"), id, asJSON)
}

// jobFromAnswer returns job id from what scontrol show job printed: a JSON document (with
// --json) or -o lines.
func jobFromAnswer(lines []string, id int64, asJSON bool) (JobData, bool, error) {
	if !asJSON {
		return jobFromScontrol(lines, id)
	}
	doc := []byte(strings.Join(lines, "\n"))
	if err := jsonErrors(doc); err != nil {
		return JobData{}, false, fmt.Errorf("scontrol show job %d --json: %w", id, err)
	}
	jobs, err := ParseJobsJSON(doc, func(j int64) bool { return j == id })
	if err != nil {
		return JobData{}, false, err
	}
	if len(jobs) == 0 {
		return JobData{}, false, nil // --json prints an empty list for an id slurmctld does not hold
	}
	return jobs[0], true, nil
}

// jsonErrors returns the "errors" a Slurm JSON document reports, as one error (nil when the
// list is empty or absent).
func jsonErrors(doc []byte) error {
	var top struct {
		Errors []struct {
			Description string `json:"description"`
			Error       string `json:"error"`
			Source      string `json:"source"`
		} `json:"errors"`
	}
	if json.Unmarshal(doc, &top) != nil || len(top.Errors) == 0 {
		return nil
	}
	var msgs []string
	for _, e := range top.Errors {
		msgs = append(msgs, strings.TrimSpace(e.Source+" "+e.Error+" "+e.Description))
	}
	return fmt.Errorf("slurm reported: %s", strings.Join(msgs, "; "))
}

// jobFromScontrol returns job id from scontrol -o lines (an array job prints one per task);
// found is false when none is it. scontrol prints values as they are, so a value with a newline
// (a job name set by its owner) continues on the next line: a line that does not start with
// JobId= is joined to the record before it. Only the first record of job id is parsed.
func jobFromScontrol(lines []string, id int64) (JobData, bool, error) {
	records := scontrolRecords(lines)
	prefix := "JobId=" + strconv.FormatInt(id, 10)
	for _, rec := range records {
		if rec != prefix && !strings.HasPrefix(rec, prefix+" ") {
			continue // another task of an array, or a line forged by a value
		}
		j, err := ParseScontrolLine(rec)
		if err != nil {
			return JobData{}, false, err
		}
		return j, true, nil
	}
	return JobData{}, false, nil
}
