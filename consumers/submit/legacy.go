package submit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// legacyMarkerName is the Python agent's idempotency marker for submission id in its CACHE_DIR:
// written right after sbatch, before the API was told, and deleted once it was (spec 8.6).
func legacyMarkerName(id int) string { return strconv.Itoa(id) + ".slurm_job_id" }

// errLegacyMarkerUntrusted is a marker file the agent refuses to read: not a regular file, a
// symbolic link, not root's, or writable by others.
var errLegacyMarkerUntrusted = errors.New("untrusted Python-agent marker file")

// readLegacyMarker returns the Slurm job id in the Python agent's marker file of submission id
// under dir; ok is false when there is none. The file must be a regular file (a symbolic link
// is not followed), owned by root (the Python agent ran as root) and writable by nobody else,
// and hold a decimal job id: anything else is errLegacyMarkerUntrusted.
func readLegacyMarker(dir string, id int) (jobID int64, ok bool, err error) {
	path := filepath.Join(dir, legacyMarkerName(id))
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("%w: %s: %v", errLegacyMarkerUntrusted, path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", path, err)
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	if !st.Mode().IsRegular() || sys == nil || sys.Uid != 0 || st.Mode().Perm()&0o022 != 0 {
		return 0, false, fmt.Errorf("%w: %s must be a regular file owned by root and writable by root only (mode %s)", errLegacyMarkerUntrusted, path, st.Mode())
	}
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", path, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0, false, fmt.Errorf("%w: %s does not hold a job id: %q", errLegacyMarkerUntrusted, path, b)
	}
	return n, true, nil
}
