package slurm

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// guardUsers returns a client and the local users alice and bob (root needed to switch users).
func guardUsers(t *testing.T) (*Client, User, User) {
	t.Helper()
	testenv.Require(t, "root", testenv.IsRoot(), "the directory checks run as alice and bob: run them as root")
	c, err := New(Options{GetExtraGroups: true}) // the users' groups count, as the kernel counts them
	if err != nil {
		t.Fatal(err)
	}
	alice, err := c.LookupUser("alice")
	testenv.Require(t, "users", err == nil, "no local user alice: "+startSlurm)
	bob, err := c.LookupUser("bob")
	testenv.Require(t, "users", err == nil, "no local user bob: "+startSlurm)
	return c, alice, bob
}

// sharedGroup is the gid of jbgshared, the group every test user is in.
func sharedGroup(t *testing.T) uint32 {
	t.Helper()
	g, err := user.LookupGroup("jbgshared")
	testenv.Require(t, "users", err == nil, "no group jbgshared: "+startSlurm)
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(gid)
}

func mkdirOwned(t *testing.T, path string, u User, mode os.FileMode) string {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, int(u.UID), int(u.GID)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func symlinkOwned(t *testing.T, target, link string, u User) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, int(u.UID), int(u.GID)); err != nil {
		t.Fatal(err)
	}
	return link
}

// TestRealResolveExecutionDir judges directories as alice, as the kernel does for her uid and
// groups: her own directory (directly or through her symlink), a project directory of bob's
// group that she is in, root's world-writable /tmp and bob's world-writable directory are
// accepted and returned resolved, whoever owns them; a symlink to /etc, a group directory of a
// group she is not in, relative, control-character, missing and non-directory paths are
// refused. Nothing is created by the check.
func TestRealResolveExecutionDir(t *testing.T) {
	c, alice, bob := guardUsers(t)
	base, err := os.MkdirTemp("/tmp", "jbg-dirguard-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	home := mkdirOwned(t, filepath.Join(base, "alice"), alice, 0o700)
	work := mkdirOwned(t, filepath.Join(home, "work"), alice, 0o700)
	rootDir := mkdirOwned(t, filepath.Join(base, "root"), User{}, 0o755)
	bobPublic := mkdirOwned(t, filepath.Join(base, "bob-public"), bob, 0o777)
	// A project directory of bob's, writable by group jbgshared (alice and bob are in it), and
	// one writable by bob's own group only.
	project := mkdirOwned(t, filepath.Join(base, "project"), bob, 0o2770)
	bobsGroup := mkdirOwned(t, filepath.Join(base, "bobs-group"), bob, 0o770)
	shared := sharedGroup(t)
	if err := os.Chown(project, int(bob.UID), int(shared)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(project, 0o2770); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(home, "file"), int(alice.UID), int(alice.GID))
	toWork := symlinkOwned(t, work, filepath.Join(home, "to-work"), alice)
	toEtc := symlinkOwned(t, "/etc", filepath.Join(home, "to-etc"), alice)
	toTmp := symlinkOwned(t, "/tmp", filepath.Join(home, "to-tmp"), alice)
	toBob := symlinkOwned(t, bobPublic, filepath.Join(home, "to-bob"), alice)

	tests := []struct {
		name    string
		dir     string
		want    string // resolved path when accepted
		wantErr error
		errPart string
	}{
		{name: "own dir", dir: home, want: home},
		{name: "own symlink to own dir", dir: toWork, want: work},
		{name: "dot-dot inside own dir", dir: work + "/../work", want: work},
		{name: "symlink to /etc", dir: toEtc, wantErr: ErrDirNotUsable, errPart: "resolves to /etc"},
		{name: "symlink to root's world-writable /tmp", dir: toTmp, want: "/tmp"},
		{name: "bob's world-writable dir", dir: bobPublic, want: bobPublic},
		{name: "symlink to bob's dir", dir: toBob, want: bobPublic},
		{name: "project dir of a group she is in", dir: project, want: project},
		{name: "group dir of a group she is not in", dir: bobsGroup, wantErr: ErrDirNotUsable, errPart: bobsGroup},
		{name: "relative", dir: "work", wantErr: ErrRelativeDir},
		{name: "newline", dir: home + "\n/etc", wantErr: ErrInvalidDirName},
		{name: "NUL", dir: home + "\x00", wantErr: ErrInvalidDirName},
		{name: "missing", dir: filepath.Join(home, "missing"), wantErr: ErrDirNotUsable, errPart: filepath.Join(home, "missing")},
		{name: "a file", dir: filepath.Join(home, "file"), wantErr: ErrDirNotUsable},
		{name: "root's dir", dir: rootDir, wantErr: ErrDirNotUsable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ResolveExecutionDir(context.Background(), alice, tt.dir)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("ResolveExecutionDir(%q) = %q, %v; want %q", tt.dir, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errPart) || got != "" {
				t.Fatalf("ResolveExecutionDir(%q) = %q, %v; want %v mentioning %q", tt.dir, got, err, tt.wantErr, tt.errPart)
			}
		})
	}
	entries, err := os.ReadDir(bobPublic)
	if err != nil || len(entries) != 0 {
		t.Errorf("bob's directory holds %v after the checks (%v)", entries, err)
	}
}
