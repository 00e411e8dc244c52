package jobbergate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tokenCache is the on-disk copy of the access token: CACHE_DIR/cluster-api/access.token, the
// raw token, file mode 0600 in a 0700 directory. Writes are atomic (temp file + rename), so a
// concurrent reader (another agent process sharing CACHE_DIR) sees the old or the new token,
// never a partial one.
type tokenCache struct {
	path string // "" disables the cache
}

// TokenCachePath returns where a TokenSource with cacheDir keeps its token.
func TokenCachePath(cacheDir string) string {
	return filepath.Join(cacheDir, "cluster-api", "access.token")
}

// load returns the cached token, whitespace-trimmed. A missing file is ("", nil).
func (c tokenCache) load() (string, error) {
	if c.path == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read token cache: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// store writes token atomically with mode 0600, creating the directory with mode 0700.
func (c tokenCache) store(token string) error {
	if c.path == "" {
		return nil
	}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create token cache directory: %w", err)
	}
	// MkdirAll leaves an existing directory (or a umask) alone: enforce the mode.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("set token cache directory mode: %w", err)
	}
	f, err := os.CreateTemp(dir, ".access.token.*.tmp") // created with mode 0600
	if err != nil {
		return fmt.Errorf("create token cache file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
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
	if err := os.Rename(tmp, c.path); err != nil {
		return fmt.Errorf("replace token cache file: %w", err)
	}
	return nil
}
