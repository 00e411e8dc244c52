package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// A token file of the embedded server that a user could have planted, linked or read is refused
// when the agent starts (OptionsFor, run's path): whoever knows the token may queue work for any
// owner. Each case plants what a login-node user (nobody here) could place; the agent's own
// 0600 file in its own 0700 CACHE_DIR is used.
func TestPlantedEmbeddedTokenIsRefused(t *testing.T) {
	testenv.Require(t, "root", testenv.IsRoot(), "the attacks chown files to another user: run the tests as root")
	const nobody = 65534
	const planted = "0123456789abcdef-known-to-the-user"
	write := func(t *testing.T, path string, mode os.FileMode, uid int) {
		t.Helper()
		if err := os.WriteFile(path, []byte(planted+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, uid, -1); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		plant func(t *testing.T, dir string)
		want  string
	}{
		{"CACHE_DIR every user may write, token planted", func(t *testing.T, dir string) {
			os.Chmod(dir, 0o777)
			write(t, filepath.Join(dir, "nats.token"), 0o600, nobody)
		}, "every user may write it"},
		{"CACHE_DIR every user may write, no token yet", func(t *testing.T, dir string) {
			os.Chmod(dir, 0o1777)
		}, "every user may write it"},
		{"token file owned by another user", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "nats.token"), 0o600, nobody)
		}, "owned by"},
		{"token file a symbolic link to a root file", func(t *testing.T, dir string) {
			target := filepath.Join(t.TempDir(), "root-file")
			write(t, target, 0o600, 0)
			if err := os.Symlink(target, filepath.Join(dir, "nats.token")); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"token file others may read", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "nats.token"), 0o644, 0)
		}, "others may read the token"},
		{"token file a FIFO", func(t *testing.T, dir string) {
			if err := mkfifo(filepath.Join(dir, "nats.token")); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, dir)
			s := &config.Settings{CacheDir: dir, NATSStoreDir: filepath.Join(t.TempDir(), "store")}
			o, err := OptionsFor(s, "agent")
			if err == nil {
				t.Fatalf("started with token %q, want a refusal", o.Embedded.Token)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if tc.want != "others may read the token" && tc.want != "every user may write it" && !errors.Is(err, config.ErrUntrustedCacheFile) {
				t.Errorf("error %q does not wrap ErrUntrustedCacheFile", err)
			}
		})
	}
	t.Run("the agent's own file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "cache")
		s := &config.Settings{CacheDir: dir, NATSStoreDir: filepath.Join(t.TempDir(), "store")}
		first, err := OptionsFor(s, "agent")
		if err != nil {
			t.Fatal(err)
		}
		again, err := OptionsFor(s, "agent")
		if err != nil || again.Embedded.Token != first.Embedded.Token || first.Embedded.Token == planted {
			t.Fatalf("second start: %v, token kept %v", err, again.Embedded.Token == first.Embedded.Token)
		}
	})
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }
