package jobbergate_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// An API that still has the endpoints (< 5.7) receives one authenticated DELETE per endpoint.
func TestCollectGarbageAgainstOldAPI(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c, err := jobbergate.New(jobbergate.Options{BaseURL: srv.URL, Tokens: gcToken("tok")})
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range jobbergate.GCEndpoints {
		if err := c.CollectGarbage(context.Background(), ep); err != nil {
			t.Fatalf("%s: %v", ep, err)
		}
	}
	want := []string{
		"DELETE /jobbergate/job-script-templates/upload/garbage-collector Bearer tok",
		"DELETE /jobbergate/job-scripts/upload/garbage-collector Bearer tok",
		"DELETE /jobbergate/job-scripts/clean-unused-entries Bearer tok",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
}

// The development API (5.11.0) no longer has them: 404, reported as such, sent once (no retry).
func TestCollectGarbageAgainstCurrentAPI(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	c := newClient(t, api, nil)
	for _, ep := range jobbergate.GCEndpoints {
		err := c.CollectGarbage(context.Background(), ep)
		if !jobbergate.IsStatus(err, http.StatusNotFound) || jobbergate.IsTransient(err) {
			t.Fatalf("%s: %v, want a non-transient 404", ep, err)
		}
		if !strings.HasPrefix(err.Error(), "Failed to trigger garbage collection at "+string(ep)) {
			t.Errorf("error message %q", err)
		}
		if n := api.Calls(http.MethodDelete, string(ep)); n != 1 {
			t.Errorf("%s: %d DELETEs, want 1", ep, n)
		}
	}
}

type gcToken string

func (s gcToken) Token(context.Context) (string, error) { return string(s), nil }
func (gcToken) Invalidate()                             {}
