package usermap

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CacheFileName is the name of the LDAP mapper's cache file under the cache directory.
const CacheFileName = "user_mapper.json"

const cacheFormatVersion = 1

// cacheEntry is one cached hit, keyed by the requested e-mail.
type cacheEntry struct {
	Username string    `json:"username"`
	StoredAt time.Time `json:"stored_at"`
}

type cacheFileContent struct {
	Version int                   `json:"version"`
	Users   map[string]cacheEntry `json:"users"`
}

// errUnsafeCache matches the errors of a cache file, or of its directory, that someone other
// than the agent could have written: the file is then not trusted.
var errUnsafeCache = errors.New("not safe to trust")

// unsafeDirError is the errUnsafeCache error of a directory.
type unsafeDirError struct{ msg string }

func (e *unsafeDirError) Error() string        { return e.msg }
func (e *unsafeDirError) Is(target error) bool { return target == errUnsafeCache }

// fileCache is the e-mail -> user name cache of the LDAP mapper: an in-memory map backed by a
// JSON file (mode 0600) that is rewritten atomically (temporary file, fsync, rename) on every new
// hit. Only hits are stored. It is safe for concurrent use. Several processes may share the
// file: a write merges the entries other processes wrote since; when two writes race, an entry
// can be lost, which only costs one more LDAP search.
//
// The file decides who jobs run as, so only a file that nobody but the agent could have
// written is read: the directory must be owned by the agent's effective uid or root and not
// group- or other-writable, and the file a regular file (not a symbolic link, which is never
// followed) owned by the agent's effective uid and not group- or other-writable. Each access
// opens the directory once, checks it through its descriptor and works relative to that
// descriptor, so renaming things along the path afterwards changes nothing. A file that fails
// is ignored (the cache starts empty) and replaced by the next write, which never writes
// through it; with a directory that fails, the file is neither read nor written and the cache
// lives in memory only.
type fileCache struct {
	dir    string
	path   string
	ttl    time.Duration // 0: entries never expire
	now    func() time.Time
	logger *slog.Logger

	// memoryOnly: the directory failed the check at open; the file is not used at all.
	memoryOnly bool

	mu      sync.Mutex
	entries map[string]cacheEntry
}

// openFileCache creates dir (mode 0700) when missing and loads the cache file. A missing file is
// an empty cache; an unreadable, corrupt or unsafe one is logged and replaced on the next write
// (it is only a cache); a directory that fails the safety check is logged and the cache is kept
// in memory only; a directory that cannot be created is an error.
func openFileCache(dir string, ttl time.Duration, logger *slog.Logger) (*fileCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create user mapper cache directory: %w", err)
	}
	c := &fileCache{
		dir:     dir,
		path:    filepath.Join(dir, CacheFileName),
		ttl:     ttl,
		now:     time.Now,
		logger:  logger,
		entries: map[string]cacheEntry{},
	}
	entries, err := c.read()
	var dirErr *unsafeDirError
	switch {
	case errors.As(err, &dirErr):
		c.memoryOnly = true
		logger.Warn("not using the user mapper cache file: its directory could be written by another user; "+
			"the cache is kept in memory only", "path", c.path, "err", err)
	case errors.Is(err, errUnsafeCache):
		logger.Warn("ignoring unsafe user mapper cache file: it could have been written by another user; "+
			"it will be replaced", "path", c.path, "err", err)
	case err != nil:
		logger.Warn("ignoring unreadable user mapper cache", "path", c.path, "err", err)
	default:
		c.entries = entries
	}
	return c, nil
}

// openDir opens the cache directory and checks it (see fileCache). The caller closes the
// descriptor.
func (c *fileCache) openDir() (int, error) {
	fd, err := unix.Open(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", c.dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("stat %s: %w", c.dir, err)
	}
	euid := uint32(os.Geteuid())
	switch {
	case st.Uid != euid && st.Uid != 0:
		err = &unsafeDirError{fmt.Sprintf("directory %s is owned by uid %d, not by the agent (uid %d) or root", c.dir, st.Uid, euid)}
	case st.Mode&0o022 != 0:
		err = &unsafeDirError{fmt.Sprintf("directory %s has mode %04o: it is writable by its group or others", c.dir, st.Mode&0o7777)}
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// read loads the file; a missing file gives an empty map.
func (c *fileCache) read() (map[string]cacheEntry, error) {
	dfd, err := c.openDir()
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	return c.readAt(dfd)
}

// readAt loads the file from the checked directory dfd; a missing file gives an empty map.
func (c *fileCache) readAt(dfd int) (map[string]cacheEntry, error) {
	// O_NONBLOCK: a FIFO put in its place must not block the open.
	fd, err := unix.Openat(dfd, CacheFileName, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return map[string]cacheEntry{}, nil
	case errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("%s is a symbolic link: %w", c.path, errUnsafeCache)
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", c.path, err)
	}
	f := os.NewFile(uintptr(fd), c.path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", c.path, err)
	}
	euid := uint32(os.Geteuid())
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, fmt.Errorf("%s is not a regular file: %w", c.path, errUnsafeCache)
	case st.Uid != euid:
		return nil, fmt.Errorf("%s is owned by uid %d, not by the agent (uid %d): %w", c.path, st.Uid, euid, errUnsafeCache)
	case st.Mode&0o022 != 0:
		return nil, fmt.Errorf("%s has mode %04o, writable by its group or others: %w", c.path, st.Mode&0o7777, errUnsafeCache)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.path, err)
	}
	var content cacheFileContent
	if err := json.Unmarshal(data, &content); err != nil {
		return nil, fmt.Errorf("parse %s: %w", c.path, err)
	}
	if content.Version != cacheFormatVersion {
		return nil, fmt.Errorf("%s has format version %d, want %d", c.path, content.Version, cacheFormatVersion)
	}
	if content.Users == nil {
		content.Users = map[string]cacheEntry{}
	}
	return content.Users, nil
}

// get returns the cached user of email, if present, fresh and still a valid user name.
func (c *fileCache) get(email string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[email]
	if !ok || ValidUsername(e.Username) != nil {
		return "", false
	}
	if c.ttl > 0 && c.now().Sub(e.StoredAt) > c.ttl {
		return "", false
	}
	return e.Username, true
}

// put stores a hit in memory and, unless the cache is memory-only, on disk. The in-memory entry
// is kept even when the write fails.
func (c *fileCache) put(email, username string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	entry := cacheEntry{Username: username, StoredAt: c.now().UTC()}
	c.entries[email] = entry
	if c.memoryOnly {
		return nil
	}
	dfd, err := c.openDir()
	if err != nil {
		return fmt.Errorf("write %s: %w", c.path, err)
	}
	defer unix.Close(dfd)
	// Merge what other processes wrote since we loaded the file; our entries win. A file that
	// fails the check contributes nothing.
	if onDisk, err := c.readAt(dfd); err == nil {
		for k, v := range onDisk {
			if _, mine := c.entries[k]; !mine {
				c.entries[k] = v
			}
		}
	}
	data, err := json.MarshalIndent(cacheFileContent{Version: cacheFormatVersion, Users: c.entries}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode user mapper cache: %w", err)
	}
	return c.writeAt(dfd, data)
}

// writeAt replaces the file in the checked directory dfd with data (mode 0600, owned by the
// agent) so that readers see the old or the new content, never a mix: it writes a new temporary
// file (O_EXCL, O_NOFOLLOW) and renames it over the name, which replaces whatever was there (a
// symbolic link included) without writing through it.
func (c *fileCache) writeAt(dfd int, data []byte) (err error) {
	tmp := CacheFileName + ".tmp-" + strconv.FormatUint(rand.Uint64(), 36)
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", c.path, err)
	}
	defer func() {
		if err != nil {
			_ = unix.Unlinkat(dfd, tmp, 0)
		}
	}()
	f := os.NewFile(uintptr(fd), filepath.Join(c.dir, tmp))
	if err = f.Chmod(0o600); err == nil {
		if _, err = f.Write(data); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", c.path, err)
	}
	if err = unix.Renameat(dfd, tmp, dfd, CacheFileName); err != nil {
		return fmt.Errorf("write %s: rename: %w", c.path, err)
	}
	_ = unix.Fsync(dfd)
	return nil
}
