package usermap

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

func TestFileCacheRoundTripAndTTL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "cache")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c, err := openFileCache(dir, time.Hour, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return now }
	if _, ok := c.get("alice@example.org"); ok {
		t.Fatal("empty cache has alice")
	}
	if err := c.put("alice@example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	if u, ok := c.get("alice@example.org"); !ok || u != "alice" {
		t.Fatalf("get = %q, %v", u, ok)
	}
	if _, ok := c.get("ALICE@example.org"); ok {
		t.Error("lookups are by exact e-mail, but another spelling hit")
	}

	// A second instance (another process) reads the file.
	c2, err := openFileCache(dir, time.Hour, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	c2.now = c.now
	if u, ok := c2.get("alice@example.org"); !ok || u != "alice" {
		t.Fatalf("reopened get = %q, %v", u, ok)
	}

	// Expiry.
	now = now.Add(time.Hour + time.Second)
	if _, ok := c.get("alice@example.org"); ok {
		t.Error("entry older than the TTL still hits")
	}

	// No temporary files are left behind.
	files, _ := os.ReadDir(dir)
	if len(files) != 1 || files[0].Name() != CacheFileName {
		t.Errorf("cache dir holds %v, want only %s", files, CacheFileName)
	}
}

func TestFileCacheMergesOtherWriters(t *testing.T) {
	dir := t.TempDir()
	logger := logging.Discard()
	a, err := openFileCache(dir, 0, logger)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openFileCache(dir, 0, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.put("alice@example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := b.put("bob@example.org", "bob"); err != nil {
		t.Fatal(err)
	}
	c, err := openFileCache(dir, 0, logger)
	if err != nil {
		t.Fatal(err)
	}
	for email, want := range map[string]string{"alice@example.org": "alice", "bob@example.org": "bob"} {
		if u, ok := c.get(email); !ok || u != want {
			t.Errorf("merged file: get(%s) = %q, %v", email, u, ok)
		}
	}
}

func TestFileCacheCorruptOrInvalid(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"garbage", "not json"},
		{"other version", `{"version": 99, "users": {"alice@example.org": {"username": "alice"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, CacheFileName)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			c, err := openFileCache(dir, 0, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("a corrupt cache must not fail the mapper: %v", err)
			}
			if _, ok := c.get("alice@example.org"); ok {
				t.Error("corrupt cache answered")
			}
			if !strings.Contains(logs.String(), "ignoring unreadable user mapper cache") {
				t.Errorf("no warning logged: %q", logs.String())
			}
			if err := c.put("bob@example.org", "bob"); err != nil {
				t.Fatalf("put over a corrupt file: %v", err)
			}
			if _, err := readAgain(dir); err != nil {
				t.Errorf("file not repaired: %v", err)
			}
		})
	}

	// An invalid user name in the file (edited by hand) is not trusted.
	dir := t.TempDir()
	content := `{"version": 1, "users": {"x@example.org": {"username": "root;rm"}}}`
	if err := os.WriteFile(filepath.Join(dir, CacheFileName), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := openFileCache(dir, 0, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := c.get("x@example.org"); ok {
		t.Errorf("invalid cached name %q was returned", u)
	}
}

func readAgain(dir string) (map[string]cacheEntry, error) {
	c := &fileCache{dir: dir, path: filepath.Join(dir, CacheFileName)}
	return c.read()
}

func TestFileCacheDirCannotBeCreated(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openFileCache(filepath.Join(file, "sub"), 0, logging.Discard()); err == nil {
		t.Fatal("opening a cache under a regular file succeeded")
	}
}

// A FIFO in place of the cache file neither blocks the mapper nor is read.
func TestFileCacheFIFOIsNotRead(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, CacheFileName), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	done := make(chan error, 1)
	go func() {
		_, err := openFileCache(dir, 0, slog.New(slog.NewTextHandler(&logs, nil)))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("opening the cache blocked on a FIFO")
	}
	if !strings.Contains(logs.String(), "is not a regular file") {
		t.Errorf("no warning about the FIFO: %q", logs.String())
	}
}
