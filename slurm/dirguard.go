package slurm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrDirNotOwned is returned when an execution directory (after resolving symbolic links) is
// neither owned by the user nor under one of the shared execution directories.
var ErrDirNotOwned = errors.New("Execution directory is not owned by the user")

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
//     judged as the job will meet them). Otherwise ErrDirNotUsable;
//  4. the resolved directory must be owned by u, or lie under one of shared (absolute, real
//     paths such as /scratch, compared component-wise after cleaning): otherwise
//     ErrDirNotOwned, even when it is world-writable.
//
// Time of check and time of use: the caller must use the returned path, not dir. If a
// component is swapped for a symlink after the check, step 3 no longer matters but every write
// and sbatch itself run as the user, so the kernel still refuses anything the user could not
// do by hand; only the user's own directories can be swapped by the user.
// Errors name dir (and the resolved path when it differs) and the user, never file contents.
func (c *Client) ResolveExecutionDir(ctx context.Context, u User, dir string, shared []string) (string, error) {
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
	if st.Uid == u.UID {
		return real, nil
	}
	for _, p := range shared {
		if UnderDir(real, p) {
			return real, nil
		}
	}
	where := "choose a directory you own"
	if len(shared) > 0 {
		where += " or one under " + strings.Join(shared, ", ")
	}
	return "", fmt.Errorf("%w: %s belongs to uid %d, not to %s (uid %d); %s",
		ErrDirNotOwned, shown, st.Uid, u.Name, u.UID, where)
}

// UnderDir reports whether path is prefix or lies below it, comparing cleaned absolute paths
// component by component ("/scratchpad" is not under "/scratch"). A relative prefix or "/"
// never matches.
func UnderDir(path, prefix string) bool {
	if !filepath.IsAbs(path) || !filepath.IsAbs(prefix) {
		return false
	}
	path, prefix = filepath.Clean(path), filepath.Clean(prefix)
	if prefix == "/" {
		return false
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}
