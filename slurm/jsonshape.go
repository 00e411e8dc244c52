package slurm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrInvalidJobState is returned when a job's job_state is neither a string nor a non-empty
// list of strings.
var ErrInvalidJobState = errors.New("invalid job_state")

// flexInt is a Slurm number in any of its JSON shapes: a plain integer (22.05), or an object
// {"set": bool, "infinite": bool, "number": n} (23.02 and later). null and unset objects leave
// Set false.
type flexInt struct {
	Value    int64
	Set      bool
	Infinite bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*f = flexInt{}
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '{':
		var o struct {
			Set      *bool  `json:"set"`
			Infinite bool   `json:"infinite"`
			Number   *int64 `json:"number"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return fmt.Errorf("number object: %w", err)
		}
		f.Infinite = o.Infinite
		if o.Number != nil && (o.Set == nil || *o.Set) {
			f.Value, f.Set = *o.Number, true
		}
		return nil
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("number: %w", err)
		}
		v, err := n.Int64()
		if err != nil {
			return fmt.Errorf("number %s: %w", n, err)
		}
		f.Value, f.Set = v, true
		return nil
	}
}

// parseJobState reads job_state: a string (22.05, 23.02) or a list whose first element is the
// base state (23.11 and later: ["RUNNING", "COMPLETING"]). An empty list, a missing field or
// another shape is ErrInvalidJobState.
func parseJobState(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", fmt.Errorf("%w: missing", ErrInvalidJobState)
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%w: %v", ErrInvalidJobState, err)
		}
		if s == "" {
			return "", fmt.Errorf("%w: empty string", ErrInvalidJobState)
		}
		return s, nil
	case '[':
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			return "", fmt.Errorf("%w: %v", ErrInvalidJobState, err)
		}
		if len(l) == 0 || l[0] == "" {
			return "", fmt.Errorf("%w: empty list", ErrInvalidJobState)
		}
		return l[0], nil
	default:
		return "", fmt.Errorf("%w: %s", ErrInvalidJobState, raw)
	}
}
