package jobbergate

import (
	"fmt"
	"strconv"
	"strings"
)

// parseVersion parses a plain MAJOR.MINOR.PATCH version (digits only).
func parseVersion(v string) ([3]int, error) {
	var out [3]int
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, fmt.Errorf("%w %q: want MAJOR.MINOR.PATCH", ErrInvalidVersion, v)
	}
	for i, p := range parts {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" {
			return out, fmt.Errorf("%w %q: want MAJOR.MINOR.PATCH", ErrInvalidVersion, v)
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return out, fmt.Errorf("%w %q: %v", ErrInvalidVersion, v, err)
		}
		out[i] = n
	}
	return out, nil
}

// NeedUpdate applies the reference agent's self-update rule (spec 10.3): both versions must be
// plain MAJOR.MINOR.PATCH (else an error wrapping ErrInvalidVersion), and an update is needed
// iff the majors are equal and the minor or patch differ, so a downgrade within a major counts
// as an update and a different major never does.
func NeedUpdate(current, upstream string) (bool, error) {
	c, err := parseVersion(current)
	if err != nil {
		return false, err
	}
	u, err := parseVersion(upstream)
	if err != nil {
		return false, err
	}
	return c[0] == u[0] && (c[1] != u[1] || c[2] != u[2]), nil
}
