package jobbergate

import (
	"net/http"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// A client built without an HTTP client keeps the connections of a burst of concurrent
// requests for the next burst; Go's default transport keeps two and reopens the rest.
func TestTransportReusesConnectionsUnderConcurrency(t *testing.T) {
	const rounds, n = 3, 16
	c, err := New(Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := testenv.ConnectionsOpened(t, c.http, rounds, n); got != n {
		t.Errorf("client opened %d connections for %d rounds of %d concurrent requests, want %d", got, rounds, n, n)
	}
	def := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if got := testenv.ConnectionsOpened(t, def, rounds, n); got <= n {
		t.Errorf("Go's default transport opened only %d connections: the comparison no longer shows anything", got)
	}
}
