//go:build linux

package slurm

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errIdentity is a failure to take on or give back a user's file-system identity: the agent's
// fault, never the submission's.
var errIdentity = errors.New("file-system identity switch failed")

// asUser runs fn on an OS thread of its own whose file-system identity is u's: fsuid, fsgid and
// supplementary groups (u.Groups, or only u.GID) are set on that thread alone with raw
// setgroups/setfsgid/setfsuid system calls, so every path lookup, open, create, rename and
// access check fn makes is judged by the kernel as u's (a non-zero fsuid also drops root's
// file-system capabilities, CAP_DAC_OVERRIDE among them), and files it creates belong to u.
// Other goroutines never run on that thread while it holds u's identity (it is locked to fn's
// goroutine, and the Go runtime does not start new threads from a locked one); it gets the
// agent's identity back before it is released, and if that fails the thread is left locked to
// an exiting goroutine, which makes the runtime destroy it. fn must not start goroutines that
// touch the file system for u (they would run on other threads, as the agent).
//
// A uid 0 user is refused with ErrRootUser unless allowRoot.
func asUser(u User, allowRoot bool, fn func() error) error {
	if u.UID == 0 && !allowRoot {
		return fmt.Errorf("act as %q: %w", u.Name, ErrRootUser)
	}
	groups := u.Groups
	if len(groups) == 0 {
		groups = []uint32{u.GID}
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread's own identity, to give back (the agent's: the same on every thread).
		orig, err := threadIdentity()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		if err := setThreadIdentity(identity{u.UID, u.GID, groups}); err != nil {
			if rerr := setThreadIdentity(orig); rerr != nil {
				done <- errors.Join(err, rerr) // thread stays locked: destroyed on exit
				return
			}
			runtime.UnlockOSThread()
			done <- err
			return
		}
		ferr := fn()
		if rerr := setThreadIdentity(orig); rerr != nil {
			done <- errors.Join(ferr, rerr) // thread stays locked: destroyed on exit
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// identity is a thread's file-system identity.
type identity struct {
	fsuid, fsgid uint32
	groups       []uint32
}

// setThreadIdentity sets the calling thread's supplementary groups, fsgid and fsuid, in that
// order, and checks that the kernel took them.
func setThreadIdentity(id identity) error {
	groups := id.groups
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, uintptr(len(groups)), uintptr(p), 0); e != 0 {
		return fmt.Errorf("%w: setgroups: %w", errIdentity, e)
	}
	syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(id.fsgid), 0, 0)
	syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(id.fsuid), 0, 0)
	cur, err := threadIdentity()
	if err != nil {
		return err
	}
	if cur.fsuid != id.fsuid || cur.fsgid != id.fsgid {
		return fmt.Errorf("%w: fsuid/fsgid are %d/%d, want %d/%d", errIdentity, cur.fsuid, cur.fsgid, id.fsuid, id.fsgid)
	}
	return nil
}

// threadIdentity returns the calling thread's fsuid, fsgid and supplementary groups.
// setfsuid/setfsgid with an invalid id (-1) change nothing and return the current one.
func threadIdentity() (identity, error) {
	uid, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(^uint32(0)), 0, 0)
	gid, _, _ := syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(^uint32(0)), 0, 0)
	id := identity{fsuid: uint32(uid), fsgid: uint32(gid), groups: []uint32{}}
	n, _, e := syscall.RawSyscall(syscall.SYS_GETGROUPS, 0, 0, 0)
	if e != 0 {
		return identity{}, fmt.Errorf("%w: getgroups: %w", errIdentity, e)
	}
	if n == 0 {
		return id, nil
	}
	g := make([]uint32, n)
	n, _, e = syscall.RawSyscall(syscall.SYS_GETGROUPS, n, uintptr(unsafe.Pointer(&g[0])), 0)
	if e != 0 {
		return identity{}, fmt.Errorf("%w: getgroups: %w", errIdentity, e)
	}
	id.groups = g[:n]
	return id, nil
}

// userCanWrite reports whether the calling thread's identity may write path, by access(2) rules
// with the effective (here: file-system) identity: faccessat2 with AT_EACCESS.
func userCanWrite(path string) bool {
	return unix.Faccessat2(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS) == nil
}
