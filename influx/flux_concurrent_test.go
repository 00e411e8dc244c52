package influx_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
)

// TestFluxConcurrentFirstQueries: the backend is safe for concurrent use from its first query
// on (the client library stores its query URL on first use without synchronisation; -race
// reports it unless the backend serialises the first query).
func TestFluxConcurrentFirstQueries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8") // no table
	}))
	defer srv.Close()
	src, err := influx.NewFlux(influx.FluxOptions{URL: srv.URL, Token: ":", Bucket: "slurm/autogen", PoolSize: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			st, err := src.Query(context.Background(), "42", 0, influx.All)
			if err != nil {
				t.Error(err)
				return
			}
			st.Close()
		})
	}
	wg.Wait()
}
