package usermap_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// staticMapper is a site mapper used to test registration.
type staticMapper struct{ users map[string]string }

func (s staticMapper) Username(_ context.Context, email string) (string, error) {
	if u, ok := s.users[email]; ok {
		return u, nil
	}
	return "", usermap.NotFoundf("no static user for %s", email)
}

func TestRegistryNew(t *testing.T) {
	exe := writeProgram(t, "#!/bin/sh\necho alice\n")
	opts := usermap.Options{
		SingleUser: "ubuntu",
		CacheDir:   filepath.Join(t.TempDir(), "cache"),
		LDAP: usermap.LDAPConfig{
			Host: "127.0.0.1", Port: 1, BindDN: "cn=agent", Password: "pw", SearchBase: "dc=example,dc=org",
		},
		Command: usermap.CommandConfig{Program: exe},
	}
	tests := []struct {
		name    string
		opts    usermap.Options
		check   func(t *testing.T, m usermap.Mapper)
		wantErr string
	}{
		{name: "", opts: opts, check: func(t *testing.T, m usermap.Mapper) {
			if _, ok := m.(*usermap.SingleUser); !ok {
				t.Errorf("default mapper is %T, want *usermap.SingleUser", m)
			}
		}},
		{name: "single-user-mapper", opts: opts, check: func(t *testing.T, m usermap.Mapper) {
			u, err := m.Username(context.Background(), "anyone@example.org")
			if err != nil || u != "ubuntu" {
				t.Errorf("Username = %q, %v; want ubuntu", u, err)
			}
		}},
		{name: "ldap-cached-mapper", opts: opts, check: func(t *testing.T, m usermap.Mapper) {
			if _, ok := m.(*usermap.LDAPMapper); !ok {
				t.Errorf("mapper is %T, want *usermap.LDAPMapper", m)
			}
			if _, ok := m.(io.Closer); !ok {
				t.Errorf("LDAP mapper is not an io.Closer")
			}
		}},
		{name: "command-mapper", opts: opts, check: func(t *testing.T, m usermap.Mapper) {
			u, err := m.Username(context.Background(), "alice@example.org")
			if err != nil || u != "alice" {
				t.Errorf("Username = %q, %v; want alice", u, err)
			}
		}},
		{name: "single-user-mapper", opts: usermap.Options{},
			wantErr: "build user mapper single-user-mapper: No username was set for single-user job submission."},
		{name: "ldap-cached-mapper", opts: usermap.Options{}, wantErr: "LDAP_DOMAIN is required"},
		{name: "command-mapper", opts: usermap.Options{}, wantErr: "the program path is required"},
		{name: "nosuch", opts: opts,
			wantErr: "No user mapper found for the name 'nosuch', available mappers are: command-mapper, ldap-cached-mapper, single-user-mapper"},
	}
	reg := usermap.NewDefaultRegistry()
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.wantErr, func(t *testing.T) {
			m, err := reg.New(tt.name, tt.opts, logging.Discard())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New(%q) error = %v, want it to contain %q", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tt.name, err)
			}
			tt.check(t, m)
		})
	}
}

func TestRegistryUnknownIsSentinel(t *testing.T) {
	_, err := usermap.NewDefaultRegistry().New("nosuch", usermap.Options{}, nil)
	if !errors.Is(err, usermap.ErrUnknownMapper) {
		t.Fatalf("error %v does not match ErrUnknownMapper", err)
	}
	var ue *usermap.UnknownMapperError
	if !errors.As(err, &ue) || ue.Name != "nosuch" || len(ue.Available) != 3 {
		t.Fatalf("error %#v is not a complete *UnknownMapperError", err)
	}
	if _, err := usermap.NewRegistry().New("", usermap.Options{SingleUser: "x"}, nil); err == nil ||
		err.Error() != "No user mapper found for the name 'single-user-mapper', available mappers are: " {
		t.Fatalf("empty registry: error = %v", err)
	}
}

func TestRegistryRegister(t *testing.T) {
	reg := usermap.NewDefaultRegistry()
	site := func(usermap.Options, *slog.Logger) (usermap.Mapper, error) {
		return staticMapper{users: map[string]string{"zoe@example.org": "zoe"}}, nil
	}
	if err := reg.Register("site-mapper", site); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if err := reg.Register("site-mapper", site); !errors.Is(err, usermap.ErrDuplicateMapper) {
		t.Errorf("second Register = %v, want ErrDuplicateMapper", err)
	}
	if err := reg.Register(usermap.SingleUserMapperName, site); !errors.Is(err, usermap.ErrDuplicateMapper) {
		t.Errorf("Register over a built-in = %v, want ErrDuplicateMapper", err)
	}
	if err := reg.Register("", site); err == nil {
		t.Error("Register with an empty name succeeded")
	}
	if err := reg.Register("nil-factory", nil); err == nil {
		t.Error("Register with a nil factory succeeded")
	}
	want := "command-mapper ldap-cached-mapper single-user-mapper site-mapper"
	if got := strings.Join(reg.Names(), " "); got != want {
		t.Errorf("Names = %q, want %q", got, want)
	}
	m, err := reg.New("site-mapper", usermap.Options{}, nil)
	if err != nil {
		t.Fatalf("New(site-mapper): %v", err)
	}
	if u, err := m.Username(context.Background(), "zoe@example.org"); err != nil || u != "zoe" {
		t.Errorf("site mapper: %q, %v", u, err)
	}
	if _, err := m.Username(context.Background(), "x@example.org"); !usermap.IsNotFound(err) {
		t.Errorf("site mapper miss: %v, want not found", err)
	}
	// Other registries are not affected.
	if _, err := usermap.NewDefaultRegistry().New("site-mapper", usermap.Options{}, nil); !errors.Is(err, usermap.ErrUnknownMapper) {
		t.Errorf("fresh registry knows site-mapper: %v", err)
	}
}

func TestSingleUser(t *testing.T) {
	tests := []struct {
		user    string
		wantErr string
	}{
		{"ubuntu", ""},
		{"alice.smith", ""},
		{"", "No username was set for single-user job submission."},
		{"bad user", "has a character outside"},
		{"1000", "only digits"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			m, err := usermap.NewSingleUser(tt.user)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewSingleUser(%q) = %v, want error containing %q", tt.user, err, tt.wantErr)
				}
				if tt.user == "" && !errors.Is(err, usermap.ErrNoSingleUser) {
					t.Errorf("error %v is not ErrNoSingleUser", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewSingleUser(%q): %v", tt.user, err)
			}
			for _, email := range []string{"a@example.org", "b@example.org", "", "not an email"} {
				if u, err := m.Username(context.Background(), email); err != nil || u != tt.user {
					t.Errorf("Username(%q) = %q, %v; want %q", email, u, err, tt.user)
				}
			}
		})
	}
}
