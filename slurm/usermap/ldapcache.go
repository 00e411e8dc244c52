package usermap

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
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

// fileCache is the e-mail -> user name cache of the LDAP mapper: an in-memory map backed by a
// JSON file (mode 0600) that is rewritten atomically (temporary file, fsync, rename) on every new
// hit. Only hits are stored. It is safe for concurrent use. Several processes may share the
// file: a write merges the entries other processes wrote since; when two writes race, an entry
// can be lost, which only costs one more LDAP search.
type fileCache struct {
	path   string
	ttl    time.Duration // 0: entries never expire
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex
	entries map[string]cacheEntry
}

// openFileCache creates dir (mode 0700) when missing and loads the cache file. A missing file is
// an empty cache; an unreadable or corrupt one is logged and replaced on the next write (it is
// only a cache), while a directory that cannot be created is an error.
func openFileCache(dir string, ttl time.Duration, logger *slog.Logger) (*fileCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create user mapper cache directory: %w", err)
	}
	c := &fileCache{
		path:    filepath.Join(dir, CacheFileName),
		ttl:     ttl,
		now:     time.Now,
		logger:  logger,
		entries: map[string]cacheEntry{},
	}
	entries, err := c.read()
	if err != nil {
		logger.Warn("ignoring unreadable user mapper cache", "path", c.path, "err", err)
	} else {
		c.entries = entries
	}
	return c, nil
}

// read loads the file; a missing file gives an empty map.
func (c *fileCache) read() (map[string]cacheEntry, error) {
	data, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]cacheEntry{}, nil
	}
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

// put stores a hit in memory and on disk. The in-memory entry is kept even when the write fails.
func (c *fileCache) put(email, username string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	entry := cacheEntry{Username: username, StoredAt: c.now().UTC()}
	c.entries[email] = entry
	// Merge what other processes wrote since we loaded the file; our entries win.
	if onDisk, err := c.read(); err == nil {
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
	return writeFileAtomic(c.path, data)
}

// writeFileAtomic replaces path with data (mode 0600) so that readers see the old or the new
// content, never a mix.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
