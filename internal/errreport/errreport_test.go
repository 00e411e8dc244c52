package errreport

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// sentryServer is a local HTTP server that records what a Sentry client sends it.
type sentryServer struct {
	mu     sync.Mutex
	bodies []string
}

func (s *sentryServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	s.mu.Lock()
	s.bodies = append(s.bodies, r.URL.Path+"\n"+string(b))
	s.mu.Unlock()
	w.WriteHeader(200)
}

func (s *sentryServer) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.bodies, "\n")
}

func TestReportSendsTheErrorWithTags(t *testing.T) {
	srv := &sentryServer{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dsn := strings.Replace(ts.URL, "http://", "http://publickey@", 1) + "/42"

	r, err := New(Options{DSN: dsn, Environment: "test-env", SampleRate: 1, Release: "5.12.0"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Enabled() {
		t.Fatal("a DSN must enable reporting")
	}
	r.Report(errors.New("request to Jobbergate-API failed: boom"), map[string]string{"call": "pending"})
	if !r.Flush(5 * time.Second) {
		t.Fatal("flush did not complete")
	}
	got := srv.all()
	for _, want := range []string{"/api/42/", "request to Jobbergate-API failed: boom", "test-env", `"call":"pending"`} {
		if !strings.Contains(got, want) {
			t.Errorf("sentry payload lacks %q:\n%.2000s", want, got)
		}
	}
}

func TestDisabledWithoutDSN(t *testing.T) {
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Enabled() {
		t.Fatal("no DSN must mean disabled")
	}
	r.Report(errors.New("x"), nil) // must not panic
	var zero *Reporter
	zero.Report(errors.New("x"), nil)
	if !zero.Flush(time.Millisecond) {
		t.Error("flush of a disabled reporter must succeed")
	}
}

func TestInvalidDSNDoesNotLeakIt(t *testing.T) {
	_, err := New(Options{DSN: "http://secretkey@/nohost"})
	if err == nil {
		t.Fatal("want an error for a DSN without host")
	}
	if bytes.Contains([]byte(err.Error()), []byte("secretkey")) {
		t.Errorf("error leaks the DSN: %v", err)
	}
}
