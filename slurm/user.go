package slurm

import (
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
)

// ErrRootUser is returned when a command would run as uid 0 and the caller did not allow it.
var ErrRootUser = errors.New("refusing to run commands as root (uid 0)")

// ErrUnknownUser is returned when the local passwd database has no such user.
var ErrUnknownUser = errors.New("unknown local user")

// User is the identity a command runs as. Groups is the complete supplementary group list the
// child gets (set with setgroups); it never inherits the agent's groups.
type User struct {
	Name   string
	UID    uint32
	GID    uint32
	Groups []uint32
	Home   string
}

// UserOptions decide how a local user is resolved.
type UserOptions struct {
	// GetExtraGroups sets the user's supplementary groups from the group database (os/user
	// GroupIds). When false the child gets exactly its primary group and nothing else.
	GetExtraGroups bool
	// AllowRoot permits uid 0. Without it LookupUser returns ErrRootUser for root.
	AllowRoot bool
}

// LookupUser resolves a local user name to its uid, primary gid and supplementary groups.
// It is safe for concurrent use.
func LookupUser(name string, opts UserOptions) (User, error) {
	if name == "" {
		return User{}, fmt.Errorf("look up user %q: %w", name, ErrUnknownUser)
	}
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return User{}, fmt.Errorf("look up user %q: %w", name, ErrUnknownUser)
		}
		return User{}, fmt.Errorf("look up user %q: %w", name, err)
	}
	uid, err := parseID(u.Uid)
	if err != nil {
		return User{}, fmt.Errorf("look up user %q: uid: %w", name, err)
	}
	gid, err := parseID(u.Gid)
	if err != nil {
		return User{}, fmt.Errorf("look up user %q: gid: %w", name, err)
	}
	if uid == 0 && !opts.AllowRoot {
		return User{}, fmt.Errorf("user %q: %w", name, ErrRootUser)
	}
	res := User{Name: u.Username, UID: uid, GID: gid, Groups: []uint32{gid}, Home: u.HomeDir}
	if opts.GetExtraGroups {
		ids, err := u.GroupIds()
		if err != nil {
			return User{}, fmt.Errorf("Failed to get supplementary groups for user %s: %w", name, err)
		}
		for _, s := range ids {
			g, err := parseID(s)
			if err != nil {
				return User{}, fmt.Errorf("Failed to get supplementary groups for user %s: %w", name, err)
			}
			if !slices.Contains(res.Groups, g) {
				res.Groups = append(res.Groups, g)
			}
		}
	}
	return res, nil
}

func parseID(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid id %q: %w", s, err)
	}
	return uint32(v), nil
}

// ErrSystemUser is returned by CheckSubmitUID for a system account (uid below the minimum).
var ErrSystemUser = errors.New("refusing to submit as a system account")

// CheckSubmitUID refuses system accounts: a uid from 1 to minUID-1 (daemon, bin, service
// users...) wraps ErrSystemUser and names the user, its uid and the minimum. uid 0 is left to
// ErrRootUser (LookupUser and UserOptions.AllowRoot); minUID 0 or 1 disables the check.
func CheckSubmitUID(u User, minUID uint32) error {
	if u.UID != 0 && u.UID < minUID {
		return fmt.Errorf("%w: user %q has uid %d, below the minimum uid %d for submissions", ErrSystemUser, u.Name, u.UID, minUID)
	}
	return nil
}
