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

// CompareVersions compares two plain MAJOR.MINOR.PATCH versions: -1 when a is older than b, 0
// when equal, +1 when newer. A version that is not plain MAJOR.MINOR.PATCH (digits only: no
// "v", pre-release or build suffix, no spaces) is an error wrapping ErrInvalidVersion.
func CompareVersions(a, b string) (int, error) {
	va, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	for i := range va {
		switch {
		case va[i] < vb[i]:
			return -1, nil
		case va[i] > vb[i]:
			return 1, nil
		}
	}
	return 0, nil
}

// NeedUpdate is the self-update rule: both versions must be plain MAJOR.MINOR.PATCH (else an
// error wrapping ErrInvalidVersion), and an update is needed iff the majors are equal and
// upstream is newer than current. Unlike the reference agent (spec 10.3, where any different
// minor or patch within the major counts, downgrades included), an upstream version lower than
// or equal to the current one never asks for an update: the API chooses the version, and an
// API that reports an old one must not make the root agent install a release with known flaws.
// A different major never does either.
func NeedUpdate(current, upstream string) (bool, error) {
	c, err := parseVersion(current)
	if err != nil {
		return false, err
	}
	u, err := parseVersion(upstream)
	if err != nil {
		return false, err
	}
	cmp, _ := CompareVersions(upstream, current)
	return c[0] == u[0] && cmp > 0, nil
}
