package jobbergate_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// nobody is the uid and gid a login-node user's files are given in these tests.
const nobody = 65534

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.Require(t, "root", os.Geteuid() == 0, "files owned by another user need chown: run the tests as root")
}

// The attack: a login-node user places a token of their own (here one the API accepts, minted
// for another OIDC client) where the root agent looks for its cached token. Were it read, the
// agent would fetch and run that client's work. Each case plants it differently; none may be
// read, each is reported with a warning, and the fresh token is written without touching what
// the user planted (no write through a symbolic link, nothing written into a foreign directory).
func TestTokenCacheRefusesPlantedFiles(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	planted := api.MintToken(jobbergatetest.TokenClaims{ClientID: "attacker-client", ExpiresAt: time.Now().Add(time.Hour)})

	type planting struct {
		name string
		// plant prepares cacheDir and returns the file the user controls (to check it was
		// neither read nor written) and, when the fresh token must not be cached, true.
		plant    func(t *testing.T, cacheDir string) (userFile string, noWrite bool)
		root     bool
		errorHas string
	}
	cases := []planting{
		{name: "symlink to a file holding a token", errorHas: "symbolic link", plant: func(t *testing.T, cacheDir string) (string, bool) {
			target := filepath.Join(t.TempDir(), "token")
			mustWrite(t, target, planted, 0o600) // owned by the agent's uid, mode 0600: only the link is wrong
			path := jobbergate.TokenCachePath(cacheDir)
			mustMkdir(t, filepath.Dir(path), 0o700)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
			return target, false
		}},
		{name: "group-writable file", errorHas: "writable by group or others", plant: func(t *testing.T, cacheDir string) (string, bool) {
			path := jobbergate.TokenCachePath(cacheDir)
			mustMkdir(t, filepath.Dir(path), 0o700)
			mustWrite(t, path, planted, 0o620)
			return "", false
		}},
		{name: "other-writable file", errorHas: "writable by group or others", plant: func(t *testing.T, cacheDir string) (string, bool) {
			path := jobbergate.TokenCachePath(cacheDir)
			mustMkdir(t, filepath.Dir(path), 0o700)
			mustWrite(t, path, planted, 0o602)
			return "", false
		}},
		{name: "file owned by another uid", root: true, errorHas: "owned by uid 65534", plant: func(t *testing.T, cacheDir string) (string, bool) {
			path := jobbergate.TokenCachePath(cacheDir)
			mustMkdir(t, filepath.Dir(path), 0o700)
			mustWrite(t, path, planted, 0o600)
			mustChown(t, path)
			return "", false
		}},
		{name: "directory owned by another uid", root: true, errorHas: "owned by uid 65534", plant: func(t *testing.T, cacheDir string) (string, bool) {
			path := jobbergate.TokenCachePath(cacheDir)
			mustMkdir(t, filepath.Dir(path), 0o700)
			mustWrite(t, path, planted, 0o600)
			mustChown(t, filepath.Dir(path))
			return path, true
		}},
		// The agent's own directory, but group-writable: the planted file is not read, the
		// directory is set back to 0700 and the fresh token replaces the file.
		{name: "group-writable directory", errorHas: "writable by group or others", plant: func(t *testing.T, cacheDir string) (string, bool) {
			path := jobbergate.TokenCachePath(cacheDir)
			mustMkdir(t, filepath.Dir(path), 0o770)
			mustWrite(t, path, planted, 0o600)
			return "", false
		}},
		{name: "directory is a symlink", errorHas: "symbolic link", plant: func(t *testing.T, cacheDir string) (string, bool) {
			userDir := t.TempDir()
			if err := os.Chmod(userDir, 0o755); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(userDir, "access.token"), planted, 0o600)
			if err := os.Symlink(userDir, filepath.Join(cacheDir, "cluster-api")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(userDir, "access.token"), true
		}},
		{name: "fifo", errorHas: "not a regular file", plant: func(t *testing.T, cacheDir string) (string, bool) {
			path := jobbergate.TokenCachePath(cacheDir)
			mustMkdir(t, filepath.Dir(path), 0o700)
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			return "", false
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				requireRoot(t)
			}
			cacheDir := t.TempDir()
			userFile, noWrite := tc.plant(t, cacheDir)
			var userDirMode os.FileMode
			if userFile != "" {
				userDirMode = mode(t, filepath.Dir(userFile))
			}
			logs := &logBuffer{}
			before := api.TokensIssued(testClientID)
			ts := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.CacheDir = cacheDir; o.Logger = logs.Logger() })
			// Token runs apart so that a cache read that blocks (opening a FIFO) fails the test
			// instead of hanging it.
			type result struct {
				tok string
				err error
			}
			done := make(chan result, 1)
			go func() {
				tok, err := ts.Token(context.Background())
				done <- result{tok, err}
			}()
			var tok string
			select {
			case r := <-done:
				if r.err != nil {
					t.Fatal(r.err)
				}
				tok = r.tok
			case <-time.After(10 * time.Second):
				t.Fatal("Token blocked reading the planted cache")
			}
			if tok == planted {
				t.Fatal("the planted token was read and used")
			}
			if api.TokensIssued(testClientID) != before+1 {
				t.Fatal("the OIDC provider was not asked for a fresh token")
			}
			out := logs.String()
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "ignoring the token cache") || !strings.Contains(out, tc.errorHas) {
				t.Errorf("want a warning naming %q, logs:\n%s", tc.errorHas, out)
			}
			logs.assertNoSecrets(t, tok, planted)

			if userFile != "" {
				if b, err := os.ReadFile(userFile); err != nil || string(b) != planted {
					t.Errorf("the user's file was changed (err %v)", err)
				}
				if m := mode(t, filepath.Dir(userFile)); m != userDirMode {
					t.Errorf("the user's directory mode changed from %v to %v", userDirMode, m)
				}
			}
			path := jobbergate.TokenCachePath(cacheDir)
			if noWrite {
				if !strings.Contains(out, "could not write the token cache") {
					t.Errorf("the token was written into an untrusted directory; logs:\n%s", out)
				}
				entries, _ := os.ReadDir(filepath.Dir(userFile))
				if len(entries) != 1 {
					t.Errorf("the untrusted directory holds %d entries, want only the planted file", len(entries))
				}
				return
			}
			// The fresh token replaced the planted entry: a regular 0600 file of the agent's.
			fi, err := os.Lstat(path)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()) {
				t.Fatalf("cache file after the fetch: %v, %v", fi, err)
			}
			if m := mode(t, filepath.Dir(path)); m.Perm() != 0o700 {
				t.Errorf("cache directory mode %v, want 0700", m)
			}
			if got := readCache(t, cacheDir); got != tok {
				t.Fatal("the cache file does not hold the fresh token")
			}
			// And a second agent process trusts it.
			ts2 := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.CacheDir = cacheDir })
			if again, err := ts2.Token(context.Background()); err != nil || again != tok || api.TokensIssued(testClientID) != before+1 {
				t.Fatalf("the rewritten cache is not used: same %v, %v", again == tok, err)
			}
		})
	}
}

// The cache a well-behaved agent wrote (its own uid, 0600 in a 0700 directory) is still read.
func TestTokenCacheTrustsItsOwnFile(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	dir := t.TempDir()
	first := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.CacheDir = dir })
	tok, err := first.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A read-only file (0400) and a 0755 directory are fine too: nobody else can write them.
	if err := os.Chmod(jobbergate.TokenCachePath(dir), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(jobbergate.TokenCachePath(dir)), 0o755); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	second := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.CacheDir = dir; o.Logger = logs.Logger() })
	if got, err := second.Token(context.Background()); err != nil || got != tok {
		t.Fatalf("own cache not used: same %v, %v", got == tok, err)
	}
	if n := api.TokensIssued(testClientID); n != 1 {
		t.Fatalf("OIDC asked %d times, want 1", n)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("warning for a trusted cache:\n%s", logs.String())
	}
}

func mustWrite(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
}

func mustMkdir(t *testing.T, path string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

func mustChown(t *testing.T, path string) {
	t.Helper()
	if err := os.Lchown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}
