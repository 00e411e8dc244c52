package config

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// otherUser returns the uid of a user other than root (alice, else nobody).
func otherUser(t *testing.T) (int, string) {
	t.Helper()
	testenv.Require(t, "root", testenv.IsRoot(), "files owned by another user are made with chown: run the tests as root")
	for _, name := range []string{"alice", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			return uid, name
		}
	}
	t.Skip("no user alice or nobody")
	return 0, ""
}

// loadHere loads the settings with dotenv (empty: the default ./.env) from inside dir and
// returns them with the notices.
func loadHere(t *testing.T, dir, dotenv string) (*Settings, []Notice) {
	t.Helper()
	if _, err := os.Lstat(SnapDotenv); err == nil {
		t.Skipf("%s exists: it is the default .env instead of ./.env", SnapDotenv)
	}
	t.Chdir(dir)
	var notices []Notice
	done := make(chan struct{})
	var s *Settings
	go func() { // a FIFO must not block Load
		defer close(done)
		s, _ = Load(Source{Dotenv: dotenv, Home: "/home/agent", Notify: func(n Notice) { notices = append(notices, n) }})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Load blocked on the .env file")
	}
	return s, notices
}

const plantedEnv = "JOBBERGATE_AGENT_ITEMS_PER_PAGE=7\nJOBBERGATE_AGENT_NATS_LISTEN=127.0.0.1:1\n"

// TestDefaultDotenvMustBeTrusted: the ./.env that a command reads when no --env-file is given is
// read only when it is a regular file owned by root or the caller that neither group nor others
// may write; otherwise it is refused with a notice naming it and why, and its settings are not
// used. A file named with --env-file is read whatever its owner, with a notice.
func TestDefaultDotenvMustBeTrusted(t *testing.T) {
	uid, name := otherUser(t)
	tests := []struct {
		name   string
		plant  func(t *testing.T, path string)
		reason string // "" = read without a notice
	}{
		{"root's 0644", func(t *testing.T, p string) { write(t, p, 0o644, 0) }, ""},
		{"another user's", func(t *testing.T, p string) { write(t, p, 0o644, uid) }, "owned by uid " + strconv.Itoa(uid) + " (" + name + "), neither root nor the caller"},
		{"group-writable", func(t *testing.T, p string) { write(t, p, 0o664, 0) }, "its group (gid 0"},
		{"world-writable", func(t *testing.T, p string) { write(t, p, 0o606, 0) }, "every user may write it (mode 0606)"},
		{"symbolic link to root's file", func(t *testing.T, p string) {
			write(t, p+".real", 0o600, 0)
			if err := os.Symlink(p+".real", p); err != nil {
				t.Fatal(err)
			}
		}, "it is a symbolic link"},
		{"named pipe", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "it is not a regular file but a named pipe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.plant(t, filepath.Join(dir, ".env"))
			s, notices := loadHere(t, dir, "")
			if tc.reason == "" {
				if len(notices) != 0 || s.ItemsPerPage != 7 {
					t.Errorf("a trusted ./.env must be read silently: ITEMS_PER_PAGE %d, notices %v", s.ItemsPerPage, notices)
				}
				return
			}
			if s.ItemsPerPage == 7 || s.NATSListen != "127.0.0.1:4222" {
				t.Errorf("the refused ./.env was read: ITEMS_PER_PAGE %d, NATS_LISTEN %s", s.ItemsPerPage, s.NATSListen)
			}
			if len(notices) != 1 || !notices[0].Refused || !strings.Contains(notices[0].Reason, tc.reason) {
				t.Fatalf("want one refusal saying %q, got %+v", tc.reason, notices)
			}
			line := notices[0].String()
			if !strings.Contains(line, "refusing to read the settings file ./.env ("+filepath.Join(dir, ".env")+")") || strings.Contains(line, "\n") {
				t.Errorf("the notice must name the file with its directory on one line: %q", line)
			}
		})
	}

	t.Run("directory named with an escape sequence", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "x\x1b]0;pwned\x07\x1b[2J")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, ".env"), 0o644, uid)
		_, notices := loadHere(t, dir, "")
		if len(notices) != 1 || strings.ContainsAny(notices[0].String(), "\x1b\x07") || !strings.Contains(notices[0].String(), `x\x1b]0;pwned\a\x1b[2J/.env"`) {
			t.Errorf("the notice must quote the path: %q", notices)
		}
	})

	t.Run("named with --env-file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "site.env")
		write(t, path, 0o644, uid)
		s, notices := loadHere(t, dir, path)
		if s.ItemsPerPage != 7 {
			t.Errorf("a named file must be read, ITEMS_PER_PAGE %d", s.ItemsPerPage)
		}
		if len(notices) != 1 || notices[0].Refused || !strings.Contains(notices[0].String(), "warning: reading the settings file "+path+" although it is owned by uid") {
			t.Errorf("want one warning, got %+v", notices)
		}
		link := filepath.Join(dir, "link.env")
		write(t, filepath.Join(dir, "root.env"), 0o600, 0)
		if err := os.Symlink("root.env", link); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(link, uid, uid); err != nil {
			t.Fatal(err)
		}
		s, notices = loadHere(t, dir, link)
		if s.ItemsPerPage != 7 || len(notices) != 1 || !strings.Contains(notices[0].Reason, "it is a symbolic link and owned by uid") {
			t.Errorf("a named link owned by another user: ITEMS_PER_PAGE %d, notices %+v", s.ItemsPerPage, notices)
		}
		write(t, filepath.Join(dir, "ok.env"), 0o600, 0)
		if s, notices = loadHere(t, dir, filepath.Join(dir, "ok.env")); s.ItemsPerPage != 7 || len(notices) != 0 {
			t.Errorf("root's own named file: ITEMS_PER_PAGE %d, notices %+v", s.ItemsPerPage, notices)
		}
	})
}

func write(t *testing.T, path string, mode os.FileMode, uid int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(plantedEnv), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // not reduced by the umask
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}
