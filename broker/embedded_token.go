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
func EmbeddedToken(s *config.Settings, create bool) (string, error) {
	if s.NATSToken != "" {
		return s.NATSToken, nil
	}
	path := EmbeddedTokenFile(s)
	b, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
		return "", fmt.Errorf("embedded NATS token file %s is empty: delete it and restart the agent", path)
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return "", fmt.Errorf("embedded NATS token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("embedded NATS token: %w", err)
	}
	tok := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(s.CacheDir, 0o700); err != nil {
		return "", fmt.Errorf("embedded NATS token: %w", err)
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
