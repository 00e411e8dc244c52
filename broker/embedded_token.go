package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
)

// EmbeddedTokenFile is where the embedded NATS server's token is kept: CACHE_DIR/nats.token,
// mode 0600 (only the agent's user, root, can read it). `jobbergate-agent status` and `dead` read
// it; the nats CLI takes it as NATS_TOKEN.
func EmbeddedTokenFile(s *config.Settings) string { return filepath.Join(s.CacheDir, "nats.token") }

// EmbeddedToken returns the token every client of the embedded NATS server must present:
// NATS_TOKEN when set, else the token in EmbeddedTokenFile, created (32 random bytes, hex) when
// create is true and the file does not exist yet. The token is never logged.
//
// Whoever knows the token may queue work for any owner, so the file is used only when nobody
// but the agent could have chosen or read it (config.ReadCacheFile: CACHE_DIR and the file root's
// or the caller's and not group/other-writable, the file not a symbolic link; and the file
// readable by its owner only). Anything else is an error that says what to fix: a user who
// could plant a token of their own, or a link to another file, must not set it.
func EmbeddedToken(s *config.Settings, create bool) (string, error) {
	if s.NATSToken != "" {
		return s.NATSToken, nil
	}
	path := EmbeddedTokenFile(s)
	b, fi, err := config.ReadCacheFile(s.CacheDir, filepath.Base(path), 4096)
	if err == nil {
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			return "", fmt.Errorf("embedded NATS token file %s has mode %04o: others may read the token; delete it and restart the agent (it creates a new one with mode 0600)", path, m)
		}
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
		return "", fmt.Errorf("embedded NATS token file %s is empty: delete it and restart the agent", path)
	}
	if errors.Is(err, config.ErrUntrustedCacheFile) {
		return "", fmt.Errorf("embedded NATS token: %w (a CACHE_DIR only root can write, mode 0700, and a token file root's with mode 0600 are needed; delete a planted file and the agent creates a new one)", err)
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return "", fmt.Errorf("embedded NATS token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("embedded NATS token: %w", err)
	}
	tok := hex.EncodeToString(raw[:])
	// A CACHE_DIR that did not exist is made now; checked again, in case a user made it first.
	if err := os.MkdirAll(s.CacheDir, 0o700); err != nil {
		return "", fmt.Errorf("embedded NATS token: %w", err)
	}
	if di, err := os.Stat(s.CacheDir); err != nil {
		return "", fmt.Errorf("embedded NATS token: %w", err)
	} else if why := config.Untrusted(di); why != "" {
		return "", fmt.Errorf("embedded NATS token: CACHE_DIR %s is not the agent's own: %s", s.CacheDir, why)
	}
	tmp, err := os.CreateTemp(s.CacheDir, ".nats.token-*")
	if err != nil {
		return "", fmt.Errorf("embedded NATS token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(tok + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("embedded NATS token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("embedded NATS token: %w", err)
	}
	// CreateTemp made it 0600; Link fails if another process created the file meanwhile, and
	// then both use the one that won.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("embedded NATS token: %w", err)
	}
	return EmbeddedToken(s, false)
}
