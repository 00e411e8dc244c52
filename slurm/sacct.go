package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SacctFields are the columns asked of sacct -P (slurmdbd or jobcomp file). Comment is last:
// it is free text, so extra separators in it are kept in it.
var SacctFields = []string{
	"JobIDRaw", "JobID", "JobName", "User", "Group", "Account", "Partition", "State", "Reason",
	"ExitCode", "DerivedExitCode", "Submit", "Eligible", "Start", "End", "Elapsed", "Timelimit",
	"NNodes", "NCPUS", "NodeList", "WorkDir", "UID", "Comment",
}

// SacctDelimiter separates sacct -P columns: the ASCII unit separator, which job names, paths
// and comments do not hold (sacct's default '|' may appear in them).
const SacctDelimiter = "\x1f"

// ParseSacctParsable reads sacct -P output with a header line (as asked with SacctFields and
// SacctDelimiter, or any column set that has JobIDRaw or JobID, and State) into JobData, keeping
// the jobs keep accepts (all when nil). Step lines ("5.batch") and ids that are not plain numbers
// are skipped; when an id appears twice (a requeued job in the jobcomp file) the last line wins.
// JobInfo is a JSON object of the columns (header name to value, all strings) in sacct's order;
// job_state is the first word of State ("CANCELLED by 1001" gives CANCELLED); user_name drops the
// "(uid)" that sacct -c prints. A line that cannot be read is reported as a *JobParseError in the
// joined error and the others are still returned.
func ParseSacctParsable(out, delim string, keep func(id int64) bool) ([]JobData, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var header []string
	var order []int64
	byID := map[int64]JobData{}
	var errs []error
	for _, line := range lines {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		cols := strings.Split(line, delim)
		if header == nil {
			header = cols
			if indexOf(header, "State") < 0 || (indexOf(header, "JobIDRaw") < 0 && indexOf(header, "JobID") < 0) {
				return nil, fmt.Errorf("Failed parse info from slurm -- sacct header without JobID and State: %.200q", line)
			}
			continue
		}
		if len(cols) > len(header) {
			last := len(header) - 1
			cols = append(cols[:last], strings.Join(cols[last:], delim))
		}
		v := map[string]string{}
		for i, k := range header {
			if i < len(cols) {
				v[k] = cols[i]
			}
		}
		rawID, ok := v["JobIDRaw"]
		if !ok {
			rawID = v["JobID"]
		}
		id, err := strconv.ParseInt(rawID, 10, 64)
		if err != nil {
			continue // a step (5.batch), a het component (5+0) or an array summary
		}
		if keep != nil && !keep(id) {
			continue
		}
		if len(cols) < len(header) {
			errs = append(errs, &JobParseError{JobID: id, Err: fmt.Errorf("Failed parse info from slurm -- sacct line of job %d has %d of %d columns", id, len(cols), len(header))})
			continue
		}
		var state string
		if words := strings.Fields(v["State"]); len(words) > 0 { // any white space separates words
			state = words[0]
		}
		if state == "" {
			errs = append(errs, &JobParseError{JobID: id, Err: fmt.Errorf("Failed parse info from slurm -- job %d: %w: missing", id, ErrInvalidJobState)})
			continue
		}
		user, uid := nameAndID(v["User"])
		if n, err := strconv.ParseInt(v["UID"], 10, 64); err == nil && n >= 0 {
			uid = n
		}
		var submit time.Time
		if t, err := time.ParseInLocation(scontrolTime, v["Submit"], time.Local); err == nil {
			submit = t
		}
		if _, seen := byID[id]; !seen {
			order = append(order, id)
		}
		byID[id] = JobData{
			JobID:                   id,
			JobState:                state,
			StateReason:             v["Reason"],
			JobInfo:                 pairsJSON(header, v),
			UserName:                user,
			CurrentWorkingDirectory: v["WorkDir"],
			Comment:                 v["Comment"],
			UserID:                  uid,
			SubmitTime:              submit,
			FromAccounting:          true,
		}
	}
	if header == nil {
		return nil, fmt.Errorf("Failed parse info from slurm -- empty sacct output")
	}
	jobs := make([]JobData, 0, len(order))
	for _, id := range order {
		jobs = append(jobs, byID[id])
	}
	return jobs, errors.Join(errs...)
}

func indexOf(l []string, s string) int {
	for i, v := range l {
		if v == s {
			return i
		}
	}
	return -1
}

// pairsJSON writes keys and their values as a JSON object of strings, in the keys' order.
func pairsJSON(keys []string, v map[string]string) string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v[k])
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.String()
}

type sacctJobFields struct {
	JobID flexInt `json:"job_id"`
	State struct {
		Current json.RawMessage `json:"current"`
		Reason  string          `json:"reason"`
	} `json:"state"`
	User    string          `json:"user"`
	Cwd     string          `json:"working_directory"`
	Comment json.RawMessage `json:"comment"`
	Time    struct {
		Submission flexInt `json:"submission"`
	} `json:"time"`
}

// ParseSacctJSON reads sacct --json output (slurmdbd; openapi dbv0.0.38 of Slurm 22.05 and the
// data_parser shapes of later releases: state.current a string or a list, numbers plain or
// {set, infinite, number}) into JobData for the jobs keep accepts (all when nil). JobInfo is the
// job's object as sacct printed it (compacted); job_state is state.current, state_reason
// state.reason, user_name user, the working directory working_directory and Comment comment.job.
// When a job id appears twice (requeued jobs with --duplicates) the last one wins. A job that
// cannot be read is reported as a *JobParseError in the joined error; a document that is not JSON
// or has no "jobs" list returns an error and no jobs.
func ParseSacctJSON(data []byte, keep func(id int64) bool) ([]JobData, error) {
	var top struct {
		Jobs *[]json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("parse sacct JSON: %w", err)
	}
	if top.Jobs == nil {
		return nil, fmt.Errorf("%w from %.200q", ErrNoJobsKey, data)
	}
	var order []int64
	byID := map[int64]JobData{}
	var errs []error
	for _, raw := range *top.Jobs {
		var f sacctJobFields
		if err := json.Unmarshal(raw, &f); err != nil || !f.JobID.Set {
			errs = append(errs, &JobParseError{Err: fmt.Errorf("Failed parse info from slurm -- sacct job: %v", err)})
			continue
		}
		id := f.JobID.Value
		if keep != nil && !keep(id) {
			continue
		}
		state, err := parseJobState(f.State.Current)
		if err != nil {
			errs = append(errs, &JobParseError{JobID: id, Err: fmt.Errorf("Failed parse info from slurm -- job %d: %w", id, err)})
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			errs = append(errs, &JobParseError{JobID: id, Err: fmt.Errorf("Failed parse info from slurm -- %w", err)})
			continue
		}
		if _, seen := byID[id]; !seen {
			order = append(order, id)
		}
		byID[id] = JobData{
			JobID:                   id,
			JobState:                state,
			StateReason:             f.State.Reason,
			JobInfo:                 compact.String(),
			UserName:                f.User,
			CurrentWorkingDirectory: f.Cwd,
			Comment:                 jobComment(f.Comment),
			UserID:                  -1,
			FromAccounting:          true,
		}
		if f.Time.Submission.Set && f.Time.Submission.Value > 0 {
			j := byID[id]
			j.SubmitTime = time.Unix(f.Time.Submission.Value, 0)
			byID[id] = j
		}
	}
	jobs := make([]JobData, 0, len(order))
	for _, id := range order {
		jobs = append(jobs, byID[id])
	}
	return jobs, errors.Join(errs...)
}

// jobComment reads sacct's comment: an object {"administrator","job","system"} (the job's
// --comment is "job") or a plain string.
func jobComment(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	var o struct {
		Job string `json:"job"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.Job
}

// sacctQuery is what to ask sacct: job ids, or a submit-time window (since, up to now),
// optionally of one user (uid).
type sacctQuery struct {
	ids   []int64
	since time.Time
	uid   *uint32
}

func (q sacctQuery) selection() []string {
	if len(q.ids) > 0 {
		s := make([]string, len(q.ids))
		for i, id := range q.ids {
			s[i] = strconv.FormatInt(id, 10)
		}
		// With -j and no -S, sacct searches from the epoch.
		return []string{"-j", strings.Join(s, ",")}
	}
	sel := []string{"-S", q.since.Local().Format("2006-01-02T15:04:05"), "-E", "now"}
	if q.uid != nil {
		sel = append(sel, "-u", strconv.FormatUint(uint64(*q.uid), 10))
	}
	return sel
}

// runSacct runs one sacct call in mode and parses it. A failed call is an *AccountingError
// (errors.Is ErrAccountingUnavailable); lines that cannot be read are *JobParseError in the
// joined error next to the jobs that could.
func (c *Client) runSacct(ctx context.Context, mode AccountingMode, q sacctQuery, keep func(int64) bool) ([]JobData, error) {
	var args []string
	switch mode {
	case AccountingJSON:
		args = append([]string{"--json", "-X"}, q.selection()...)
	case AccountingParsable:
		args = append([]string{"-X", "-P", "--delimiter=" + SacctDelimiter, "-o", strings.Join(SacctFields, ",")}, q.selection()...)
	case AccountingJobComp:
		args = append([]string{"-c", "-P", "--delimiter=" + SacctDelimiter, "-o", strings.Join(SacctFields, ",")}, q.selection()...)
	default:
		return nil, nil
	}
	out, err := c.runAsAgent(ctx, c.opts.SacctPath, args...)
	if err != nil {
		c.forgetAccounting(err)
		return nil, &AccountingError{IDs: q.ids, Err: fmt.Errorf("sacct (%s): %w", mode, err)}
	}
	if mode == AccountingJSON {
		return ParseSacctJSON([]byte(out), keep)
	}
	jobs, perr := ParseSacctParsable(out, SacctDelimiter, keep)
	if perr != nil && jobs == nil && !errors.As(perr, new(*JobParseError)) {
		return nil, &AccountingError{IDs: q.ids, Err: perr}
	}
	return jobs, perr
}

// lookupAccounting asks the accounting source about ids slurmctld does not hold, in one sacct
// call. The map holds the ids accounting knows; an id it does not know is simply absent. With
// AccountingNone the map is empty and the error nil. A failed call returns an *AccountingError
// for all ids; unreadable lines are *JobParseError next to the jobs that were read.
func (c *Client) lookupAccounting(ctx context.Context, ids []int64) (map[int64]JobData, error) {
	found := map[int64]JobData{}
	if len(ids) == 0 {
		return found, nil
	}
	mode, _, err := c.accounting(ctx)
	if err != nil {
		return nil, &AccountingError{IDs: ids, Err: err}
	}
	want := make(map[int64]bool, len(ids))
	uniq := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !want[id] {
			want[id] = true
			uniq = append(uniq, id)
		}
	}
	jobs, err := c.runSacct(ctx, mode, sacctQuery{ids: uniq}, func(id int64) bool { return want[id] })
	for _, j := range jobs {
		found[j.JobID] = j
	}
	if err != nil && errors.Is(err, ErrAccountingUnavailable) {
		return nil, err
	}
	return found, err
}
