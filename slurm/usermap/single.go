package usermap

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoSingleUser is returned by NewSingleUser without a user name. Its text is the reference's.
var ErrNoSingleUser = errors.New("No username was set for single-user job submission.")

// SingleUser maps every e-mail to one user. It holds no resources and is safe for concurrent use.
type SingleUser struct {
	username string
}

// NewSingleUser returns a mapper that answers username for every e-mail. The name must pass
// ValidUsername; an empty one gives ErrNoSingleUser.
func NewSingleUser(username string) (*SingleUser, error) {
	if username == "" {
		return nil, ErrNoSingleUser
	}
	if err := ValidUsername(username); err != nil {
		return nil, fmt.Errorf("single-user mapper: %w", err)
	}
	return &SingleUser{username: username}, nil
}

// Username returns the configured user for any e-mail (even an empty one) and never fails.
func (s *SingleUser) Username(context.Context, string) (string, error) {
	return s.username, nil
}
