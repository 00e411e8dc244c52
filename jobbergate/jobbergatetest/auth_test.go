package jobbergatetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func postForm(t *testing.T, u string, form url.Values) (int, []byte) {
	t.Helper()
	status, body, _ := request(t, http.MethodPost, u, "", "application/x-www-form-urlencoded", []byte(form.Encode()))
	return status, body
}

func TestTokenEndpoint(t *testing.T) {
	s := NewTestServer(t, Options{TokenTTL: 90 * time.Second})
	s.AddClient(Client{ID: "cluster-a", Secret: "s3cret", Permissions: AgentScopes})
	tokenURL := "http://" + s.OIDCDomain() + "/protocol/openid-connect/token"
	if tokenURL != s.TokenURL() {
		t.Fatalf("TokenURL %q, want %q", s.TokenURL(), tokenURL)
	}
	cases := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string
	}{
		{"ok", url.Values{"client_id": {"cluster-a"}, "client_secret": {"s3cret"}, "grant_type": {"client_credentials"}}, 200, ""},
		{"bad secret", url.Values{"client_id": {"cluster-a"}, "client_secret": {"nope"}, "grant_type": {"client_credentials"}}, 401, "invalid_client"},
		{"unknown client", url.Values{"client_id": {"ghost"}, "client_secret": {"s3cret"}, "grant_type": {"client_credentials"}}, 401, "invalid_client"},
		{"bad grant", url.Values{"client_id": {"cluster-a"}, "client_secret": {"s3cret"}, "grant_type": {"password"}}, 400, "unsupported_grant_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postForm(t, tokenURL, tc.form)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", status, tc.wantStatus, body)
			}
			var resp map[string]any
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatalf("body not JSON: %s", body)
			}
			if tc.wantError != "" {
				if resp["error"] != tc.wantError {
					t.Fatalf("error %v, want %s", resp["error"], tc.wantError)
				}
				if strings.Contains(string(body), "s3cret") {
					t.Fatalf("secret leaked in error body: %s", body)
				}
				return
			}
			if resp["token_type"] != "Bearer" || resp["expires_in"] != float64(90) {
				t.Fatalf("unexpected token response %v", resp)
			}
			tok, _ := resp["access_token"].(string)
			// The agent decodes the token without verification and reads exp.
			claims := jwt.MapClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
				t.Fatalf("access_token is not a JWT: %v", err)
			}
			if claims["azp"] != "cluster-a" {
				t.Fatalf("azp %v, want cluster-a", claims["azp"])
			}
			exp, err := claims.GetExpirationTime()
			if err != nil || exp == nil || time.Until(exp.Time) > 91*time.Second || time.Until(exp.Time) < 80*time.Second {
				t.Fatalf("exp %v (err %v), want about now+90s", exp, err)
			}
			// The token is accepted by the API.
			status, body, _ = request(t, http.MethodGet, s.URL()+"/jobbergate/job-submissions/agent/pending", tok, "", nil)
			expect(t, "pending with issued token", status, body, 200, "")
		})
	}
	if n := s.TokensIssued("cluster-a"); n != 1 {
		t.Fatalf("TokensIssued(cluster-a) = %d, want 1", n)
	}
	if n := s.TokensIssued("ghost"); n != 0 {
		t.Fatalf("TokensIssued(ghost) = %d, want 0", n)
	}

	// HTTP basic client authentication is accepted too.
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("cluster-a", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || s.TokensIssued("cluster-a") != 2 {
		t.Fatalf("basic auth: status %d, issued %d", resp.StatusCode, s.TokensIssued("cluster-a"))
	}
}

func TestAuthRules(t *testing.T) {
	f := newFixture(t)
	other := New(Options{}) // a different signing key
	pending := f.agent + "/pending"
	cases := []struct {
		name       string
		header     string
		wantStatus int
		wantDetail string
	}{
		{"no header", "", 401, "Not authenticated"},
		{"not bearer", "Basic Zm9vOmJhcg==", 401, "Not authenticated"},
		{"garbage", "Bearer not-a-jwt", 401, "Not authenticated"},
		{"expired", "Bearer " + f.s.MintToken(TokenClaims{ClientID: "cluster-a", Permissions: AgentScopes,
			ExpiresAt: f.clock.Now().Add(-time.Second)}), 401, "Not authenticated"},
		{"bad signature", "Bearer " + other.MintToken(TokenClaims{ClientID: "cluster-a", Permissions: AgentScopes}), 401, "Not authenticated"},
		{"unsigned", "Bearer " + unsignedToken(t, f.clock.Now().Add(time.Hour)), 401, "Not authenticated"},
		{"wrong scope", "Bearer " + f.s.MintToken(TokenClaims{ClientID: "cluster-a", Permissions: []string{ScopeScriptsRead}}), 403, "Not authorized"},
		{"no permissions", "Bearer " + f.s.MintToken(TokenClaims{ClientID: "cluster-a"}), 403, "Not authorized"},
		{"no client id", "Bearer " + f.s.MintToken(TokenClaims{Permissions: AgentScopes}), 400,
			"Checked expressions failed: Access token does not contain\n  1: client_id"},
		{"admin scope", "Bearer " + f.s.MintToken(TokenClaims{ClientID: "cluster-a", Permissions: []string{ScopeAdmin}}), 200, ""},
		{"client_id claim", "Bearer " + f.s.MintToken(TokenClaims{ClientID: "cluster-a", UseClientIDClaim: true,
			Permissions: []string{ScopeSubmissionsRead}}), 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, pending, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body json.RawMessage
			_ = json.NewDecoder(resp.Body).Decode(&body)
			expect(t, tc.name, resp.StatusCode, body, tc.wantStatus, tc.wantDetail)
		})
	}

	// A token expires with the server clock.
	tok := f.s.MintToken(TokenClaims{ClientID: "cluster-a", Permissions: AgentScopes})
	status, body, _ := request(t, http.MethodGet, pending, tok, "", nil)
	expect(t, "fresh token", status, body, 200, "")
	f.clock.Advance(5*time.Minute + time.Second)
	status, body, _ = request(t, http.MethodGet, pending, tok, "", nil)
	expect(t, "token after TTL", status, body, 401, "Not authenticated")
}

func unsignedToken(t *testing.T, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"azp": "cluster-a", "permissions": AgentScopes, "exp": exp.Unix(),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestOpenAPIAndHealth(t *testing.T) {
	s := NewTestServer(t, Options{Version: "9.8.7"})
	status, body, _ := request(t, http.MethodGet, s.URL()+"/jobbergate/openapi.json", "", "", nil)
	var doc struct {
		Info struct {
			Version string `json:"version"`
		} `json:"info"`
	}
	if status != 200 || json.Unmarshal(body, &doc) != nil || doc.Info.Version != "9.8.7" {
		t.Fatalf("openapi.json: status %d body %s", status, body)
	}
	status, body, _ = request(t, http.MethodGet, s.URL()+"/jobbergate/health", "", "", nil)
	if status != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("health: status %d body %q", status, body)
	}
	d := NewTestServer(t, Options{})
	_, body, _ = request(t, http.MethodGet, d.URL()+"/jobbergate/openapi.json", "", "", nil)
	if json.Unmarshal(body, &doc) != nil || doc.Info.Version != DefaultVersion {
		t.Fatalf("default version: %s", body)
	}
}
