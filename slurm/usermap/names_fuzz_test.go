package usermap

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// FuzzValidUsername checks the rule every mapper's answer goes through before the agent runs
// anything as that user: an accepted name is 1..MaxUsernameLen bytes of [A-Za-z0-9._-], does not
// start with '-' (it would read as an option), is not only digits (it would read as a uid), and
// is a single path component.
func FuzzValidUsername(f *testing.F) {
	for _, s := range []string{"alice", "Alice.Smith_2-x", "u1000", "1000", "-alice", ".", "..", "root",
		"al ice", "alice\n", "al/ice", "élise", "a\x00", strings.Repeat("a", MaxUsernameLen+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if err := ValidUsername(name); err != nil {
			if IsNotFound(err) {
				t.Fatalf("ValidUsername returned a not-found error: %v", err)
			}
			return
		}
		if name == "" || len(name) > MaxUsernameLen || name[0] == '-' || name == "." || name == ".." {
			t.Fatalf("ValidUsername accepted %q", name)
		}
		digits := true
		for _, c := range []byte(name) {
			word := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == '-'
			if !word && (c < '0' || c > '9') {
				t.Fatalf("ValidUsername accepted %q with byte %q", name, c)
			}
			digits = digits && !word
		}
		if digits {
			t.Fatalf("ValidUsername accepted the number %q", name)
		}
		if filepath.Base(name) != name || strings.ContainsAny(name, "/\x00") {
			t.Fatalf("ValidUsername accepted %q, which is not one path component", name)
		}
		if got, err := checkResult("a@b.c", name); err != nil || got != name {
			t.Fatalf("checkResult(%q) = %q, %v", name, got, err)
		}
	})
}

// FuzzValidEmail checks the e-mail gate in front of every mapper: an accepted address is bare
// (no display name, no angle brackets, no surrounding space), holds an '@', and carries no NUL
// or line break, so that it can go into an LDAP filter, an argv element and a log line as is.
func FuzzValidEmail(f *testing.F) {
	for _, s := range []string{"alice@example.com", "Alice.Smith+hpc@mail.example.org", `"a b"@example.com`,
		"Alice <alice@example.com>", " alice@example.com", "alice@example.com\n", "a\x00@b", "alice", "@example.com",
		"*)(uid=*))(|(uid=*@example.com", `alice\2a@example.com`, "alice@[127.0.0.1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, email string) {
		ok := validEmail(email)
		if err := requireEmail(email); (err == nil) != ok || (err != nil && !IsNotFound(err)) {
			t.Fatalf("requireEmail(%q) = %v, validEmail = %v", email, err, ok)
		}
		if !ok {
			return
		}
		if email != strings.TrimSpace(email) || strings.ContainsAny(email, "<>\x00\r\n") || !strings.Contains(email, "@") {
			t.Fatalf("validEmail accepted %q", email)
		}
	})
}

// FuzzLDAPMailFilter checks the search filter the LDAP mapper builds from an e-mail,
// "(mail=" + ldap.EscapeFilter(email) + ")", for any string: the escaped value holds no raw
// '*', '(', ')', '\' or NUL (every '\' starts a two-digit hex escape), and the filter compiles to
// one equality match on exactly the given bytes, so no input can widen or restructure the search.
func FuzzLDAPMailFilter(f *testing.F) {
	for _, s := range []string{"alice@example.com", "*", "*)(uid=*))(|(uid=*", `a\2a@b`, "a\x00b@c", "élise@example.com",
		"\xff\xfe@x", ")(", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, email string) {
		esc := ldap.EscapeFilter(email)
		for i := 0; i < len(esc); i++ {
			switch c := esc[i]; c {
			case '*', '(', ')', 0:
				t.Fatalf("EscapeFilter(%q) = %q keeps a raw %q", email, esc, c)
			case '\\':
				if i+2 >= len(esc) || !isHex(esc[i+1]) || !isHex(esc[i+2]) {
					t.Fatalf("EscapeFilter(%q) = %q has a '\\' without two hex digits at %d", email, esc, i)
				}
				i += 2
			}
		}
		if email == "" {
			return // "(mail=)" is not a valid filter; requireEmail refuses "" before this point
		}
		p, err := ldap.CompileFilter("(mail=" + esc + ")")
		if err != nil {
			t.Fatalf("filter for %q does not compile: %v", email, err)
		}
		if p.Tag != ldap.FilterEqualityMatch || len(p.Children) != 2 {
			t.Fatalf("filter for %q is %s with %d children, not one equality match", email, ldap.FilterMap[uint64(p.Tag)], len(p.Children))
		}
		if attr, val := p.Children[0].Data.String(), p.Children[1].Data.String(); attr != "mail" || val != email {
			t.Fatalf("filter for %q matches %s=%q", email, attr, val)
		}
	})
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// FuzzCheckPlainEmail checks the gate in front of command-mapper: an accepted address is at
// most MaxPlainEmailLen bytes, does not start with '-', has exactly one '@', holds only ASCII
// letters, digits, '.', '@' and !#%'*+/=?^_{}~- (no space, quote, control character or shell
// metacharacter), has no empty dot-separated part, and is a bare address for net/mail too; a
// refused one is a not-found error saying so.
func FuzzCheckPlainEmail(f *testing.F) {
	for _, s := range []string{"alice.smith+hpc@example.com", "o'brien@example.org", `"a;touch /tmp/x"@example.com`,
		"-rf@example.com", "a b@example.com", "$(id)@example.com", "a..b@example.com", "a`id`@b.c", "a|b@c.d",
		"alice@-x.org", "alice@x_y.org", "a@b", "élise@example.com", "a\x00@b.c", "a@b.c\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, email string) {
		err := CheckPlainEmail(email)
		if err != nil {
			if !IsNotFound(err) || !strings.Contains(err.Error(), "is not a plain e-mail address the cluster can map") {
				t.Fatalf("CheckPlainEmail(%q) = %v, want a not-found error saying so", email, err)
			}
			return
		}
		if email == "" || len(email) > MaxPlainEmailLen || email[0] == '-' || strings.Count(email, "@") != 1 {
			t.Fatalf("CheckPlainEmail accepted %q", email)
		}
		for _, c := range []byte(email) {
			if !asciiAlnum(c) && !strings.ContainsRune(".@!#%'*+/=?^_{}~-", rune(c)) {
				t.Fatalf("CheckPlainEmail accepted %q with byte %q", email, c)
			}
		}
		local, domain, _ := strings.Cut(email, "@")
		for _, part := range append(strings.Split(local, "."), strings.Split(domain, ".")...) {
			if part == "" {
				t.Fatalf("CheckPlainEmail accepted %q with an empty dot-separated part", email)
			}
		}
		if strings.ContainsAny(domain, "!#%'*+/=?^_{}~") {
			t.Fatalf("CheckPlainEmail accepted %q with a symbol in the domain", email)
		}
		if !validEmail(email) {
			t.Fatalf("CheckPlainEmail accepted %q, which net/mail refuses", email)
		}
	})
}
