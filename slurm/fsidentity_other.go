//go:build !linux

package slurm

import (
	"errors"
	"fmt"
)

// errIdentity is returned on systems without per-thread file-system identities.
var errIdentity = errors.New("acting with a user's file-system identity needs Linux")

// asUser is not available outside Linux: the agent runs on Linux login nodes.
func asUser(u User, _ bool, _ func() error) error {
	return fmt.Errorf("act as %q: %w", u.Name, errIdentity)
}

func userCanWrite(string) bool { return false }
