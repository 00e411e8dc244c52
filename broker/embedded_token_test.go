package broker

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
)

func TestEmbeddedTokenIsCreatedOncePrivately(t *testing.T) {
	s := &config.Settings{CacheDir: filepath.Join(t.TempDir(), "cache")}
	if _, err := EmbeddedToken(s, false); err == nil {
		t.Fatal("without create, a missing token file must be an error")
	}
	var wg sync.WaitGroup
	tokens := make([]string, 8)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := EmbeddedToken(s, true)
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok
		}()
	}
	wg.Wait()
	for _, tok := range tokens {
		if tok != tokens[0] || len(tok) != 64 {
			t.Fatalf("concurrent callers got different or short tokens: %q", tokens)
		}
	}
	st, err := os.Stat(EmbeddedTokenFile(s))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, %v; want 0600", st.Mode(), err)
	}
	if again, _ := EmbeddedToken(s, true); again != tokens[0] {
		t.Error("the token must survive restarts")
	}
	s.NATSToken = "site-token"
	if tok, _ := EmbeddedToken(s, true); tok != "site-token" {
		t.Errorf("NATS_TOKEN must win, got %q", tok)
	}
}
