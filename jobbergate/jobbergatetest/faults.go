package jobbergatetest

import (
	"net/http"
	"strings"
	"time"
)

// faultTable holds the pending injected failures and delays and the log of requests seen.
// It is guarded by Server.mu.
type faultTable struct {
	fails  []*faultRule
	delays []*faultRule
	calls  []call
}

type faultRule struct {
	method, prefix string
	status         int
	delay          time.Duration
	remaining      int
}

type call struct{ method, path string }

func (f *faultRule) matches(method, path string) bool {
	return f.remaining > 0 && (f.method == "" || strings.EqualFold(f.method, method)) && strings.HasPrefix(path, f.prefix)
}

// devPrefix is where the unauthenticated read endpoints live; they are never counted, delayed
// or failed, so that observing the server does not disturb what is observed.
const devPrefix = "/dev/"

// FailNext makes the next `times` requests whose method equals method ("" = any) and whose URL
// path starts with pathPrefix answer status with the JSON body {"detail": "injected failure"},
// without being handled. Rules apply in the order they were added.
func (s *Server) FailNext(method, pathPrefix string, status int, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.fails = append(s.faults.fails, &faultRule{method: method, prefix: pathPrefix, status: status, remaining: times})
}

// DelayNext makes the next `times` matching requests (as for FailNext) stall d before being
// handled (or failed by FailNext). A stalled request ends early if its client goes away.
func (s *Server) DelayNext(method, pathPrefix string, d time.Duration, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.delays = append(s.faults.delays, &faultRule{method: method, prefix: pathPrefix, delay: d, remaining: times})
}

// Calls reports how many requests matching method ("" = any) and pathPrefix the server has
// received so far, injected failures included (/dev/ reads are not counted).
func (s *Server) Calls(method, pathPrefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.faults.calls {
		if (method == "" || strings.EqualFold(method, c.method)) && strings.HasPrefix(c.path, pathPrefix) {
			n++
		}
	}
	return n
}

// take consumes one use of the first matching rule and returns it, or nil. Caller holds s.mu.
func take(rules []*faultRule, method, path string) *faultRule {
	for _, f := range rules {
		if f.matches(method, path) {
			f.remaining--
			return f
		}
	}
	return nil
}

// withFaults records every request, applies injected delays and failures, and logs the outcome.
func (s *Server) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if strings.HasPrefix(path, devPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		s.faults.calls = append(s.faults.calls, call{method: r.Method, path: path})
		delay := take(s.faults.delays, r.Method, path)
		s.mu.Unlock()
		if delay != nil {
			t := time.NewTimer(delay.delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		s.mu.Lock()
		fail := take(s.faults.fails, r.Method, path)
		s.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		if fail != nil {
			writeDetail(rec, fail.status, "injected failure")
		} else {
			next.ServeHTTP(rec, r)
		}
		s.log.Debug("request", "method", r.Method, "path", path, "status", rec.status, "injected", fail != nil)
	})
}

// statusRecorder remembers the status code written, for logging.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
