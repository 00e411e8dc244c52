package metrics

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// flakyLink is a reverse proxy in front of the development API that can cut the connection of
// the next metrics uploads instead of answering them: before the API sees them (a lost request)
// or after it stored them (a lost answer). The client sees a transport error either way.
type flakyLink struct {
	srv *httptest.Server

	mu      sync.Mutex
	uploads int  // uploads received
	cuts    int  // uploads still to cut
	forward bool // a cut upload reaches the API first
}

func newFlakyLink(t testing.TB, api *jobbergatetest.Server) *flakyLink {
	t.Helper()
	target, err := url.Parse(api.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	l := &flakyLink{}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cut, forward := l.take(r)
		if !cut {
			rp.ServeHTTP(w, r)
			return
		}
		if forward {
			rp.ServeHTTP(httptest.NewRecorder(), r)
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("flaky link: hijack: %v", err)
			return
		}
		_ = conn.Close()
	}))
	t.Cleanup(l.srv.Close)
	return l
}

// cutNext cuts the next n uploads; forward says whether the API gets them first.
func (l *flakyLink) cutNext(n int, forward bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cuts, l.forward = n, forward
}

func (l *flakyLink) take(r *http.Request) (cut, forward bool) {
	if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, metricsPath) {
		return false, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.uploads++
	if l.cuts == 0 {
		return false, false
	}
	l.cuts--
	return true, l.forward
}

// received returns how many uploads reached the link, cut or not.
func (l *flakyLink) received() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.uploads
}

// client returns a client of the API through the link, with the agent's credentials.
func (l *flakyLink) client(t testing.TB, api *jobbergatetest.Server, retry jobbergate.RetryPolicy) *jobbergate.Client {
	t.Helper()
	return newClient(t, api, l.srv.URL, retry)
}
