package slurm

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// keyRe matches the start of a scontrol Key=Value token. Keys may hold ':' and '/'
// (AllocNode:Sid, CPUs/Task).
var keyRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_:/]*=`)

// ParseScontrolPairs splits one line of scontrol show ... -o into its Key=Value pairs, in order.
// A token that does not start a new key continues the previous value (values with spaces).
// Time is linear in the line's length, however many tokens a value spans. A key that appears
// more than once keeps its last value.
func ParseScontrolPairs(line string) (keys []string, values map[string]string) {
	p := scontrolPairs(line)
	return p.keys, p.last
}

// pairs is one scontrol -o line split into keys. scontrol prints values as they are, so text a
// job's owner chose (job name, comment, paths) can hold what looks like another key: a key that
// appears more than once is ambiguous, and first holds the value of its first appearance.
type pairs struct {
	keys     []string
	last     map[string]string
	first    map[string]string
	repeated map[string]bool
}

func scontrolPairs(line string) pairs {
	parts := map[string][]string{}
	p := pairs{first: map[string]string{}, repeated: map[string]bool{}}
	last := ""
	for _, tok := range strings.Split(strings.TrimRight(line, "\r\n"), " ") {
		if loc := keyRe.FindStringIndex(tok); loc != nil {
			k := tok[:loc[1]-1]
			if prev, dup := parts[k]; dup {
				if !p.repeated[k] {
					p.first[k] = strings.Join(prev, " ")
				}
				p.repeated[k] = true
			} else {
				p.keys = append(p.keys, k)
			}
			parts[k] = append(parts[k][:0:0], tok[loc[1]:])
			last = k
			continue
		}
		if last != "" && tok != "" {
			parts[last] = append(parts[last], tok)
		}
	}
	p.last = make(map[string]string, len(parts))
	for k, v := range parts {
		p.last[k] = strings.Join(v, " ")
		if !p.repeated[k] {
			p.first[k] = p.last[k]
		}
	}
	return p
}

// scontrolTime is how scontrol prints times (slurmctld's local time).
const scontrolTime = "2006-01-02T15:04:05"

// ParseScontrolLine reads one job of scontrol show job -o into JobData. JobInfo is a JSON object
// of the line's pairs (all values strings, the last of a repeated key). JobId is the line's
// first key; the owner (UserId) counts only when it appears once: a second UserId= can only
// come from text the job's owner wrote, so the owner is then unknown (UserID -1, UserName "").
// A repeated Comment= leaves Comment empty for the same reason.
func ParseScontrolLine(line string) (JobData, error) {
	p := scontrolPairs(line)
	v := p.last
	id, err := strconv.ParseInt(p.first["JobId"], 10, 64)
	if err != nil {
		return JobData{}, fmt.Errorf("Failed parse info from slurm -- no JobId in %.200q", line)
	}
	state := v["JobState"]
	if state == "" {
		return JobData{}, fmt.Errorf("Failed parse info from slurm -- job %d: %w: missing", id, ErrInvalidJobState)
	}
	j := JobData{
		JobID:                   id,
		JobState:                state,
		StateReason:             v["Reason"],
		JobInfo:                 pairsJSON(p.keys, v),
		CurrentWorkingDirectory: v["WorkDir"],
		UserID:                  -1,
	}
	if !p.repeated["UserId"] {
		j.UserName, j.UserID = nameAndID(v["UserId"])
	}
	if !p.repeated["Comment"] {
		j.Comment = v["Comment"]
	}
	if !p.repeated["SubmitTime"] {
		if t, err := time.ParseInLocation(scontrolTime, v["SubmitTime"], time.Local); err == nil {
			j.SubmitTime = t
		}
	}
	return j, nil
}

// nameAndID splits "alice(1001)" (scontrol's UserId, sacct -c's User) into the name and the
// number; id is -1 when there is no number in parentheses.
func nameAndID(s string) (name string, id int64) {
	i := strings.IndexByte(s, '(')
	if i < 0 {
		return s, -1
	}
	name, id = s[:i], -1
	if rest, ok := strings.CutSuffix(s[i+1:], ")"); ok {
		if n, err := strconv.ParseInt(rest, 10, 64); err == nil && n >= 0 {
			id = n
		}
	}
	return name, id
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
