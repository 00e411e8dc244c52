package slurm

import (
	"errors"
	"fmt"
	"strings"
)

// CheckFileName is the file-name rule of the submit path, stricter than SafeFileName (which
// WriteFile applies as a last line of defence). Decisions, per kind of hostile name:
//
//   - a ".." path component anywhere ("../x", "a/../b"): rejected; no legitimate job-script file
//     has one, it is a traversal attempt;
//   - an absolute name ("/etc/passwd"): rejected; a job script's files are relative to it;
//   - a relative name with '/' ("inputs/data.csv"): reduced to its final component, as the
//     reference does (the API's upload route accepts sub-paths); callers must refuse two files
//     that reduce to the same name (see DuplicateFileNames);
//   - NUL, other control characters, more than MaxFileNameBytes bytes, empty, "." or a trailing
//     '/': rejected (SafeFileName).
//
// It returns the name to write, or an error wrapping ErrInvalidFileName that quotes the name.
func CheckFileName(name string) (string, error) {
	base, err := SafeFileName(name)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: %q is an absolute path; file names must be relative", ErrInvalidFileName, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: %q contains a '..' component", ErrInvalidFileName, name)
		}
	}
	return base, nil
}

// DuplicateFileNames returns an error wrapping ErrInvalidFileName when two of names reduce to
// the same CheckFileName result (one would silently replace the other), naming both. Names
// CheckFileName refuses are skipped.
func DuplicateFileNames(names []string) error {
	seen := make(map[string]string, len(names))
	for _, n := range names {
		base, err := CheckFileName(n)
		if err != nil {
			continue
		}
		if prev, ok := seen[base]; ok {
			return fmt.Errorf("%w: %q and %q would both be written as %q", ErrInvalidFileName, prev, n, base)
		}
		seen[base] = n
	}
	return nil
}

// ErrHiddenFileName is wrapped by CheckHiddenName's error.
var ErrHiddenFileName = errors.New("hidden file name")

// CheckHiddenName refuses a job-script file name with an element that begins with a dot
// (".bashrc", ".ssh/authorized_keys", "a/.profile"): written as the submitter into their
// execution directory (their home by default), it would replace a file that programs read on
// their behalf. Template authors choose file names, so a site must allow such names on purpose.
func CheckHiddenName(name string) error {
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") && part != "." && part != ".." {
			return fmt.Errorf("%w: %q: an element begins with a dot, which could replace the submitter's own %s", ErrHiddenFileName, name, part)
		}
	}
	return nil
}
