package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/backoff"
)

// Check is one readiness condition; it returns nil when ready.
type Check func(ctx context.Context) error

// Server serves /metrics, /healthz and /readyz. Checks may be added until Start or Serve.
type Server struct {
	metrics *Metrics
	logger  *slog.Logger
	mu      sync.Mutex
	checks  map[string]Check
	srv     *http.Server
	ln      net.Listener
	// stop ends Serve's retries (closed by Stop); retrying is closed when they have ended.
	stop     chan struct{}
	retrying chan struct{}
}

// NewServer returns a server for m (nil: no /metrics).
func NewServer(m *Metrics, logger *slog.Logger) *Server {
	return &Server{metrics: m, logger: logger, checks: map[string]Check{}}
}

// AddCheck registers a readiness check under name.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// Handler returns the HTTP handler (useful in tests).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.ready)
	return mux
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	checks := s.checks
	s.mu.Unlock()
	sort.Strings(names)
	result := map[string]string{}
	code := http.StatusOK
	for _, n := range names {
		if err := checks[n](ctx); err != nil {
			result[n] = err.Error()
			code = http.StatusServiceUnavailable
		} else {
			result[n] = "ok"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(result)
}

// Start listens on addr (host:port; port 0 picks one) and serves in the background.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("telemetry: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.ln, s.srv = ln, srv
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("telemetry server stopped", "error", err)
		}
	}()
	s.logger.Info("metrics and health endpoints listening", "addr", ln.Addr().String())
	return nil
}

// Serve is Start for a listener the process does not depend on: when addr cannot be bound (a
// second agent on the host finds the first one's port taken), it logs the error at WARN with the
// address and returns, and tries again in the background after first, then after twice as long
// each time up to every max, until the bind succeeds (logged as Start logs it) or Stop is
// called. A retry that fails as the previous one did is logged at DEBUG, one that fails
// differently at WARN.
func (s *Server) Serve(addr string, first, max time.Duration) {
	err := s.Start(addr)
	if err == nil {
		return
	}
	s.logger.Warn("metrics and health endpoints cannot listen; the agent runs without them and retries",
		"addr", addr, "error", err, "retry_every", max)
	stop, done := make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.stop, s.retrying = stop, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		retry := backoff.Policy{Initial: first, Max: max}
		attempt, last := 1, err.Error()
		timer := time.NewTimer(retry.Delay(attempt))
		defer timer.Stop()
		for {
			select {
			case <-stop:
				return
			case <-timer.C:
			}
			err := s.Start(addr)
			if err == nil {
				return
			}
			if err.Error() != last {
				s.logger.Warn("metrics and health endpoints still cannot listen", "addr", addr, "error", err)
				last = err.Error()
			} else {
				s.logger.Debug("metrics and health endpoints still cannot listen", "addr", addr, "error", err)
			}
			attempt++
			timer.Reset(retry.Delay(attempt))
		}
	}()
}

// Addr is the address the server listens on, once started ("" before).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop ends Serve's retries and shuts the server down gracefully.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	stop, retrying := s.stop, s.retrying
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-retrying // a bind in progress ends first, so its server is shut down below
	}
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}
