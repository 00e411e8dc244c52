package jobbergate

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// connsFor runs rounds of n concurrent GETs through c and returns how many connections the
// server saw opened.
func connsFor(t *testing.T, c *http.Client, rounds, n int) int64 {
	t.Helper()
	var opened atomic.Int64
	release := make(chan struct{})
	var arrived sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release // every request of a round is in flight at once
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	for range rounds {
		arrived.Add(n)
		var done sync.WaitGroup
		for range n {
			done.Go(func() {
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		arrived.Wait()
		close(release)
		done.Wait()
		release = make(chan struct{})
	}
	return opened.Load()
}

// The client's transport keeps the connections of a burst of concurrent requests for the next
// burst; Go's default keeps two and reopens the rest every time.
func TestTransportReusesConnectionsUnderConcurrency(t *testing.T) {
	const rounds, n = 3, 16
	c, err := New(Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := connsFor(t, c.http, rounds, n); got != n {
		t.Errorf("client opened %d connections for %d rounds of %d concurrent requests, want %d", got, rounds, n, n)
	}
	def := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if got := connsFor(t, def, rounds, n); got <= n {
		t.Errorf("Go's default transport opened only %d connections: the comparison no longer shows anything", got)
	}
}
