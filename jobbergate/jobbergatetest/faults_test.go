package jobbergatetest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestFailNext(t *testing.T) {
	f := newFixture(t)
	f.s.FailNext(http.MethodGet, "/jobbergate/job-submissions/agent/pending", http.StatusServiceUnavailable, 2)
	pending := f.agent + "/pending"
	for range 2 {
		status, body, _ := request(t, http.MethodGet, pending, f.tokA, "", nil)
		expect(t, "injected", status, body, 503, "injected failure")
	}
	status, body, _ := request(t, http.MethodGet, pending, f.tokA, "", nil)
	expect(t, "after injected failures", status, body, 200, "")
	// Method must match; "" matches any method.
	f.s.FailNext(http.MethodPost, "/jobbergate/", 500, 1)
	status, _, _ = request(t, http.MethodGet, pending, f.tokA, "", nil)
	if status != 200 {
		t.Fatalf("GET hit a POST failure rule: %d", status)
	}
	f.s.FailNext("", "/realms/", http.StatusBadGateway, 1)
	status, body, _ = request(t, http.MethodPost, f.s.TokenURL(), "", "application/x-www-form-urlencoded", []byte("grant_type=client_credentials"))
	expect(t, "token endpoint failure", status, body, 502, "injected failure")
	if got := f.s.TokensIssued("cluster-a"); got != 0 {
		t.Fatalf("tokens issued %d", got)
	}
}

func TestDelayNext(t *testing.T) {
	f := newFixture(t)
	f.s.DelayNext(http.MethodGet, "/jobbergate/health", 300*time.Millisecond, 1)
	start := time.Now()
	status, _, _ := request(t, http.MethodGet, f.s.URL()+"/jobbergate/health", "", "", nil)
	if status != 204 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("delayed health: status %d after %v", status, time.Since(start))
	}
	// A client that gives up is not held; the rule is used up.
	f.s.DelayNext("", "/jobbergate/health", time.Hour, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.s.URL()+"/jobbergate/health", nil)
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client timeout: %v", err)
	}
	start = time.Now()
	status, _, _ = request(t, http.MethodGet, f.s.URL()+"/jobbergate/health", "", "", nil)
	if status != 204 || time.Since(start) > 5*time.Second {
		t.Fatalf("undelayed health: %d after %v", status, time.Since(start))
	}
	// Delay then failure combine.
	f.s.DelayNext(http.MethodGet, "/jobbergate/health", 100*time.Millisecond, 1)
	f.s.FailNext(http.MethodGet, "/jobbergate/health", 500, 1)
	start = time.Now()
	status, _, _ = request(t, http.MethodGet, f.s.URL()+"/jobbergate/health", "", "", nil)
	if status != 500 || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("delayed failure: %d after %v", status, time.Since(start))
	}
}

func TestCalls(t *testing.T) {
	f := newFixture(t)
	sub := f.addSub(StatusCreated)
	request(t, http.MethodGet, f.agent+"/pending", f.tokA, "", nil)
	request(t, http.MethodGet, f.agent+"/pending?page=2", f.tokA, "", nil)
	request(t, http.MethodGet, f.agent+"/active", "", "", nil) // 401 still counts
	f.s.FailNext("", "/jobbergate/health", 500, 1)
	request(t, http.MethodGet, f.s.URL()+"/jobbergate/health", "", "", nil) // injected still counts
	jsonRequest(t, http.MethodPost, f.agent+"/rejected", f.tokA, map[string]any{"id": sub, "report_message": "x"})
	request(t, http.MethodGet, f.s.URL()+"/dev/submissions", "", "", nil) // not counted
	cases := []struct {
		method, prefix string
		want           int
	}{
		{http.MethodGet, "/jobbergate/job-submissions/agent/pending", 2},
		{http.MethodGet, "/jobbergate/job-submissions/agent/", 3},
		{"", "/jobbergate/job-submissions/agent/", 4},
		{http.MethodPost, "/jobbergate/job-submissions/agent/rejected", 1},
		{http.MethodPut, "/jobbergate/", 0},
		{"", "/jobbergate/health", 1},
		{"", "/dev/", 0},
		{"", "/", 5},
	}
	for _, tc := range cases {
		if got := f.s.Calls(tc.method, tc.prefix); got != tc.want {
			t.Errorf("Calls(%q, %q) = %d, want %d", tc.method, tc.prefix, got, tc.want)
		}
	}
}
