package jobbergatetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	Version  string        // openapi.json info.version; default "5.11.0"
	TokenTTL time.Duration // lifetime of issued tokens; default 5m
	Logger   *slog.Logger  // nil = discard
	// Now is the server's clock (token expiry, last_reported, is_healthy, progress times);
	// nil = time.Now. Tests use it to move time forward without sleeping.
	Now func() time.Time
}

// DefaultVersion is the API version openapi.json reports when Options.Version is empty.
const DefaultVersion = "5.11.0"

// realmPath is where the Keycloak-style realm lives on the server's port.
const realmPath = "/realms/jobbergate"

// ErrNotStarted is returned by Close and Shutdown on a server that was never started.
var ErrNotStarted = errors.New("jobbergatetest: server not started")

// Server is the development Jobbergate API. Create it with New (or NewTestServer), seed it, then
// Start it. All methods are safe for concurrent use; state lives in memory under one mutex.
type Server struct {
	version string
	ttl     time.Duration
	log     *slog.Logger
	now     func() time.Time
	key     []byte // HS256 signing key, random per server
	handler http.Handler

	mu           sync.Mutex
	clients      map[string]Client
	tokensIssued map[string]int
	scripts      map[int]*storedScript
	nextScriptID int
	subs         map[int]*Submission
	nextSubID    int
	metrics      map[int][]MetricRow
	metricKeys   map[metricKey]struct{}
	clusters     map[string]*clusterRecord
	faults       faultTable

	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	url  string
}

type storedScript struct {
	JobScript
	createdAt time.Time
}

type clusterRecord struct {
	status    ClusterStatus
	createdAt time.Time
	updatedAt time.Time
}

type metricKey struct {
	time         int64
	submissionID int
	host         string
	step, task   int
}

// New returns a server that is not listening yet.
func New(opts Options) *Server {
	s := &Server{
		version:      opts.Version,
		ttl:          opts.TokenTTL,
		log:          opts.Logger,
		now:          opts.Now,
		key:          make([]byte, 32),
		clients:      map[string]Client{},
		tokensIssued: map[string]int{},
		scripts:      map[int]*storedScript{},
		subs:         map[int]*Submission{},
		metrics:      map[int][]MetricRow{},
		metricKeys:   map[metricKey]struct{}{},
		clusters:     map[string]*clusterRecord{},
	}
	if s.version == "" {
		s.version = DefaultVersion
	}
	if s.ttl <= 0 {
		s.ttl = 5 * time.Minute
	}
	if s.log == nil {
		s.log = logging.Discard()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if _, err := rand.Read(s.key); err != nil {
		panic(fmt.Sprintf("jobbergatetest: random signing key: %v", err)) // crypto/rand never fails on Linux
	}
	s.handler = s.withFaults(s.routes())
	return s
}

// NewTestServer returns a server started on 127.0.0.1:0 and closed by t.Cleanup.
func NewTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start development Jobbergate API: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves the API and the token endpoint on that
// one port in the background. It returns once the listener is open.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	s.mu.Lock()
	if s.srv != nil {
		s.mu.Unlock()
		_ = ln.Close()
		return errors.New("jobbergatetest: server already started")
	}
	s.ln, s.srv, s.done = ln, srv, done
	s.url = "http://" + ln.Addr().String()
	s.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("development Jobbergate API stopped", "error", err)
		}
	}()
	s.log.Info("development Jobbergate API listening", "base_api_url", s.url, "oidc_domain", s.OIDCDomain())
	return nil
}

// Close stops the server at once, dropping open connections.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return ErrNotStarted
	}
	err := srv.Close()
	<-done
	if err != nil {
		return fmt.Errorf("close development Jobbergate API: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return ErrNotStarted
	}
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down development Jobbergate API: %w", err)
	}
	<-done
	return nil
}

// Handler returns the server's HTTP handler (API, token endpoint, /dev/ reads, fault injection),
// for mounting it elsewhere (e.g. httptest.NewServer). URL and OIDCDomain are empty then.
func (s *Server) Handler() http.Handler { return s.handler }

// URL is the BASE_API_URL, "http://127.0.0.1:PORT" (API paths are /jobbergate/...). Empty before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// OIDCDomain is "127.0.0.1:PORT/realms/jobbergate": use it as OIDC_DOMAIN with
// OIDC_USE_HTTPS=false; the token endpoint is POST http://{OIDCDomain}/protocol/openid-connect/token.
// Empty before Start.
func (s *Server) OIDCDomain() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String() + realmPath
}

// TokenURL is the full URL of the token endpoint. Empty before Start.
func (s *Server) TokenURL() string {
	d := s.OIDCDomain()
	if d == "" {
		return ""
	}
	return "http://" + d + "/protocol/openid-connect/token"
}

// routes builds the mux with every endpoint.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	const agent = "/jobbergate/job-submissions/agent"
	mux.HandleFunc("POST "+realmPath+"/protocol/openid-connect/token", s.handleToken)

	mux.HandleFunc("GET "+agent+"/pending", s.handlePending)
	mux.HandleFunc("GET "+agent+"/active", s.handleActive)
	mux.HandleFunc("POST "+agent+"/submitted", s.handleSubmitted)
	mux.HandleFunc("POST "+agent+"/rejected", s.handleRejected)
	mux.HandleFunc("PUT "+agent+"/{id}", s.handleAgentUpdate)
	mux.HandleFunc("GET "+agent+"/metrics/{id}", s.handleMetricsGet)
	mux.HandleFunc("PUT "+agent+"/metrics/{id}", s.handleMetricsPut)
	mux.HandleFunc("GET /jobbergate/job-scripts/{id}/upload/{filename...}", s.handleFileDownload)
	mux.HandleFunc("PUT /jobbergate/clusters/status", s.handleClusterStatusPut)
	mux.HandleFunc("GET /jobbergate/clusters/status", s.handleClusterStatusList)
	mux.HandleFunc("GET /jobbergate/clusters/status/{client_id}", s.handleClusterStatusGet)
	mux.HandleFunc("GET /jobbergate/openapi.json", s.handleOpenAPI)
	mux.HandleFunc("GET /jobbergate/health", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})

	mux.HandleFunc("GET /dev/submissions", s.handleDevSubmissions)
	mux.HandleFunc("GET /dev/submissions/{id}", s.handleDevSubmission)
	mux.HandleFunc("GET /dev/metrics/{id}", s.handleDevMetrics)
	mux.HandleFunc("GET /dev/clusters/status", s.handleDevClusters)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeDetail(w, http.StatusNotFound, "Not Found")
	})
	return mux
}

// handleOpenAPI serves a minimal OpenAPI document whose info.version is the configured version.
// It is public: no token needed.
func (s *Server) handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": "Jobbergate-API", "version": s.version},
		"paths":   map[string]any{},
	})
}
