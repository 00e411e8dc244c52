package jobbergate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// DefaultTokenLeeway is how long before its exp a token is replaced when
// TokenSourceOptions.Leeway is zero.
const DefaultTokenLeeway = 30 * time.Second

// defaultOIDCTimeout bounds a token request when TokenSourceOptions.HTTPClient is nil.
const defaultOIDCTimeout = 5 * time.Second

// OIDCTokenURL returns the Keycloak-style token endpoint of an OIDC domain given as host + path
// without scheme (OIDC_DOMAIN), over https unless useHTTPS is false (OIDC_USE_HTTPS).
func OIDCTokenURL(domain string, useHTTPS bool) string {
	scheme := "https"
	if !useHTTPS {
		scheme = "http"
	}
	return scheme + "://" + strings.TrimRight(domain, "/") + "/protocol/openid-connect/token"
}

// TokenSourceOptions configures a TokenSource.
type TokenSourceOptions struct {
	// TokenURL is the token endpoint, usually OIDCTokenURL(OIDC_DOMAIN, OIDC_USE_HTTPS).
	TokenURL string
	// ClientID and ClientSecret are the agent's OIDC client credentials, sent in the form body.
	ClientID, ClientSecret string
	// CacheDir is CACHE_DIR; the token is cached in CacheDir/cluster-api/access.token.
	// "" disables the disk cache.
	CacheDir string
	// Leeway is how long before exp a token is considered expired. 0 means
	// DefaultTokenLeeway; a negative value means none (the reference's behaviour).
	Leeway time.Duration
	// HTTPClient is used for the token endpoint; nil means a client with a 5 s timeout. The
	// TokenSource uses a copy that never follows a redirect, whatever HTTPClient's CheckRedirect:
	// a 307 or 308 would post the client secret again to the redirect's target. A redirect
	// answer fails the request with ErrTokenRedirect.
	HTTPClient *http.Client
	// Logger receives debug and warning records; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// TokenSource supplies the agent's access token (OAuth2 client credentials). Token looks in
// memory, then in the cache file (ignored when unreadable, not a JWT, expired or rejected; and
// with a warning when it is a symbolic link or another user could have written it: see
// tokenCache), then asks the OIDC provider and rewrites the cache file. A token is replaced Leeway before its
// exp (or half-way through its remaining life when that is shorter than the leeway).
//
// A TokenSource is safe for concurrent use: callers that find no valid token wait for a
// single fetch instead of each asking the provider. Tokens and the client secret never appear
// in its logs or errors.
type TokenSource struct {
	cfg        clientcredentials.Config
	httpClient *http.Client
	cache      tokenCache
	leeway     time.Duration
	log        *slog.Logger
	now        func() time.Time
	secret     string

	sem chan struct{} // held while loading or fetching a token

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	rejected  string // last token passed to Invalidate: never taken from the cache again
}

// ErrMissingOption is returned by NewTokenSource when a required option is missing.
var ErrMissingOption = errors.New("jobbergate: missing required option")

// setDefaults fills the options left at their zero value.
func (o *TokenSourceOptions) setDefaults() {
	switch {
	case o.Leeway == 0:
		o.Leeway = DefaultTokenLeeway
	case o.Leeway < 0:
		o.Leeway = 0
	}
	if o.Logger == nil {
		o.Logger = logging.Discard()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports the required options that are missing, in one error wrapping
// ErrMissingOption.
func (o TokenSourceOptions) Validate() error {
	var missing []string
	if o.TokenURL == "" {
		missing = append(missing, "TokenURL")
	}
	if o.ClientID == "" {
		missing = append(missing, "ClientID")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: token source: %s", ErrMissingOption, strings.Join(missing, ", "))
	}
	return nil
}

// NewTokenSource returns a TokenSource; it makes no request until Token is called.
func NewTokenSource(opts TokenSourceOptions) (*TokenSource, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ts := &TokenSource{
		cfg: clientcredentials.Config{
			ClientID:     opts.ClientID,
			ClientSecret: opts.ClientSecret,
			TokenURL:     opts.TokenURL,
			AuthStyle:    oauth2.AuthStyleInParams,
		},
		leeway: opts.Leeway,
		log:    opts.Logger,
		now:    opts.Now,
		secret: opts.ClientSecret,
		sem:    make(chan struct{}, 1),
	}
	if opts.CacheDir != "" {
		ts.cache.path = TokenCachePath(opts.CacheDir)
	}
	hc := http.Client{Timeout: defaultOIDCTimeout}
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient // a copy: the caller's client (shared with the API) is left alone
	}
	hc.CheckRedirect = refuseTokenRedirect
	ts.httpClient = &hc
	return ts, nil
}

// Token returns a valid access token (see TokenSource for the lookup order). Errors wrap
// ErrInvalidToken when the provider's token is not a JWT with exp, ErrAuth otherwise; an error
// for which IsTransient is true (provider unreachable, 5xx) may succeed later.
func (ts *TokenSource) Token(ctx context.Context) (string, error) {
	if tok, ok := ts.current(); ok {
		return tok, nil
	}
	select {
	case ts.sem <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", ErrAuth, ctx.Err())
	}
	defer func() { <-ts.sem }()
	if tok, ok := ts.current(); ok { // another caller refreshed it while we waited
		return tok, nil
	}
	if tok, ok := ts.fromCache(); ok {
		return tok, nil
	}
	return ts.fetch(ctx)
}

// Invalidate drops the current token so that the next Token call gets a new one from the OIDC
// provider (the same token in the cache file is ignored too). The Client calls it when the API
// answers 401.
func (ts *TokenSource) Invalidate() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token != "" {
		ts.rejected = ts.token
	}
	ts.token, ts.refreshAt = "", time.Time{}
	ts.log.Debug("access token invalidated")
}

func (ts *TokenSource) current() (string, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token != "" && ts.now().Before(ts.refreshAt) {
		return ts.token, true
	}
	return "", false
}

func (ts *TokenSource) set(token string, refreshAt time.Time) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.token, ts.refreshAt = token, refreshAt
}

func (ts *TokenSource) fromCache() (string, bool) {
	tok, err := ts.cache.load()
	if err != nil {
		ts.log.Warn("ignoring the token cache", "path", ts.cache.path, "error", err)
		return "", false
	}
	if tok == "" {
		return "", false
	}
	ts.mu.Lock()
	rejected := tok == ts.rejected
	ts.mu.Unlock()
	if rejected {
		ts.log.Debug("ignoring the cached token: the API rejected it", "path", ts.cache.path)
		return "", false
	}
	exp, err := tokenExpiry(tok)
	if err != nil {
		ts.log.Debug("ignoring the cached token", "path", ts.cache.path, "error", err)
		return "", false
	}
	refreshAt := exp.Add(-ts.leeway)
	if !ts.now().Before(refreshAt) {
		ts.log.Debug("ignoring the cached token: expired", "path", ts.cache.path, "expires_at", exp)
		return "", false
	}
	ts.set(tok, refreshAt)
	ts.log.Debug("access token loaded from the cache", "path", ts.cache.path, "expires_at", exp)
	return tok, true
}

func (ts *TokenSource) fetch(ctx context.Context) (string, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, ts.httpClient)
	t, err := ts.cfg.Token(ctx)
	if err != nil {
		return "", ts.fetchError(err)
	}
	exp, err := tokenExpiry(t.AccessToken)
	if err != nil {
		return "", err
	}
	now := ts.now()
	if !now.Before(exp) {
		return "", fmt.Errorf("%w: the provider issued an already expired token (exp %s)", ErrAuth, exp.UTC().Format(time.RFC3339))
	}
	refreshAt := exp.Add(-ts.leeway)
	if !now.Before(refreshAt) { // lifetime shorter than the leeway: use half of what is left
		refreshAt = now.Add(exp.Sub(now) / 2)
	}
	if err := ts.cache.store(t.AccessToken); err != nil {
		ts.log.Warn("could not write the token cache", "path", ts.cache.path, "error", err)
	}
	ts.set(t.AccessToken, refreshAt)
	ts.log.Debug("access token fetched from OIDC", "expires_at", exp)
	return t.AccessToken, nil
}

// tokenFetchError is a failed request to the token endpoint. Its message never contains the
// client secret.
type tokenFetchError struct {
	msg       string
	transient bool
	cause     error // transport error, kept for errors.Is(context.Canceled) and net.Error
}

func (e *tokenFetchError) Error() string { return e.msg }
func (e *tokenFetchError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrAuth}
	}
	return []error{ErrAuth, e.cause}
}

func (ts *TokenSource) fetchError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return &tokenFetchError{
			msg:       fmt.Sprintf("%s: HTTP %d: %s", ErrAuth, status, ts.redact(excerpt(re.Body))),
			transient: status >= 500 || status == http.StatusTooManyRequests,
		}
	}
	msg := ts.redact(err.Error())
	if errors.Is(err, ErrTokenRedirect) { // not transient: the provider's configuration is wrong
		return &tokenFetchError{msg: fmt.Sprintf("%s: %s", ErrAuth, ts.redact(stripURLError(err).Error())), cause: ErrTokenRedirect}
	}
	if strings.Contains(msg, "missing access_token") || strings.Contains(msg, "cannot parse") {
		return &tokenFetchError{msg: "Malformed response payload from OIDC -- " + msg}
	}
	var ne net.Error
	transient := errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
	return &tokenFetchError{msg: fmt.Sprintf("%s: %s", ErrAuth, msg), transient: transient, cause: err}
}

func (ts *TokenSource) redact(s string) string {
	if ts.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, ts.secret, "[REDACTED]")
}

// refuseTokenRedirect is the token request's CheckRedirect: it never follows a redirect, which
// for a 307 or 308 would post the form, client secret included, to the redirect's target.
func refuseTokenRedirect(req *http.Request, _ []*http.Request) error {
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	target := req.URL.Scheme + "://" + req.URL.Host + req.URL.Path // no query or user info
	return fmt.Errorf("%w (HTTP %d to %s)", ErrTokenRedirect, status, target)
}

// noRedirects makes an http.Client return redirect responses instead of following them.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
