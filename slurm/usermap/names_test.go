package usermap

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidUsername(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"Alice.Smith_2-x", true},
		{"a", true},
		{"u1000", true},
		{strings.Repeat("a", MaxUsernameLen), true},
		{"", false},
		{strings.Repeat("a", MaxUsernameLen+1), false},
		{"-alice", false},
		{".", false},
		{"..", false},
		{"1000", false},
		{"mallory;rm", false},
		{"al ice", false},
		{"alice\n", false},
		{"al/ice", false},
		{"élise", false},
		{"alice$", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.name), func(t *testing.T) {
			err := ValidUsername(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidUsername(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
}

func TestValidEmail(t *testing.T) {
	tests := []struct {
		email string
		ok    bool
	}{
		{"alice@example.org", true},
		{"ALICE@Example.ORG", true},
		{"*@example.org", true},
		{`"bob)(mail=*"@example.org`, true},
		{"", false},
		{"carol.at.example.org", false},
		{"Alice <alice@example.org>", false},
		{"<alice@example.org>", false},
		{" alice@example.org", false},
		{"alice@example.org ", false},
		{"alice@example.org)(uid=*", false},
		{"a@b.org, c@d.org", false},
	}
	for _, tt := range tests {
		if got := validEmail(tt.email); got != tt.ok {
			t.Errorf("validEmail(%q) = %v, want %v", tt.email, got, tt.ok)
		}
	}
}

func TestNotFoundErrors(t *testing.T) {
	nf := NotFoundf("Did not find exactly one match for email=%s. Found %d", "x@example.org", 2)
	if got, want := nf.Error(), "Did not find exactly one match for email=x@example.org. Found 2"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("map owner: %w", nf)
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nf, true},
		{wrapped, true},
		{ErrNotFound, true},
		{errors.New("LDAP down"), false},
		{ErrClosed, false},
		{nil, false},
	} {
		if got := IsNotFound(tt.err); got != tt.want {
			t.Errorf("IsNotFound(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
