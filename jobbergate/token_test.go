package jobbergate_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

func writeCache(t *testing.T, cacheDir, content string) {
	t.Helper()
	path := jobbergate.TokenCachePath(cacheDir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readCache(t *testing.T, cacheDir string) string {
	t.Helper()
	b, err := os.ReadFile(jobbergate.TokenCachePath(cacheDir))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Reference: test_acquire_token__gets_a_token_from_the_cache.
func TestTokenSourceUsesValidCachedToken(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	dir := t.TempDir()
	cached := api.MintToken(jobbergatetest.TokenClaims{ClientID: testClientID, ExpiresAt: time.Now().Add(time.Hour)})
	writeCache(t, dir, cached+"\n")
	ts := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.CacheDir = dir })

	got, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != cached {
		t.Fatal("token is not the cached one")
	}
	if n := api.TokensIssued(testClientID); n != 0 {
		t.Fatalf("OIDC asked %d times, want 0", n)
	}
}

// Reference: test_acquire_token__gets_a_token_if_one_is_not_in_the_cache; plus file modes and
// memory reuse.
func TestTokenSourceFetchesAndCaches(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	dir := t.TempDir()
	logs := &logBuffer{}
	ts := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.CacheDir = dir; o.Logger = logs.Logger() })

	tok, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := api.TokensIssued(testClientID); n != 1 {
		t.Fatalf("OIDC asked %d times, want 1", n)
	}
	if got := readCache(t, dir); got != tok {
		t.Fatal("cache file does not hold the fetched token")
	}
	fi, err := os.Stat(jobbergate.TokenCachePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Join(dir, "cluster-api"))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %v, want 0700", di.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(jobbergate.TokenCachePath(dir)))
	if len(entries) != 1 {
		t.Errorf("cache dir holds %d entries (temp files left?), want 1", len(entries))
	}

	// Memory first: no new fetch.
	again, err := ts.Token(context.Background())
	if err != nil || again != tok {
		t.Fatalf("second Token = same %v, %v", again == tok, err)
	}
	// A new process sharing the cache dir reads the file.
	ts2 := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.CacheDir = dir })
	if other, err := ts2.Token(context.Background()); err != nil || other != tok {
		t.Fatalf("second source: same %v, %v", other == tok, err)
	}
	if n := api.TokensIssued(testClientID); n != 1 {
		t.Fatalf("OIDC asked %d times, want 1", n)
	}
	logs.assertNoSecrets(t, tok)
}

func TestTokenSourceIgnoresBadCache(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"garbage", func(t *testing.T, dir string) { writeCache(t, dir, "garbage") }},
		{"empty", func(t *testing.T, dir string) { writeCache(t, dir, "  \n") }},
		{"expired", func(t *testing.T, dir string) {
			writeCache(t, dir, api.MintToken(jobbergatetest.TokenClaims{ClientID: testClientID, ExpiresAt: time.Now().Add(-time.Minute)}))
		}},
		{"within leeway", func(t *testing.T, dir string) {
			writeCache(t, dir, api.MintToken(jobbergatetest.TokenClaims{ClientID: testClientID, ExpiresAt: time.Now().Add(10 * time.Second)}))
		}},
		{"no exp", func(t *testing.T, dir string) { writeCache(t, dir, unsignedJWT(`{"azp":"cluster-a"}`)) }},
		{"unreadable (a directory)", func(t *testing.T, dir string) {
			if err := os.MkdirAll(jobbergate.TokenCachePath(dir), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			before := api.TokensIssued(testClientID)
			ts := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.CacheDir = dir })
			tok, err := ts.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if api.TokensIssued(testClientID) != before+1 {
				t.Fatal("the bad cache was used instead of asking OIDC")
			}
			if tok == "" || tok == "garbage" {
				t.Fatalf("token %q", tok)
			}
		})
	}
}

// tokenEndpoint is an httptest OIDC stub answering every request with status and body.
func tokenEndpoint(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != testClientID ||
			r.PostForm.Get("client_secret") != testSecret || r.PostForm.Get("grant_type") != "client_credentials" {
			t.Errorf("token request form %v (parse error %v)", r.PostForm, err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/realms/x/protocol/openid-connect/token"
}

// Reference: test_acquire_token__fails_when_content_is_invalid, and the other OIDC failures.
func TestTokenSourceFetchErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		is        error
		prefix    string
		transient bool
	}{
		{"not a jwt", 200, `{"access_token": "not-a-jwt", "token_type": "Bearer"}`, jobbergate.ErrInvalidToken, "Unable to extract data from the token", false},
		{"jwt without exp", 200, `{"access_token": "` + unsignedJWT(`{"azp":"cluster-a"}`) + `"}`, jobbergate.ErrInvalidToken, "Unable to extract data from the token", false},
		{"already expired", 200, `{"access_token": "` + unsignedJWT(`{"exp": 1000}`) + `"}`, jobbergate.ErrAuth, "Failed to get auth token from OIDC", false},
		{"no access_token", 200, `{"token_type": "Bearer"}`, jobbergate.ErrAuth, "Malformed response payload from OIDC", false},
		{"not json", 200, `<html>`, jobbergate.ErrAuth, "Malformed response payload from OIDC", false},
		{"bad credentials", 401, `{"error": "invalid_client", "error_description": "Invalid client credentials"}`, jobbergate.ErrAuth, "Failed to get auth token from OIDC: HTTP 401", false},
		{"body echoes the secret", 400, `{"error": "invalid_request", "error_description": "bad secret ` + testSecret + `"}`, jobbergate.ErrAuth, "Failed to get auth token from OIDC: HTTP 400", false},
		{"provider down", 503, `{"error": "temporarily_unavailable"}`, jobbergate.ErrAuth, "Failed to get auth token from OIDC: HTTP 503", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := &logBuffer{}
			ts, err := jobbergate.NewTokenSource(jobbergate.TokenSourceOptions{
				TokenURL: tokenEndpoint(t, tt.status, tt.body), ClientID: testClientID, ClientSecret: testSecret,
				CacheDir: dir, Logger: logs.Logger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = ts.Token(context.Background())
			if !errors.Is(err, tt.is) || !strings.HasPrefix(err.Error(), tt.prefix) {
				t.Fatalf("err = %v, want %v starting with %q", err, tt.is, tt.prefix)
			}
			if jobbergate.IsTransient(err) != tt.transient {
				t.Fatalf("IsTransient = %v, want %v", !tt.transient, tt.transient)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
			if _, err := os.Stat(jobbergate.TokenCachePath(dir)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed fetch wrote the cache (stat err %v)", err)
			}
			logs.assertNoSecrets(t)
		})
	}
}

func TestTokenSourceWrongSecretAgainstAPI(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	ts := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.ClientSecret = "wrong-secret-value" })
	_, err := ts.Token(context.Background())
	if !errors.Is(err, jobbergate.ErrAuth) || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatalf("error leaks the secret: %v", err)
	}
}

func TestTokenSourceUnreachableProviderIsTransient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	ts, err := jobbergate.NewTokenSource(jobbergate.TokenSourceOptions{
		TokenURL: jobbergate.OIDCTokenURL(addr+"/realms/x", false), ClientID: testClientID, ClientSecret: testSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.Token(context.Background())
	if !errors.Is(err, jobbergate.ErrAuth) || !jobbergate.IsTransient(err) {
		t.Fatalf("err = %v, transient %v", err, jobbergate.IsTransient(err))
	}
}

func TestTokenSourceRefreshesBeforeExpiry(t *testing.T) {
	tests := []struct {
		name         string
		leeway       time.Duration
		sameUntil    time.Duration // token reused up to this age
		refreshAfter time.Duration // and replaced at this age
	}{
		{"default leeway 30s", 0, 4*time.Minute + 29*time.Second, 4*time.Minute + 30*time.Second},
		{"leeway 2m", 2 * time.Minute, 2*time.Minute + 59*time.Second, 3 * time.Minute},
		{"no leeway", -1, 4*time.Minute + 59*time.Second, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testenv.NewClock(time.Now().Truncate(time.Second))
			api := newAPI(t, jobbergatetest.Options{TokenTTL: 5 * time.Minute, Now: clk.Now})
			start := clk.Now()
			ts := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.Leeway = tt.leeway; o.Now = clk.Now })
			ctx := context.Background()
			first, err := ts.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(start.Add(tt.sameUntil).Sub(clk.Now()))
			if tok, err := ts.Token(ctx); err != nil || tok != first {
				t.Fatalf("at %s: same token %v, err %v", tt.sameUntil, tok == first, err)
			}
			if n := api.TokensIssued(testClientID); n != 1 {
				t.Fatalf("issued %d, want 1", n)
			}
			clk.Advance(start.Add(tt.refreshAfter).Sub(clk.Now()))
			tok, err := ts.Token(ctx)
			if err != nil || tok == first {
				t.Fatalf("at %s: new token %v, err %v", tt.refreshAfter, tok != first, err)
			}
			if n := api.TokensIssued(testClientID); n != 2 {
				t.Fatalf("issued %d, want 2", n)
			}
		})
	}
}

// A token whose lifetime is shorter than the leeway is used for half its life instead of being
// fetched again on every call.
func TestTokenSourceShortLivedTokens(t *testing.T) {
	clk := testenv.NewClock(time.Now().Truncate(time.Second))
	api := newAPI(t, jobbergatetest.Options{TokenTTL: 20 * time.Second, Now: clk.Now})
	ts := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.Now = clk.Now })
	ctx := context.Background()
	first, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(9 * time.Second)
	if tok, _ := ts.Token(ctx); tok != first || api.TokensIssued(testClientID) != 1 {
		t.Fatalf("refetched within half the lifetime (issued %d)", api.TokensIssued(testClientID))
	}
	clk.Advance(2 * time.Second)
	if tok, _ := ts.Token(ctx); tok == first || api.TokensIssued(testClientID) != 2 {
		t.Fatalf("not refreshed after half the lifetime (issued %d)", api.TokensIssued(testClientID))
	}
}

func TestTokenSourceConcurrentCallersShareOneFetch(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	// Stall the token endpoint so that every caller arrives while the fetch is in flight.
	api.DelayNext(http.MethodPost, "/realms/", 200*time.Millisecond, 1)
	ts := newTokens(t, api, nil)
	const callers = 20
	var wg sync.WaitGroup
	toks := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { toks[i], errs[i] = ts.Token(context.Background()) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: err %v, same token %v", i, errs[i], toks[i] == toks[0])
		}
	}
	if n := api.TokensIssued(testClientID); n != 1 {
		t.Fatalf("issued %d tokens, want 1", n)
	}
}

func TestTokenSourceWaitingCallerHonoursContext(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	api.DelayNext(http.MethodPost, "/realms/", 2*time.Second, 1)
	ts := newTokens(t, api, nil)
	go ts.Token(context.Background()) // holds the fetch
	testenv.Eventually(t, 5*time.Second, func() bool { return api.Calls(http.MethodPost, "/realms/") == 1 }, "one token request")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := ts.Token(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("waited %s despite the context", time.Since(start))
	}
}

func TestTokenSourceInvalidateSkipsRejectedCachedToken(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	dir := t.TempDir()
	rejected := unsignedJWT(fmt.Sprintf(`{"exp": %d}`, time.Now().Add(time.Hour).Unix()))
	writeCache(t, dir, rejected)
	ts := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.CacheDir = dir })
	ctx := context.Background()
	if tok, err := ts.Token(ctx); err != nil || tok != rejected {
		t.Fatalf("cached token not used: %v", err)
	}
	ts.Invalidate()
	tok, err := ts.Token(ctx)
	if err != nil || tok == rejected {
		t.Fatalf("after Invalidate: new %v, err %v", tok != rejected, err)
	}
	if api.TokensIssued(testClientID) != 1 || readCache(t, dir) != tok {
		t.Fatal("the new token was not fetched and cached")
	}
}

func TestOIDCTokenURL(t *testing.T) {
	tests := []struct {
		domain string
		https  bool
		want   string
	}{
		{"auth.vantagehpc.io/realms/vantage", true, "https://auth.vantagehpc.io/realms/vantage/protocol/openid-connect/token"},
		{"127.0.0.1:8080/realms/jobbergate/", false, "http://127.0.0.1:8080/realms/jobbergate/protocol/openid-connect/token"},
	}
	for _, tt := range tests {
		if got := jobbergate.OIDCTokenURL(tt.domain, tt.https); got != tt.want {
			t.Errorf("OIDCTokenURL(%q, %v) = %q", tt.domain, tt.https, got)
		}
	}
}

// An unwritable cache does not prevent getting a token; it is only logged.
func TestTokenSourceUnwritableCache(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	ts := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.CacheDir = file; o.Logger = logs.Logger() })
	tok, err := ts.Token(context.Background())
	if err != nil || tok == "" {
		t.Fatalf("token %v, err %v", tok != "", err)
	}
	if !strings.Contains(logs.String(), "could not write the token cache") {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
	logs.assertNoSecrets(t, tok)
}
