package slurm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// keyRe matches the start of a scontrol Key=Value token. Keys may hold ':' and '/'
// (AllocNode:Sid, CPUs/Task).
var keyRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_:/]*=`)

// ParseScontrolPairs splits one line of scontrol show ... -o into its Key=Value pairs, in order.
// A token that does not start a new key continues the previous value (values with spaces).
// Time is linear in the line's length, however many tokens a value spans.
func ParseScontrolPairs(line string) (keys []string, values map[string]string) {
	parts := map[string][]string{}
	last := ""
	for _, tok := range strings.Split(strings.TrimRight(line, "\r\n"), " ") {
		if loc := keyRe.FindStringIndex(tok); loc != nil {
			k := tok[:loc[1]-1]
			if _, dup := parts[k]; !dup {
				keys = append(keys, k)
			}
			parts[k] = append(parts[k][:0], tok[loc[1]:])
			last = k
			continue
		}
		if last != "" && tok != "" {
			parts[last] = append(parts[last], tok)
		}
	}
	values = make(map[string]string, len(parts))
	for k, p := range parts {
		values[k] = strings.Join(p, " ")
	}
	return keys, values
}

// ParseScontrolLine reads one job of scontrol show job -o into JobData. JobInfo is a JSON object
// of the line's pairs (all values strings).
func ParseScontrolLine(line string) (JobData, error) {
	keys, v := ParseScontrolPairs(line)
	id, err := strconv.ParseInt(v["JobId"], 10, 64)
	if err != nil {
		return JobData{}, fmt.Errorf("Failed parse info from slurm -- no JobId in %.200q", line)
	}
	state := v["JobState"]
	if state == "" {
		return JobData{}, fmt.Errorf("Failed parse info from slurm -- job %d: %w: missing", id, ErrInvalidJobState)
	}
	var info bytes.Buffer
	info.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			info.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v[k])
		info.Write(kb)
		info.WriteByte(':')
		info.Write(vb)
	}
	info.WriteByte('}')
	user := v["UserId"]
	if i := strings.IndexByte(user, '('); i >= 0 {
		user = user[:i]
	}
	return JobData{
		JobID:                   id,
		JobState:                state,
		StateReason:             v["Reason"],
		JobInfo:                 info.String(),
		UserName:                user,
		CurrentWorkingDirectory: v["WorkDir"],
		Comment:                 v["Comment"],
	}, nil
}
