package jobbergate_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// The attack: the token endpoint (or whoever answers in its place) redirects the token request
// to a server of its choosing. Following a 307 or 308 would post client_id and client_secret
// there. The agent shares one HTTP client between the API and OIDC, and that client follows
// redirects (Go's default), so the token source must refuse them itself.
func TestTokenRequestNeverFollowsARedirect(t *testing.T) {
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound, http.StatusMovedPermanently, http.StatusSeeOther} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			thief := newShapes(t, reply(200, `{"access_token": "`+unsignedJWT(`{"exp": 4102444800}`)+`", "token_type": "Bearer"}`))
			oidc := newShapes(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, thief.srv.URL+"/steal?x=1", status)
			})
			// The shared client as fxmodules builds it: no CheckRedirect, so it follows redirects.
			shared := &http.Client{Timeout: 5 * time.Second}
			logs := &logBuffer{}
			ts, err := jobbergate.NewTokenSource(jobbergate.TokenSourceOptions{
				TokenURL: oidc.srv.URL + "/realms/x/protocol/openid-connect/token", ClientID: testClientID,
				ClientSecret: testSecret, CacheDir: t.TempDir(), HTTPClient: shared, Logger: logs.Logger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := ts.Token(context.Background())
			if tok != "" || !errors.Is(err, jobbergate.ErrTokenRedirect) || !errors.Is(err, jobbergate.ErrAuth) {
				t.Fatalf("token %q, err %v: want ErrTokenRedirect", tok, err)
			}
			if jobbergate.IsTransient(err) {
				t.Errorf("a redirect is a configuration error, not transient: %v", err)
			}
			if !strings.Contains(err.Error(), "redirect") || !strings.Contains(err.Error(), strconv.Itoa(status)) ||
				strings.Contains(err.Error(), testSecret) {
				t.Errorf("error should name the redirect and its status, never the secret: %v", err)
			}
			if reqs := oidc.requests(); len(reqs) != 1 {
				t.Fatalf("token endpoint got %d requests, want 1", len(reqs))
			} else if form, _ := url.ParseQuery(string(reqs[0].body)); form.Get("client_secret") != testSecret {
				t.Fatalf("the stub did not see the secret: the test proves nothing (%q)", reqs[0].body)
			}
			if reqs := thief.requests(); len(reqs) != 0 {
				t.Fatalf("the redirect was followed: the target got %d request(s), first body %q", len(reqs), reqs[0].body)
			}
			if shared.CheckRedirect != nil {
				t.Error("the caller's shared client was modified")
			}
			logs.assertNoSecrets(t)
		})
	}
}

// API calls do not follow redirects either, whatever the shared client does: a redirect would
// carry the bearer token (same host) or a request body to the target.
func TestAPIRedirectsAreNotFollowedBySharedClient(t *testing.T) {
	calls := map[string]func(c *jobbergate.Client) error{
		"GET pending": func(c *jobbergate.Client) error { _, err := c.PendingSubmissions(context.Background()); return err },
		"POST rejected": func(c *jobbergate.Client) error {
			return c.MarkRejected(context.Background(), 1, "m")
		},
		"PUT update": func(c *jobbergate.Client) error {
			return c.UpdateJob(context.Background(), 1, jobbergate.SlurmJobData{JobState: "RUNNING"})
		},
	}
	for name, call := range calls {
		for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
			t.Run(name+"/"+strconv.Itoa(status), func(t *testing.T) {
				target := newShapes(t, reply(200, `{"items": [], "total": 0, "page": 1, "size": 100, "pages": 0}`))
				api := newShapes(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, target.srv.URL+r.URL.Path, status)
				})
				shared := &http.Client{Timeout: 5 * time.Second}
				err := call(api.client(t, func(o *jobbergate.Options) { o.HTTPClient = shared }))
				if !jobbergate.IsStatus(err, status) {
					t.Fatalf("err = %v, want HTTP %d", err, status)
				}
				if n := len(target.requests()); n != 0 {
					t.Fatalf("redirect followed (%d requests)", n)
				}
				if shared.CheckRedirect != nil {
					t.Error("the caller's shared client was modified")
				}
			})
		}
	}
}
