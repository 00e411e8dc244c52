// Package usermap maps the e-mail address of a Jobbergate user (a submission's owner_email) to
// the local Unix user that the job is submitted as.
//
// A Mapper answers with a user name or an error the caller branches on: an error for which
// IsNotFound is true means the e-mail maps to no usable local user, a permanent decision (the
// submission is rejected with "Username could not be resolved from owner email" and the error
// text as detail); any other error is transient (LDAP down, a timeout, a crashing site program)
// and the caller retries later.
//
// Built-in mappers, created by name through a Registry (see NewDefaultRegistry):
//   - single-user-mapper: every e-mail maps to one configured user (the default);
//   - ldap-cached-mapper: an LDAP search by mail, cached on disk under the cache directory;
//   - command-mapper: a site program that prints the user name.
//
// Every mapper returns only names that pass ValidUsername.
package usermap

import (
	"context"
	"errors"
	"fmt"
)

// Mapper maps an e-mail address to a local user name.
//
// Implementations are safe for concurrent use. Username returns a name that passes
// ValidUsername, or an error: IsNotFound(err) means "no user for this e-mail" (permanent), any
// other error is transient. A mapper that holds resources also implements io.Closer.
type Mapper interface {
	Username(ctx context.Context, email string) (string, error)
}

// ErrNotFound is the sentinel matched (with errors.Is) by every "this e-mail maps to no user"
// error. Use IsNotFound or errors.Is; the error texts carry the detail for the rejection message.
var ErrNotFound = errors.New("username not found")

// ErrClosed is returned by a mapper used after Close. It is not a not-found error.
var ErrClosed = errors.New("user mapper is closed")

// notFoundError is a not-found error whose text is only its detail, so that it reads well in a
// rejection message, while still matching ErrNotFound.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

// NotFoundf returns an error that matches ErrNotFound and reads as the formatted text. Mappers
// written by a site use it for their "no such user" answers.
func NotFoundf(format string, args ...any) error {
	return &notFoundError{msg: fmt.Sprintf(format, args...)}
}

// IsNotFound reports whether err means that the e-mail maps to no user (a permanent answer),
// as opposed to a transient failure.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
