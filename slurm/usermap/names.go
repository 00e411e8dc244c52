package usermap

import (
	"fmt"
	"net/mail"
	"strings"
)

// MaxUsernameLen is the longest user name accepted (the Linux useradd limit).
const MaxUsernameLen = 32

// ValidUsername reports (as a nil error) whether name is usable as a local user name: 1 to
// MaxUsernameLen characters from the POSIX portable set [A-Za-z0-9._-], not starting with '-',
// not "." or "..", and not only digits (it would read as a numeric uid). It does not check that
// the user exists on this host.
func ValidUsername(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty user name")
	case len(name) > MaxUsernameLen:
		return fmt.Errorf("user name %q is longer than %d characters", name, MaxUsernameLen)
	case name[0] == '-':
		return fmt.Errorf("user name %q starts with '-'", name)
	case name == "." || name == "..":
		return fmt.Errorf("user name %q is not allowed", name)
	}
	digits := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '.', c == '_', c == '-':
			digits = false
		default:
			return fmt.Errorf("user name %q has a character outside [A-Za-z0-9._-]", name)
		}
	}
	if digits {
		return fmt.Errorf("user name %q is only digits", name)
	}
	return nil
}

// checkResult turns an invalid name produced by a mapper into a not-found error.
func checkResult(email, name string) (string, error) {
	if err := ValidUsername(name); err != nil {
		return "", NotFoundf("the user name found for email=%s is not a valid local user name: %v", email, err)
	}
	return name, nil
}

// validEmail reports whether s is a bare e-mail address (RFC 5322 addr-spec as parsed by
// net/mail): no display name, no angle brackets, no surrounding space.
func validEmail(s string) bool {
	if s == "" || s != strings.TrimSpace(s) || strings.ContainsAny(s, "<>\x00") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == ""
}

// requireEmail returns a not-found error when email is not a bare e-mail address.
func requireEmail(email string) error {
	if !validEmail(email) {
		return NotFoundf("owner email %q is not a valid e-mail address", email)
	}
	return nil
}
