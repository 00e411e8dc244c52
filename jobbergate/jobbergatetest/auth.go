package jobbergatetest

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// accessClaims are the claims of the tokens the server issues and accepts.
type accessClaims struct {
	jwt.RegisteredClaims
	AZP         string   `json:"azp,omitempty"`
	ClientID    string   `json:"client_id,omitempty"`
	Permissions []string `json:"permissions"`
}

// identity is what an accepted token says about its caller.
type identity struct {
	clientID    string
	permissions []string
}

// AddClient registers (or replaces) an OIDC client, i.e. a cluster. The token endpoint issues it
// tokens carrying azp=c.ID and c.Permissions.
func (s *Server) AddClient(c Client) {
	c.Permissions = slices.Clone(c.Permissions)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = c
}

// MintToken returns a token signed by the server with the given claims, expired ones included.
func (s *Server) MintToken(c TokenClaims) string {
	now := s.now()
	exp := c.ExpiresAt
	if exp.IsZero() {
		exp = now.Add(s.ttl)
	}
	claims := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "http://" + s.OIDCDomain(),
			Subject:   "service-account-" + c.ClientID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Permissions: slices.Clone(c.Permissions),
	}
	if claims.Permissions == nil {
		claims.Permissions = []string{}
	}
	if c.UseClientIDClaim {
		claims.ClientID = c.ClientID
	} else {
		claims.AZP = c.ClientID
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.key)
	if err != nil {
		panic("jobbergatetest: sign token: " + err.Error()) // HS256 with a []byte key cannot fail
	}
	return tok
}

// TokensIssued reports how many tokens the token endpoint has issued to clientID.
func (s *Server) TokensIssued(clientID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued[clientID]
}

// handleToken is the Keycloak-style client-credentials grant. Credentials come from the form
// (client_id, client_secret) or HTTP basic auth. Unknown client or wrong secret: 401
// {"error":"invalid_client",...}; other grants: 400 unsupported_grant_type.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError("invalid_request", "Malformed form body"))
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok {
		id, secret = bid, bsecret
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, oauthError("unsupported_grant_type", "Unsupported grant_type"))
		return
	}
	s.mu.Lock()
	c, known := s.clients[id]
	s.mu.Unlock()
	if !known || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		s.log.Debug("token request refused", "client_id", id, "known_client", known)
		writeJSON(w, http.StatusUnauthorized, oauthError("invalid_client", "Invalid client or Invalid client credentials"))
		return
	}
	tok := s.MintToken(TokenClaims{ClientID: c.ID, Permissions: c.Permissions})
	s.mu.Lock()
	s.tokensIssued[c.ID]++
	s.mu.Unlock()
	s.log.Debug("token issued", "client_id", c.ID)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":       tok,
		"expires_in":         int(s.ttl / time.Second),
		"refresh_expires_in": 0,
		"token_type":         "Bearer",
		"not-before-policy":  0,
		"scope":              "email profile",
	})
}

func oauthError(code, desc string) map[string]string {
	return map[string]string{"error": code, "error_description": desc}
}

// authenticate verifies the bearer token and checks that it carries at least one of scopes
// (permission mode "some"). On failure it writes 401 or 403 and returns false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, scopes ...string) (identity, bool) {
	h := r.Header.Get("Authorization")
	scheme, raw, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(raw) == "" {
		writeDetail(w, http.StatusUnauthorized, detailNotAuthenticated)
		return identity{}, false
	}
	var claims accessClaims
	_, err := jwt.ParseWithClaims(strings.TrimSpace(raw), &claims, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now))
	if err != nil {
		s.log.Debug("token refused", "error", err)
		writeDetail(w, http.StatusUnauthorized, detailNotAuthenticated)
		return identity{}, false
	}
	id := identity{clientID: claims.AZP, permissions: claims.Permissions}
	if id.clientID == "" {
		id.clientID = claims.ClientID
	}
	if !slices.ContainsFunc(scopes, func(sc string) bool { return slices.Contains(id.permissions, sc) }) {
		writeDetail(w, http.StatusForbidden, detailForbidden)
		return identity{}, false
	}
	return id, true
}

// requireClientID writes the API's 400 when the token carries no client id.
func requireClientID(w http.ResponseWriter, id identity) bool {
	if id.clientID == "" {
		writeDetail(w, http.StatusBadRequest, detailNoClientID)
		return false
	}
	return true
}
