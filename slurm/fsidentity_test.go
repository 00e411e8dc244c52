//go:build linux

package slurm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// The identity switch is the thread's alone and is always given back: root work done on other
// goroutines at the same time, and on the same goroutine afterwards, is never judged as the user.
func TestAsUserNeverLeaksTheIdentity(t *testing.T) {
	u := nobody(t)
	rootDir := t.TempDir() // 0700, root's: nobody cannot create anything in it
	if err := os.Chmod(rootDir, 0o700); err != nil {
		t.Fatal(err)
	}
	before, err := threadIdentity()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 200 {
		wg.Go(func() {
			err := asUser(u, false, func() error {
				_, err := os.Create(filepath.Join(rootDir, "as-user"))
				if !errors.Is(err, os.ErrPermission) {
					return errors.New("nobody created a file in root's 0700 directory")
				}
				return nil
			})
			if err != nil {
				errs <- err
			}
		})
		wg.Go(func() { // root's work, interleaved
			f, err := os.CreateTemp(rootDir, "as-root")
			if err != nil {
				errs <- err
				return
			}
			f.Close()
			if i%50 == 0 {
				if id, err := threadIdentity(); err != nil || id.fsuid != before.fsuid {
					errs <- errors.New("a root goroutine's thread had another fsuid")
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	after, err := threadIdentity()
	if err != nil || after.fsuid != before.fsuid || after.fsgid != before.fsgid || len(after.groups) != len(before.groups) {
		t.Errorf("identity after = %+v, %v; before %+v", after, err, before)
	}
}

func TestAsUserRefusesRoot(t *testing.T) {
	called := false
	err := asUser(User{Name: "root"}, false, func() error { called = true; return nil })
	if !errors.Is(err, ErrRootUser) || called {
		t.Errorf("asUser(root) = %v, fn called %v; want ErrRootUser and no call", err, called)
	}
}

// A symbolic link the user planted under the target name is replaced, never followed: the write
// cannot reach a file outside the execution directory, and what is left is the user's file.
func TestWriteFileReplacesPlantedSymlink(t *testing.T) {
	u := nobody(t)
	dir := userDir(t, u)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("root's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "job.sh")); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	path, err := c.WriteFile(context.Background(), u, dir, "job.sh", []byte("#!/bin/sh\n"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "root's\n" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Uid != u.UID || st.Gid != u.GID {
		t.Errorf("%s: mode %o uid %d gid %d, want a regular file of %d:%d", path, st.Mode, st.Uid, st.Gid, u.UID, u.GID)
	}
}

// Group permissions are judged with exactly the groups the user is given.
func TestResolveExecutionDirJudgesGroups(t *testing.T) {
	u := nobody(t)
	const group = 4242                                 // a group nobody is not in
	dir, err := os.MkdirTemp("/tmp", "jbg-group-dir-") // under /tmp: nobody can reach it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, 0, group); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ResolveExecutionDir(context.Background(), u, dir); !errors.Is(err, ErrDirNotUsable) {
		t.Errorf("group-only directory, user not in the group: %v, want ErrDirNotUsable", err)
	}
	member := u
	member.Groups = []uint32{u.GID, group}
	got, err := c.ResolveExecutionDir(context.Background(), member, dir)
	if err != nil || got != dir {
		t.Errorf("group-only directory, user in the group: %q, %v; want it accepted", got, err)
	}
	if _, err := c.WriteFile(context.Background(), u, dir, "f", []byte("x")); !errors.Is(err, os.ErrPermission) {
		t.Errorf("write without the group: %v, want permission denied", err)
	}
	if _, err := c.WriteFile(context.Background(), member, dir, "f", []byte("x")); err != nil {
		t.Errorf("write with the group: %v", err)
	}
}
