package usermap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// These tests plant, as another user where the attack allows it, a cache file of the LDAP mapper
// that maps e-mails to users they must not map to, and check that the mapper (built through the
// registry, as the agent does) never answers with those users and never writes through the
// planted file.

const nobodyID = 65534 // nobody:nogroup on Debian

// forgedMappings is what the attacker wants the agent to believe: their address runs as root,
// alice's runs as bob.
var forgedMappings = map[string]string{"mallory@example.com": "root", "alice@example.org": "bob"}

func forgedCacheJSON() []byte {
	users := map[string]cacheEntry{}
	for email, name := range forgedMappings {
		users[email] = cacheEntry{Username: name, StoredAt: time.Now().UTC()}
	}
	data, err := json.Marshal(cacheFileContent{Version: cacheFormatVersion, Users: users})
	if err != nil {
		panic(err)
	}
	return data
}

// attackBase returns a new directory, owned by root with mode 0755 so that nobody can reach
// what the test puts below it, removed at the end of the test.
func attackBase(t *testing.T) string {
	t.Helper()
	testenv.Require(t, "root", testenv.IsRoot(), "the attacks chown files to nobody and run processes as nobody: run the tests as root")
	base, err := os.MkdirTemp("", "usermap-cache-attack-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	return base
}

// asNobody runs argv as nobody:nogroup (no supplementary groups): a real local user's process.
func asNobody(t *testing.T, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyID, Gid: nobodyID}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as nobody, %q: %v: %s", argv, err, out)
	}
}

// mkdirMode creates dir with exactly mode (no umask) and owner uid:gid.
func mkdirMode(t *testing.T, dir string, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

// writeMode writes a file with exactly mode (no umask) and owner uid:gid.
func writeMode(t *testing.T, path string, data []byte, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// newAttackedLDAP builds ldap-cached-mapper on cacheDir through the registry, with a server
// address where nothing listens: every answer that is not from the cache is a failure.
func newAttackedLDAP(t *testing.T, cacheDir string) (*LDAPMapper, *testenv.SyncBuffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logs := &testenv.SyncBuffer{}
	m, err := NewDefaultRegistry().New(LDAPMapperName, Options{
		CacheDir: cacheDir,
		LDAP: LDAPConfig{Host: "127.0.0.1", Port: port, BindDN: "cn=agent,dc=example,dc=org", Password: "pw",
			SearchBase: "dc=example,dc=org", TLSMode: LDAPModePlain, DialTimeout: 2 * time.Second},
	}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return m.(*LDAPMapper), logs
}

// requireNoForgedMapping fails the test when the mapper answers any forged mapping.
func requireNoForgedMapping(t *testing.T, m *LDAPMapper) {
	t.Helper()
	for email, forged := range forgedMappings {
		u, err := m.Username(context.Background(), email)
		if err == nil || u == forged {
			t.Errorf("Username(%s) = %q, %v: the planted cache file was trusted", email, u, err)
		}
	}
}

// requireSafeCacheFile checks that path is now a regular file written by the agent (its euid,
// mode 0600) that holds want and none of the forged mappings.
func requireSafeCacheFile(t *testing.T, path string, want map[string]string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 || int(st.Uid) != os.Geteuid() {
		t.Fatalf("%s after a write is %v owned by %d, want a regular 0600 file owned by %d", path, fi.Mode(), st.Uid, os.Geteuid())
	}
	dir := filepath.Dir(path)
	m, _ := newAttackedLDAP(t, dir)
	requireNoForgedMapping(t, m)
	for email, name := range want {
		if u, ok := m.cache.get(email); !ok || u != name {
			t.Errorf("rewritten cache: get(%s) = %q, %v; want %q", email, u, ok, name)
		}
	}
}

func requireLog(t *testing.T, logs *testenv.SyncBuffer, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(logs.String(), p) {
			t.Errorf("log lacks %q: %s", p, logs)
		}
	}
}

// A symbolic link planted as the cache file, pointing at a root-owned file with forged
// mappings, is not followed, and the next write replaces the link without touching its target.
func TestLDAPCacheSymlinkIsNotFollowed(t *testing.T) {
	base := attackBase(t)
	cacheDir := filepath.Join(base, "cache")
	mkdirMode(t, cacheDir, 0o700, 0, 0)
	target := filepath.Join(base, "forged.json")
	forged := forgedCacheJSON()
	writeMode(t, target, forged, 0o600, 0, 0)
	path := filepath.Join(cacheDir, CacheFileName)
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}

	m, logs := newAttackedLDAP(t, cacheDir)
	requireNoForgedMapping(t, m)
	requireLog(t, logs, "ignoring unsafe user mapper cache file", "is a symbolic link")

	if err := m.cache.put("carol@example.org", "carol"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, forged) {
		t.Errorf("the symlink's target was written through: %s", got)
	}
	requireSafeCacheFile(t, path, map[string]string{"carol@example.org": "carol"})
}

// A cache file owned by another user (nobody) is not read, and is replaced on the next write.
func TestLDAPCacheOwnedByAnotherUserIsNotUsed(t *testing.T) {
	base := attackBase(t)
	cacheDir := filepath.Join(base, "cache")
	mkdirMode(t, cacheDir, 0o700, 0, 0)
	path := filepath.Join(cacheDir, CacheFileName)
	writeMode(t, path, forgedCacheJSON(), 0o600, nobodyID, nobodyID)

	m, logs := newAttackedLDAP(t, cacheDir)
	requireNoForgedMapping(t, m)
	requireLog(t, logs, "ignoring unsafe user mapper cache file", fmt.Sprintf("owned by uid %d", nobodyID))

	if err := m.cache.put("carol@example.org", "carol"); err != nil {
		t.Fatal(err)
	}
	requireSafeCacheFile(t, path, map[string]string{"carol@example.org": "carol"})
}

// A root-owned cache file that its group or others may write: nobody rewrites it in place with
// forged mappings; the agent does not read it and replaces it (a new inode) on the next write.
func TestLDAPCacheWritableByOthersIsNotUsed(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		gid  int
	}{
		{"group-writable", 0o660, nobodyID},
		{"other-writable", 0o646, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := attackBase(t)
			cacheDir := filepath.Join(base, "cache")
			mkdirMode(t, cacheDir, 0o755, 0, 0)
			path := filepath.Join(cacheDir, CacheFileName)
			writeMode(t, path, []byte(`{"version": 1, "users": {}}`), tc.mode, 0, tc.gid)
			before, _ := os.Stat(path)

			// The attack: nobody overwrites the agent's file in place.
			forged := forgedCacheJSON()
			asNobody(t, "/bin/sh", "-c", `printf '%s' "$1" > "$2"`, "sh", string(forged), path)
			if got, _ := os.ReadFile(path); !bytes.Equal(got, forged) {
				t.Fatalf("the attack did not take: %s", got)
			}

			m, logs := newAttackedLDAP(t, cacheDir)
			requireNoForgedMapping(t, m)
			requireLog(t, logs, "ignoring unsafe user mapper cache file", "writable by its group or others")

			if err := m.cache.put("carol@example.org", "carol"); err != nil {
				t.Fatal(err)
			}
			after, _ := os.Stat(path)
			if os.SameFile(before, after) {
				t.Error("the write went into the file others can write instead of a new file")
			}
			requireSafeCacheFile(t, path, map[string]string{"carol@example.org": "carol"})
		})
	}
}

// A cache directory its group or others may write: nobody moves a root-owned file with forged
// mappings (mode 0600, a regular file, so it passes every check on the file itself) into place.
// The agent uses no file in such a directory: it neither reads nor writes it and keeps the
// cache in memory.
func TestLDAPCacheDirectoryWritableByOthersIsNotUsed(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		gid  int
	}{
		{"group-writable", 0o770, nobodyID},
		{"other-writable", 0o777, 0},
		{"sticky world-writable", 0o777 | os.ModeSticky, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := attackBase(t)
			cacheDir := filepath.Join(base, "cache")
			mkdirMode(t, cacheDir, tc.mode, 0, tc.gid)
			staging := filepath.Join(base, "staging")
			mkdirMode(t, staging, 0o700, nobodyID, nobodyID)
			forged := forgedCacheJSON()
			writeMode(t, filepath.Join(staging, "f"), forged, 0o600, 0, 0)

			// The attack: nobody renames the root-owned file into the cache directory.
			path := filepath.Join(cacheDir, CacheFileName)
			asNobody(t, "/bin/mv", filepath.Join(staging, "f"), path)
			fi, err := os.Lstat(path)
			if err != nil || !fi.Mode().IsRegular() || fi.Sys().(*syscall.Stat_t).Uid != 0 {
				t.Fatalf("the attack did not take: %v, %v", fi, err)
			}

			m, logs := newAttackedLDAP(t, cacheDir)
			requireNoForgedMapping(t, m)
			requireLog(t, logs, "not using the user mapper cache file", "writable by its group or others")

			if err := m.cache.put("carol@example.org", "carol"); err != nil {
				t.Fatal(err)
			}
			if u, ok := m.cache.get("carol@example.org"); !ok || u != "carol" {
				t.Errorf("memory-only cache: get(carol) = %q, %v", u, ok)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, forged) {
				t.Errorf("the agent wrote into a directory others can write: %s", got)
			}
			if entries, _ := os.ReadDir(cacheDir); len(entries) != 1 {
				t.Errorf("the agent left files in a directory others can write: %v", entries)
			}
		})
	}
}

// A cache directory owned by another user is not used either.
func TestLDAPCacheDirectoryOwnedByAnotherUserIsNotUsed(t *testing.T) {
	base := attackBase(t)
	cacheDir := filepath.Join(base, "cache")
	mkdirMode(t, cacheDir, 0o700, nobodyID, nobodyID)
	writeMode(t, filepath.Join(cacheDir, CacheFileName), forgedCacheJSON(), 0o600, 0, 0)

	m, logs := newAttackedLDAP(t, cacheDir)
	requireNoForgedMapping(t, m)
	requireLog(t, logs, "not using the user mapper cache file", fmt.Sprintf("owned by uid %d", nobodyID))
}
