package usermap_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

func TestNewLDAPValidation(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := usermap.LDAPConfig{
		Host: "ldap.example.org", BindDN: "cn=agent,dc=example,dc=org", Password: "s3cret-pw",
		SearchBase: "dc=example,dc=org", CacheDir: filepath.Join(dir, "cache"),
	}
	tests := []struct {
		name    string
		mutate  func(*usermap.LDAPConfig)
		wantErr []string
	}{
		{name: "defaults", mutate: func(*usermap.LDAPConfig) {}},
		{name: "all required missing", mutate: func(c *usermap.LDAPConfig) { *c = usermap.LDAPConfig{} },
			wantErr: []string{"LDAP_DOMAIN is required", "LDAP_BIND_DN is required", "LDAP_PASSWORD is required",
				"LDAP_SEARCH_BASE is required", "CACHE_DIR is required"}},
		{name: "bad tls mode", mutate: func(c *usermap.LDAPConfig) { c.TLSMode = "ssl" },
			wantErr: []string{`LDAP TLS mode "ssl" is not one of ldaps, starttls, plain`}},
		{name: "bad port", mutate: func(c *usermap.LDAPConfig) { c.Port = 70000 }, wantErr: []string{"LDAP_PORT 70000"}},
		{name: "bad uid attribute", mutate: func(c *usermap.LDAPConfig) { c.UIDAttribute = "uid)(x=*" },
			wantErr: []string{"LDAP_UID_ATTRIBUTE"}},
		{name: "missing CA file", mutate: func(c *usermap.LDAPConfig) { c.CAFile = filepath.Join(dir, "none.pem") },
			wantErr: []string{"read LDAP CA file"}},
		{name: "CA file without certificates", mutate: func(c *usermap.LDAPConfig) { c.CAFile = notPEM },
			wantErr: []string{"holds no PEM certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mutate(&cfg)
			m, err := usermap.NewLDAP(cfg, nil)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("NewLDAP: %v", err)
				}
				m.Close()
				return
			}
			if err == nil {
				t.Fatal("NewLDAP succeeded")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
}
