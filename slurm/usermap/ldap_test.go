package usermap_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// defaultLDAPEnvFile is written by deploy/ldap/slapd.sh start.
const defaultLDAPEnvFile = "/var/lib/jobbergate-agent-test/ldap/env"

// testLDAP describes the private slapd started by deploy/ldap/slapd.sh.
type testLDAP struct {
	host      string
	ldapPort  int
	ldapsPort int
	base      string
	bindDN    string
	password  string
	caFile    string
}

// requireLDAP reads the slapd env file and checks that the server listens; it skips the test
// (fails under CI=true) otherwise.
func requireLDAP(t testing.TB) testLDAP {
	t.Helper()
	path := os.Getenv("JOBBERGATE_TEST_LDAP_ENV")
	if path == "" {
		path = defaultLDAPEnvFile
	}
	env, err := readEnvFile(path)
	var l testLDAP
	if err == nil {
		l = testLDAP{
			host: env["LDAP_TEST_HOST"], base: env["LDAP_TEST_SEARCH_BASE"], bindDN: env["LDAP_TEST_BIND_DN"],
			password: env["LDAP_TEST_PASSWORD"], caFile: env["LDAP_TEST_CA_FILE"],
		}
		l.ldapPort, _ = strconv.Atoi(env["LDAP_TEST_PORT"])
		l.ldapsPort, _ = strconv.Atoi(env["LDAP_TEST_LDAPS_PORT"])
		var c net.Conn
		c, err = net.DialTimeout("tcp", net.JoinHostPort(l.host, strconv.Itoa(l.ldapsPort)), 2*time.Second)
		if err == nil {
			c.Close()
		}
	}
	testenv.Require(t, "slapd", err == nil,
		fmt.Sprintf("%v: run deploy/ldap/slapd.sh start (as root)", err))
	return l
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	return env, sc.Err()
}

// config returns an LDAPS configuration for the test server with a fresh cache dir.
func (l testLDAP) config(t testing.TB) usermap.LDAPConfig {
	return usermap.LDAPConfig{
		Host: l.host, Port: l.ldapsPort, BindDN: l.bindDN, Password: l.password, SearchBase: l.base,
		CAFile: l.caFile, CacheDir: filepath.Join(t.TempDir(), "cache"),
		DialTimeout: 5 * time.Second, RequestTimeout: 5 * time.Second,
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func newLDAP(t *testing.T, cfg usermap.LDAPConfig, logger *slog.Logger) *usermap.LDAPMapper {
	t.Helper()
	m, err := usermap.NewLDAP(cfg, logger)
	if err != nil {
		t.Fatalf("NewLDAP: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func readCache(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, usermap.CacheFileName))
	if err != nil {
		t.Fatal(err)
	}
	var content struct {
		Users map[string]any `json:"users"`
	}
	if err := json.Unmarshal(b, &content); err != nil {
		t.Fatalf("cache file: %v", err)
	}
	return content.Users
}

func TestLDAPMapperFindsAndCaches(t *testing.T) {
	l := requireLDAP(t)
	cfg := l.config(t)
	m := newLDAP(t, cfg, nil)
	ctx := context.Background()

	u, err := m.Username(ctx, "alice@example.org")
	if err != nil || u != "alice" {
		t.Fatalf("Username(alice) = %q, %v", u, err)
	}
	if n := m.Searches(); n != 1 {
		t.Fatalf("searches after first lookup = %d, want 1", n)
	}
	u, err = m.Username(ctx, "alice@example.org")
	if err != nil || u != "alice" || m.Searches() != 1 {
		t.Fatalf("second lookup = %q, %v with %d searches; want alice from the cache", u, err, m.Searches())
	}

	// The cache file: 0600 in a 0700 dir, keyed by the requested e-mail.
	fi, err := os.Stat(filepath.Join(cfg.CacheDir, usermap.CacheFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode = %v, want 0600", fi.Mode().Perm())
	}
	if di, err := os.Stat(cfg.CacheDir); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode = %v (%v), want 0700", di.Mode().Perm(), err)
	}
	if _, ok := readCache(t, cfg.CacheDir)["alice@example.org"]; !ok {
		t.Errorf("cache file lacks alice@example.org")
	}

	// A new mapper on the same cache answers without the server (it points at a closed port).
	down := cfg
	down.Port = closedPort(t)
	m2 := newLDAP(t, down, nil)
	if u, err := m2.Username(ctx, "alice@example.org"); err != nil || u != "alice" {
		t.Fatalf("cached lookup with the server down = %q, %v", u, err)
	}
	if m2.Searches() != 0 {
		t.Errorf("cached lookup searched %d times", m2.Searches())
	}
	// ... while an uncached e-mail needs the server: a transient error.
	if _, err := m2.Username(ctx, "bob@example.org"); err == nil || usermap.IsNotFound(err) {
		t.Errorf("uncached lookup with the server down = %v, want a transient error", err)
	}
}

func TestLDAPMapperAnswers(t *testing.T) {
	l := requireLDAP(t)
	cfg := l.config(t)
	m := newLDAP(t, cfg, nil)
	tests := []struct {
		email    string
		want     string
		notFound string // the not-found error must contain it
		searched bool   // the lookup reaches the server
	}{
		{email: "bob@example.org", want: "bob", searched: true},
		{email: "BOB@Example.ORG", want: "bob", searched: true},
		{email: "dave@example.org", want: "dave", searched: true}, // uid "Dave" is lower-cased
		{email: "nobody@example.org", notFound: "Did not find exactly one match for email=nobody@example.org. Found 0", searched: true},
		{email: "shared@example.org", notFound: "Did not find exactly one match for email=shared@example.org. Found 2", searched: true},
		{email: "carol@example.org", notFound: "Failed to extract data from LDAP entry: uid=carol,ou=people,dc=example,dc=org: mail \"carol@example.org \"", searched: true},
		{email: "mallory@example.org", notFound: "is not a valid local user name", searched: true},
		// Filter escaping: unescaped, these filters would match every entry with a mail.
		{email: "*@example.org", notFound: "Found 0", searched: true},
		{email: `"bob)(mail=*"@example.org`, notFound: "Found 0", searched: true},
		{email: "*", notFound: "is not a valid e-mail address"},
		{email: "alice@example.org)(uid=*", notFound: "is not a valid e-mail address"},
		{email: "", notFound: "is not a valid e-mail address"},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			before := m.Searches()
			u, err := m.Username(context.Background(), tt.email)
			if searched := m.Searches() > before; searched != tt.searched {
				t.Errorf("searched = %v, want %v", searched, tt.searched)
			}
			if tt.notFound == "" {
				if err != nil || u != tt.want {
					t.Fatalf("Username = %q, %v; want %q", u, err, tt.want)
				}
				return
			}
			if !usermap.IsNotFound(err) || !strings.Contains(err.Error(), tt.notFound) {
				t.Fatalf("Username = %q, %v; want a not-found error containing %q", u, err, tt.notFound)
			}
		})
	}
	// Misses are not cached; hits are, under the requested spelling.
	cached := readCache(t, cfg.CacheDir)
	for _, email := range []string{"bob@example.org", "BOB@Example.ORG", "dave@example.org"} {
		if _, ok := cached[email]; !ok {
			t.Errorf("cache lacks hit %s", email)
		}
	}
	if len(cached) != 3 {
		t.Errorf("cache holds %d entries, want the 3 hits only: %v", len(cached), cached)
	}
}

func TestLDAPMapperUIDAttribute(t *testing.T) {
	l := requireLDAP(t)
	tests := []struct {
		attr     string
		want     string
		notFound string
	}{
		{attr: "", want: "alice"},
		{attr: "uid", want: "alice"},
		{attr: "cn", want: "alice_liddell"},
		{attr: "CN", want: "alice_liddell"},
		{attr: "employeeNumber", notFound: "Failed to extract data from LDAP entry: uid=alice,ou=people,dc=example,dc=org: want exactly one employeeNumber value, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.attr, func(t *testing.T) {
			cfg := l.config(t)
			cfg.UIDAttribute = tt.attr
			u, err := newLDAP(t, cfg, nil).Username(context.Background(), "alice@example.org")
			if tt.notFound != "" {
				if !usermap.IsNotFound(err) || !strings.Contains(err.Error(), tt.notFound) {
					t.Fatalf("Username = %q, %v; want not found with %q", u, err, tt.notFound)
				}
				return
			}
			if err != nil || u != tt.want {
				t.Fatalf("Username = %q, %v; want %q", u, err, tt.want)
			}
		})
	}
}

func TestLDAPMapperTLSModes(t *testing.T) {
	l := requireLDAP(t)
	tests := []struct {
		name      string
		mutate    func(*usermap.LDAPConfig)
		transient string // "" means alice is found
	}{
		{name: "ldaps with the test CA", mutate: func(*usermap.LDAPConfig) {}},
		{name: "starttls with the test CA", mutate: func(c *usermap.LDAPConfig) {
			c.TLSMode, c.Port = usermap.LDAPModeStartTLS, l.ldapPort
		}},
		{name: "plain", mutate: func(c *usermap.LDAPConfig) { c.TLSMode, c.Port = usermap.LDAPModePlain, l.ldapPort }},
		{name: "ldaps without the CA is refused", mutate: func(c *usermap.LDAPConfig) { c.CAFile = "" },
			transient: "certificate signed by unknown authority"},
		{name: "starttls without the CA is refused", mutate: func(c *usermap.LDAPConfig) {
			c.TLSMode, c.Port, c.CAFile = usermap.LDAPModeStartTLS, l.ldapPort, ""
		}, transient: "certificate signed by unknown authority"},
		{name: "ldaps with a wrong server name is refused", mutate: func(c *usermap.LDAPConfig) { c.ServerName = "ldap.example.org" },
			transient: "ldap.example.org"},
		{name: "ldaps to the ldap:// port fails", mutate: func(c *usermap.LDAPConfig) { c.Port = l.ldapPort },
			transient: "connect to LDAP server"},
		{name: "server down", mutate: func(c *usermap.LDAPConfig) { c.Port = closedPort(t) },
			transient: "connection refused"},
		{name: "wrong search base", mutate: func(c *usermap.LDAPConfig) { c.SearchBase = "dc=nosuch,dc=org" },
			transient: "No Such Object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := l.config(t)
			tt.mutate(&cfg)
			u, err := newLDAP(t, cfg, nil).Username(context.Background(), "alice@example.org")
			if tt.transient == "" {
				if err != nil || u != "alice" {
					t.Fatalf("Username = %q, %v; want alice", u, err)
				}
				return
			}
			if err == nil || usermap.IsNotFound(err) || !strings.Contains(err.Error(), tt.transient) {
				t.Fatalf("Username = %q, %v; want a transient error containing %q", u, err, tt.transient)
			}
		})
	}
}

func TestLDAPMapperBindFailureHidesPassword(t *testing.T) {
	l := requireLDAP(t)
	const secret = "Wrong-Secret-8d2f"
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, mode := range []string{usermap.LDAPModeLDAPS, usermap.LDAPModePlain} {
		cfg := l.config(t)
		cfg.Password = secret
		cfg.TLSMode = mode
		if mode == usermap.LDAPModePlain {
			cfg.Port = l.ldapPort
		}
		m := newLDAP(t, cfg, logger)
		_, err := m.Username(context.Background(), "alice@example.org")
		if err == nil || usermap.IsNotFound(err) {
			t.Fatalf("%s: Username = %v, want a transient bind error", mode, err)
		}
		if !strings.HasPrefix(err.Error(), "Couldn't bind to LDAP server: ") || !strings.Contains(err.Error(), "Invalid Credentials") {
			t.Errorf("%s: error = %q, want the reference bind text", mode, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows the password: %q", mode, err)
		}
		for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%+v", usermap.Options{LDAP: cfg})} {
			if strings.Contains(s, secret) {
				t.Errorf("formatted config shows the password: %s", s)
			}
		}
		logger.Info("config", "ldap", cfg)
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("logs show the password: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "bind_dn=") {
		t.Errorf("config was not logged through LogValue: %s", logs.String())
	}
}

func TestLDAPMapperContextCanceled(t *testing.T) {
	l := requireLDAP(t)
	m := newLDAP(t, l.config(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Username(ctx, "alice@example.org")
	if !errors.Is(err, context.Canceled) || usermap.IsNotFound(err) {
		t.Fatalf("Username with a canceled context = %v, want a transient context.Canceled", err)
	}
}

func TestLDAPMapperConcurrent(t *testing.T) {
	l := requireLDAP(t)
	cfg := l.config(t)
	m := newLDAP(t, cfg, nil)
	want := map[string]string{"alice@example.org": "alice", "bob@example.org": "bob", "dave@example.org": "dave"}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			email := []string{"alice@example.org", "bob@example.org", "dave@example.org"}[i%3]
			u, err := m.Username(context.Background(), email)
			if err != nil || u != want[email] {
				errs <- fmt.Errorf("%s: %q, %v", email, u, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(readCache(t, cfg.CacheDir)); got != 3 {
		t.Errorf("cache holds %d entries, want 3", got)
	}
}

func TestLDAPMapperClose(t *testing.T) {
	l := requireLDAP(t)
	m := newLDAP(t, l.config(t), nil)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.Username(context.Background(), "alice@example.org"); !errors.Is(err, usermap.ErrClosed) || usermap.IsNotFound(err) {
		t.Fatalf("Username after Close = %v, want ErrClosed", err)
	}
}
