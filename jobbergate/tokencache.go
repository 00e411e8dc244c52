package jobbergate

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// tokenCache is the on-disk copy of the access token: CACHE_DIR/cluster-api/access.token, the
// raw token, file mode 0600 in a 0700 directory. Writes are atomic (temp file + rename), so a
// concurrent reader (another agent process sharing CACHE_DIR) sees the old or the new token,
// never a partial one.
//
// The agent sends whatever token it finds there to the API, and the API answers with the work
// of the token's client: a token planted by someone else would make the root agent run their
// cluster's jobs. So the cache is trusted only when nobody but the agent's own user could have
// written it. The directory (cluster-api) and the file are opened without following a symbolic
// link (O_NOFOLLOW; the file relative to the opened directory), and each must be owned by the
// agent's effective uid (root in production) and writable by neither group nor others; the
// file must be a regular file of at most maxTokenCacheBytes. A cache that fails a check is
// ignored (the token source logs a warning and asks the OIDC provider). A write goes to a new
// file created with O_EXCL|O_NOFOLLOW in the checked directory, renamed over the cache file;
// nothing is written into a directory that is a symbolic link or owned by another uid (one of
// the agent's that group or others may write is first set to mode 0700, as it always was).
type tokenCache struct {
	path string // "" disables the cache
}

// maxTokenCacheBytes bounds the cache file: a token is a few KiB.
const maxTokenCacheBytes = 64 << 10

// errUntrustedCache marks a cache directory or file that another user could have written.
var errUntrustedCache = errors.New("untrusted token cache")

// TokenCachePath returns where a TokenSource with cacheDir keeps its token.
func TokenCachePath(cacheDir string) string {
	return filepath.Join(cacheDir, "cluster-api", "access.token")
}

// checkOwned returns errUntrustedCache unless st is of type kind (unix.S_IFDIR or S_IFREG),
// owned by the effective uid and, when private, writable by neither group nor others.
func checkOwned(st *unix.Stat_t, kind uint32, what, path string, private bool) error {
	if st.Mode&unix.S_IFMT != kind {
		return fmt.Errorf("%w: %s %s is not a regular %s", errUntrustedCache, what, path, what)
	}
	if euid := os.Geteuid(); int(st.Uid) != euid {
		return fmt.Errorf("%w: %s %s is owned by uid %d, not by the agent's uid %d", errUntrustedCache, what, path, st.Uid, euid)
	}
	if private && st.Mode&0o022 != 0 {
		return fmt.Errorf("%w: %s %s is writable by group or others (mode %#o)", errUntrustedCache, what, path, st.Mode&0o7777)
	}
	return nil
}

// openDir opens the cache directory without following a symbolic link and checks it (its
// mode only when private).
func (c tokenCache) openDir(private bool) (int, error) {
	dir := filepath.Dir(c.path)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("%w: directory %s is a symbolic link or not a directory", errUntrustedCache, dir)
		}
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	if err := checkOwned(&st, unix.S_IFDIR, "directory", dir, private); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// load returns the cached token, whitespace-trimmed. A missing directory or file is ("", nil);
// a directory or file that fails the checks of tokenCache is an error wrapping
// errUntrustedCache, and nothing of it is read.
func (c tokenCache) load() (string, error) {
	if c.path == "" {
		return "", nil
	}
	dirfd, err := c.openDir(true)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read token cache: %w", err)
	}
	defer unix.Close(dirfd)
	// O_NONBLOCK: a FIFO planted there must not block the open (it then fails the type check).
	fd, err := unix.Openat(dirfd, filepath.Base(c.path), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return "", nil
	case errors.Is(err, unix.ELOOP):
		return "", fmt.Errorf("read token cache: %w: %s is a symbolic link", errUntrustedCache, c.path)
	case err != nil:
		return "", fmt.Errorf("read token cache: %w", &os.PathError{Op: "open", Path: c.path, Err: err})
	}
	f := os.NewFile(uintptr(fd), c.path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", fmt.Errorf("read token cache: %w", &os.PathError{Op: "stat", Path: c.path, Err: err})
	}
	if err := checkOwned(&st, unix.S_IFREG, "file", c.path, true); err != nil {
		return "", fmt.Errorf("read token cache: %w", err)
	}
	if st.Size > maxTokenCacheBytes {
		return "", fmt.Errorf("read token cache: %s holds %d bytes, more than %d", c.path, st.Size, maxTokenCacheBytes)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenCacheBytes+1))
	if err != nil {
		return "", fmt.Errorf("read token cache: %w", err)
	}
	if len(b) > maxTokenCacheBytes {
		return "", fmt.Errorf("read token cache: %s holds more than %d bytes", c.path, maxTokenCacheBytes)
	}
	return strings.TrimSpace(string(b)), nil
}

// store writes token atomically with mode 0600, creating the directory with mode 0700 (or
// setting that mode on the agent's own directory). It writes nothing into a directory that is a
// symbolic link or owned by another uid.
func (c tokenCache) store(token string) error {
	if c.path == "" {
		return nil
	}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create token cache directory: %w", err)
	}
	// Its mode is not checked but set: a file someone placed there while it was writable is
	// never read (it fails load's checks) and is replaced by the rename below.
	dirfd, err := c.openDir(false)
	if err != nil {
		return fmt.Errorf("open token cache directory: %w", err)
	}
	defer unix.Close(dirfd)
	// MkdirAll leaves an existing directory (or a umask) alone: enforce the mode, on the
	// directory checked above and not on whatever the path names now.
	if err := unix.Fchmod(dirfd, 0o700); err != nil {
		return fmt.Errorf("set token cache directory mode: %w", err)
	}
	var (
		tmp string
		fd  int
	)
	for range 10 {
		tmp = fmt.Sprintf(".access.token.%d.%016x.tmp", os.Getpid(), rand.Uint64())
		fd, err = unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("create token cache file: %w", &os.PathError{Op: "create", Path: filepath.Join(dir, tmp), Err: err})
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = unix.Unlinkat(dirfd, tmp, 0)
		}
	}()
	f := os.NewFile(uintptr(fd), filepath.Join(dir, tmp))
	if err := f.Chmod(0o600); err != nil { // the umask may have cleared bits; never widen
		f.Close()
		return fmt.Errorf("set token cache file mode: %w", err)
	}
	if _, err := f.WriteString(token); err != nil {
		f.Close()
		return fmt.Errorf("write token cache file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync token cache file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close token cache file: %w", err)
	}
	// rename replaces whatever the cache path names (a planted symbolic link included: the link
	// itself, never its target).
	if err := unix.Renameat(dirfd, tmp, dirfd, filepath.Base(c.path)); err != nil {
		return fmt.Errorf("replace token cache file: %w", &os.PathError{Op: "rename", Path: c.path, Err: err})
	}
	renamed = true
	return nil
}
