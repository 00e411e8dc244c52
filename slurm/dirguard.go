package slurm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrDirNotOwned is returned when an execution directory (after resolving symbolic links) is
// neither owned by the user nor under one of the shared execution directories.
var ErrDirNotOwned = errors.New("Execution directory is not owned by the user")

// ErrInvalidDirName is returned for an execution directory holding NUL or a control character.
var ErrInvalidDirName = errors.New("Execution directory name contains a control character")

// ResolveExecutionDir decides whether u may run a job in dir and returns the directory to use:
// dir with every symbolic link resolved. Everything is judged by processes running as the user
// (never by the agent, which is root), without a shell:
//
//  1. dir must be absolute (ErrRelativeDir) and free of control characters (ErrInvalidDirName);
//  2. `realpath -e -z -- dir` as the user resolves it (a symlink such as /home/alice/link ->
//     /etc is followed, as the user could follow it); failure means ErrDirNotUsable;
//  3. `find <resolved> -maxdepth 0 -printf ...` as the user reports the resolved directory's
//     owner, its type without following links, and whether access(2) grants the user write
//     permission (so ACLs, groups and root-squashed NFS are judged as the job will meet them).
//     Not a directory or not writable: ErrDirNotUsable;
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
	out, err := c.RunAsUser(ctx, u, "", nil, "realpath", "-e", "-z", "--", dir)
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) {
			return "", fmt.Errorf("%w: %s (user %s)", ErrDirNotUsable, dir, u.Name)
		}
		return "", fmt.Errorf("resolve execution directory %s as %s: %w", dir, u.Name, err)
	}
	real := strings.TrimSuffix(out, "\x00")
	if !filepath.IsAbs(real) || strings.ContainsRune(real, 0) || strings.IndexFunc(real, isControl) >= 0 {
		return "", fmt.Errorf("%w: %s resolves to %q (user %s)", ErrInvalidDirName, dir, real, u.Name)
	}
	shown := dir
	if real != dir {
		shown = fmt.Sprintf("%s (resolves to %s)", dir, real)
	}
	// real is absolute, so find cannot take it for an option or an expression.
	out, err = c.RunAsUser(ctx, u, "", nil, "find", real, "-maxdepth", "0", "-printf", "%U %y", "-writable", "-printf", " w")
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) {
			return "", fmt.Errorf("%w: %s (user %s)", ErrDirNotUsable, shown, u.Name)
		}
		return "", fmt.Errorf("inspect execution directory %s as %s: %w", shown, u.Name, err)
	}
	fields := strings.Fields(out)
	if len(fields) != 3 || fields[1] != "d" || fields[2] != "w" {
		return "", fmt.Errorf("%w: %s (user %s)", ErrDirNotUsable, shown, u.Name)
	}
	owner, err := strconv.ParseUint(fields[0], 10, 32)
	if err != nil {
		return "", fmt.Errorf("inspect execution directory %s as %s: owner %q: %w", shown, u.Name, fields[0], err)
	}
	if uint32(owner) == u.UID {
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
		ErrDirNotOwned, shown, owner, u.Name, u.UID, where)
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
