package slurm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrInvalidDirName is returned for an execution directory holding NUL or a control character.
var ErrInvalidDirName = errors.New("Execution directory name contains a control character")

// ResolveExecutionDir decides whether u may run a job in dir and returns the directory to use:
// dir with every symbolic link resolved. Everything is judged with the user's file-system
// identity (see asUser: the kernel checks each lookup as the user, never as root), inside the
// agent, without starting a process:
//
//  1. dir must be absolute (ErrRelativeDir) and free of control characters (ErrInvalidDirName);
//  2. its symbolic links are resolved as the user (a symlink such as /home/alice/link -> /etc is
//     followed, as the user could follow it); failure means ErrDirNotUsable;
//  3. the resolved path must be a directory (lstat, links not followed) that access(2) says the
//     user may write (faccessat2 with AT_EACCESS, so ACLs, groups and root-squashed NFS are
//     judged as the job will meet them). Otherwise ErrDirNotUsable.
//
// Who owns the directory is not a condition, as in the reference agent: a group project area
// or a scratch directory the user can write is as good as their home (the files are written and
// the job runs with the user's identity, so the agent does nothing there the user could not).
//
// Time of check and time of use: the caller must use the returned path, not dir. If a
// component is swapped for a symlink after the check, step 3 no longer matters but every write
// and sbatch itself run as the user, so the kernel still refuses anything the user could not
// do by hand; only the user's own directories can be swapped by the user.
// Errors name dir (and the resolved path when it differs) and the user, never file contents.
func (c *Client) ResolveExecutionDir(ctx context.Context, u User, dir string) (string, error) {
	if strings.IndexFunc(dir, isControl) >= 0 {
		return "", fmt.Errorf("%w: %q", ErrInvalidDirName, dir)
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("%w: %q", ErrRelativeDir, dir)
	}
	var (
		real     string
		st       syscall.Stat_t
		resolved bool
		isDir    bool
		writable bool
	)
	err := asUser(u, c.opts.AllowRoot, func() error {
		r, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return nil // not resolvable by the user: ErrDirNotUsable below
		}
		real, resolved = r, true
		if err := syscall.Lstat(real, &st); err != nil {
			return nil
		}
		isDir = st.Mode&syscall.S_IFMT == syscall.S_IFDIR
		writable = userCanWrite(real)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("check execution directory %s as %s: %w", dir, u.Name, err)
	}
	if !resolved {
		return "", fmt.Errorf("%w: %s (user %s)", ErrDirNotUsable, dir, u.Name)
	}
	if !filepath.IsAbs(real) || strings.IndexFunc(real, isControl) >= 0 {
		return "", fmt.Errorf("%w: %s resolves to %q (user %s)", ErrInvalidDirName, dir, real, u.Name)
	}
	shown := dir
	if real != dir {
		shown = fmt.Sprintf("%s (resolves to %s)", dir, real)
	}
	if !isDir || !writable {
		return "", fmt.Errorf("%w: %s (user %s)", ErrDirNotUsable, shown, u.Name)
	}
	return real, nil
}
