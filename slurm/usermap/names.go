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

// MaxPlainEmailLen is the longest address CheckPlainEmail accepts (RFC 5321's path limit less
// the angle brackets); its local part is at most 64 bytes.
const MaxPlainEmailLen = 254

// CheckPlainEmail returns nil when email is a plain dot-atom address that is safe to hand to
// another program as one argument, and otherwise a not-found error saying it is not an address
// the cluster can map. A plain address is local@domain where
//   - local is dot-separated atoms (no leading, trailing or double dot) of ASCII letters,
//     digits and the RFC 5322 atext characters !#%'*+/=?^_{}~- , except the shell
//     metacharacters $ & | and backquote, which atext allows;
//   - domain is dot-separated labels of ASCII letters, digits and '-', a label neither starting
//     nor ending with '-' and at most 63 bytes;
//   - the whole address does not start with '-' (it would read as an option), holds no space,
//     quote, control character, bracket or non-ASCII byte, and is at most MaxPlainEmailLen bytes.
//
// Every such address is also accepted by net/mail as a bare address.
func CheckPlainEmail(email string) error {
	if why := plainEmailProblem(email); why != "" {
		return NotFoundf("owner email %q is not a plain e-mail address the cluster can map (%s); "+
			"use an address made of letters, digits, '.', '_', '+' and '-' only", email, why)
	}
	return nil
}

func plainEmailProblem(email string) string {
	switch {
	case email == "":
		return "it is empty"
	case len(email) > MaxPlainEmailLen:
		return fmt.Sprintf("it is longer than %d characters", MaxPlainEmailLen)
	case email[0] == '-':
		return "it starts with '-'"
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return "it has no '@'"
	}
	local, domain := email[:at], email[at+1:]
	switch {
	case local == "":
		return "the part before '@' is empty"
	case len(local) > 64:
		return "the part before '@' is longer than 64 characters"
	case domain == "":
		return "the domain is empty"
	}
	for _, atom := range strings.Split(local, ".") {
		if atom == "" {
			return "the part before '@' has a leading, trailing or double dot"
		}
		for i := 0; i < len(atom); i++ {
			if !plainAtext(atom[i]) {
				return fmt.Sprintf("the part before '@' holds %q", atom[i])
			}
		}
	}
	for _, label := range strings.Split(domain, ".") {
		switch {
		case label == "":
			return "the domain has a leading, trailing or double dot"
		case len(label) > 63:
			return "a domain label is longer than 63 characters"
		case label[0] == '-' || label[len(label)-1] == '-':
			return "a domain label starts or ends with '-'"
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !asciiAlnum(c) && c != '-' {
				return fmt.Sprintf("the domain holds %q", c)
			}
		}
	}
	return ""
}

func asciiAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// plainAtext reports whether c may appear in an atom of a plain local part: RFC 5322 atext
// without the shell metacharacters $, &, | and backquote.
func plainAtext(c byte) bool {
	return asciiAlnum(c) || strings.IndexByte("!#%'*+/=?^_{}~-", c) >= 0
}
