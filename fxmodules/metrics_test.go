package fxmodules

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// TestInfluxPoolSize: INFLUX_POOL_SIZE is how many connections to InfluxDB the agent keeps
// between queries, with either backend. Rounds of n concurrent queries (a fake server holds each
// round until all n have arrived) open n connections, then n - INFLUX_POOL_SIZE more per round.
func TestInfluxPoolSize(t *testing.T) {
	var opened atomic.Int64
	var mu sync.Mutex
	release := make(chan struct{})
	var arrived sync.WaitGroup
	var hold atomic.Bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hold.Load() {
			mu.Lock()
			ch := release
			mu.Unlock()
			arrived.Done()
			<-ch
		}
		w.Header().Set("X-Influxdb-Version", "1.8.10")
		if r.URL.Path == "/query" { // InfluxQL: an empty chunked answer
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"results":[{"statement_id":0}]}`+"\n")
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8") // Flux: no table
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	const rounds, n = 3, 8
	logger := testenv.Logger(t)
	for _, backend := range []string{"JOBBERGATE_AGENT_INFLUX_DSN=influxdb://" + srv.Listener.Addr().String() + "/slurm", "JOBBERGATE_AGENT_INFLUX_FLUX_URL=" + srv.URL} {
		for _, pool := range []int{3, n} {
			t.Run(backend+" pool "+strconv.Itoa(pool), func(t *testing.T) {
				s, err := config.Load(config.Source{Dotenv: "none", Environ: []string{
					"JOBBERGATE_AGENT_CACHE_DIR=" + t.TempDir(), backend, "JOBBERGATE_AGENT_INFLUX_POOL_SIZE=" + strconv.Itoa(pool),
				}})
				if err != nil {
					t.Fatal(err)
				}
				src, err := InfluxSource(s, logger)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				query := func() {
					st, err := src.Query(context.Background(), "42", 0, -1)
					if err != nil {
						t.Error(err)
						return
					}
					defer st.Close()
					for {
						if _, err := st.Next(); err != nil {
							if !errors.Is(err, io.EOF) {
								t.Error(err)
							}
							return
						}
					}
				}
				// One query first: the Flux backend runs its first query alone (a data race
				// in the client library otherwise), which would wait for the round forever.
				opened.Store(0)
				query()
				hold.Store(true)
				defer hold.Store(false)
				for range rounds {
					arrived.Add(n)
					var done sync.WaitGroup
					for range n {
						done.Go(query)
					}
					arrived.Wait()
					mu.Lock()
					close(release)
					release = make(chan struct{})
					mu.Unlock()
					done.Wait()
				}
				if got, want := opened.Load(), int64(n+(rounds-1)*(n-pool)); got != want {
					t.Errorf("%d connections opened, want %d (%d rounds of %d queries, %d kept)", got, want, rounds, n, pool)
				}
			})
		}
	}
}
