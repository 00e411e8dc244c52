package jobbergate_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// staticTokens is a TokenProvider with a fixed token, counting invalidations.
type staticTokens struct {
	mu          sync.Mutex
	token       string
	invalidated int
}

func (s *staticTokens) Token(context.Context) (string, error) { return s.token, nil }
func (s *staticTokens) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated++
}

const staticToken = "static-test-token"

// recorded is one request seen by a shapes server.
type recorded struct {
	method, path, rawPath, query, auth, ctype string
	body                                      []byte
}

// shapesServer answers every request with handler and records what it received.
type shapesServer struct {
	mu   sync.Mutex
	reqs []recorded
	srv  *httptest.Server
}

func newShapes(t *testing.T, handler http.HandlerFunc) *shapesServer {
	t.Helper()
	s := &shapesServer{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery,
			r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b})
		s.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *shapesServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func (s *shapesServer) client(t *testing.T, mod func(*jobbergate.Options)) *jobbergate.Client {
	t.Helper()
	opts := jobbergate.Options{BaseURL: s.srv.URL, Tokens: &staticTokens{token: staticToken}, Retry: fastRetry}
	if mod != nil {
		mod(&opts)
	}
	c, err := jobbergate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// Reference: TestFetchPage (success, empty, request error, JSON error, validation error) for
// both lists.
func TestFetchPageShapes(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantErr    error // nil = success
		wantStatus int
	}{
		{"success", 200, `{"items": [{"id": 1, "name": "n", "owner_email": "e", "status": "SUBMITTED", "slurm_job_id": 3, "job_script": {"files": []}}], "total": 1, "page": 1, "size": 100, "pages": 1}`, nil, 0},
		{"empty pages 0", 200, `{"items": [], "total": 0, "page": 1, "size": 100, "pages": 0}`, nil, 0},
		{"request error", 500, `{"detail": "Internal Server Error"}`, jobbergate.ErrUnexpectedStatus, 500},
		{"json error", 200, `this is not json`, jobbergate.ErrInvalidResponse, 200},
		{"validation error", 200, `{"items": [], "total": 0}`, jobbergate.ErrValidation, 200},
		{"item validation error", 200, `{"items": [{"name": "no id"}], "total": 1, "page": 1, "size": 100, "pages": 1}`, jobbergate.ErrValidation, 200},
	}
	for _, tt := range tests {
		for _, kind := range []string{"pending", "active"} {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				s := newShapes(t, reply(tt.status, tt.body))
				c := s.client(t, func(o *jobbergate.Options) { o.PageSize = 100; o.Retry.MaxAttempts = 1 })
				var err error
				var n int
				prefix := "Failed to fetch pending job submissions -- "
				if kind == "pending" {
					var p *jobbergate.Page[jobbergate.PendingSubmission]
					p, err = c.PendingSubmissionsPage(context.Background(), 1)
					if p != nil {
						n = len(p.Items)
					}
				} else {
					prefix = "Failed to fetch active job submissions -- "
					var p *jobbergate.Page[jobbergate.ActiveSubmission]
					p, err = c.ActiveSubmissionsPage(context.Background(), 1)
					if p != nil {
						n = len(p.Items)
					}
				}
				reqs := s.requests()
				if len(reqs) != 1 || reqs[0].query != "page=1&size=100" || reqs[0].auth != "Bearer "+staticToken {
					t.Fatalf("requests %+v", reqs)
				}
				if tt.wantErr == nil {
					if err != nil {
						t.Fatal(err)
					}
					if want := strings.Count(tt.body, `"id"`); n != want {
						t.Fatalf("%d items, want %d", n, want)
					}
					return
				}
				if !errors.Is(err, tt.wantErr) || jobbergate.StatusCode(err) != tt.wantStatus || !strings.HasPrefix(err.Error(), prefix) {
					t.Fatalf("err = %v", err)
				}
				if !strings.Contains(err.Error(), strings.TrimSpace(tt.body[:min(len(tt.body), 20)])) {
					t.Fatalf("error does not quote the body: %v", err)
				}
				if jobbergate.IsTransient(err) != (tt.wantStatus >= 500) {
					t.Fatalf("IsTransient(%v) = %v", err, jobbergate.IsTransient(err))
				}
			})
		}
	}
}

// Reference: test_mark_as_submitted__success, test_mark_as_rejected__success,
// test_update_job_data__success (exact bodies, explicit nulls), plus the other request shapes.
func TestRequestShapes(t *testing.T) {
	jobID := 7
	tests := []struct {
		name                       string
		do                         func(c *jobbergate.Client) error
		method, path, query, ctype string
		body                       string // exact JSON (compared semantically); "" = no body
	}{
		{
			name: "mark submitted",
			do: func(c *jobbergate.Client) error {
				return c.MarkSubmitted(context.Background(), 1, jobbergate.SlurmJobData{JobID: &jobID, JobState: jobbergate.StatePending, JobInfo: `{"a": 1}`})
			},
			method: "POST", path: "/jobbergate/job-submissions/agent/submitted", ctype: "application/json",
			body: `{"id": 1, "slurm_job_id": 7, "slurm_job_state": "PENDING", "slurm_job_info": "{\"a\": 1}", "slurm_job_state_reason": null}`,
		},
		{
			name:   "mark rejected",
			do:     func(c *jobbergate.Client) error { return c.MarkRejected(context.Background(), 1, "BOOM!") },
			method: "POST", path: "/jobbergate/job-submissions/agent/rejected", ctype: "application/json",
			body: `{"id": 1, "report_message": "BOOM!"}`,
		},
		{
			name: "update job",
			do: func(c *jobbergate.Client) error {
				return c.UpdateJob(context.Background(), 1, jobbergate.SlurmJobData{JobState: jobbergate.StateCancelled, StateReason: ptr("Job was cancelled")})
			},
			method: "PUT", path: "/jobbergate/job-submissions/agent/1", ctype: "application/json",
			body: `{"slurm_job_id": null, "slurm_job_state": "CANCELLED", "slurm_job_info": "{}", "slurm_job_state_reason": "Job was cancelled"}`,
		},
		{
			name:   "report status",
			do:     func(c *jobbergate.Client) error { return c.ReportStatus(context.Background(), 30*time.Second) },
			method: "PUT", path: "/jobbergate/clusters/status", query: "interval=30",
		},
		{
			name: "put metrics",
			do: func(c *jobbergate.Client) error {
				return c.PutMetrics(context.Background(), 5, []jobbergate.MetricRow{{Time: 1, Host: "h"}})
			},
			method: "PUT", path: "/jobbergate/job-submissions/agent/metrics/5", ctype: "application/octet-stream",
		},
		{
			name: "download file",
			do: func(c *jobbergate.Client) error {
				_, err := c.DownloadFile(context.Background(), 3, "a b/../c?.sh", 0)
				return err
			},
			method: "GET", path: "/jobbergate/job-scripts/3/upload/a b/../c?.sh",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newShapes(t, reply(202, ""))
			if err := tt.do(s.client(t, nil)); err != nil {
				t.Fatal(err)
			}
			reqs := s.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if r.method != tt.method || r.path != tt.path || r.query != tt.query || r.ctype != tt.ctype || r.auth != "Bearer "+staticToken {
				t.Fatalf("request %+v", r)
			}
			switch {
			case tt.body != "":
				var got, want any
				if err := json.Unmarshal(r.body, &got); err != nil {
					t.Fatalf("body %q: %v", r.body, err)
				}
				_ = json.Unmarshal([]byte(tt.body), &want)
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(want)
				if string(gb) != string(wb) {
					t.Fatalf("body %s\nwant %s", gb, wb)
				}
			case tt.ctype == "application/octet-stream":
				rows, err := jobbergate.DecodeMetricRows(r.body)
				if err != nil || len(rows) != 1 || rows[0].Host != "h" {
					t.Fatalf("msgpack body %x: %v, %v", r.body, rows, err)
				}
			case len(r.body) != 0:
				t.Fatalf("unexpected body %q", r.body)
			}
			if tt.name == "download file" && r.rawPath != "/jobbergate/job-scripts/3/upload/a%20b%2F..%2Fc%3F.sh" {
				t.Fatalf("escaped path %q", r.rawPath)
			}
		})
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	target := newShapes(t, reply(200, `{"items": [], "total": 0, "page": 1, "size": 100, "pages": 0}`))
	s := newShapes(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.srv.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	_, err := s.client(t, nil).PendingSubmissions(context.Background())
	if !jobbergate.IsStatus(err, http.StatusTemporaryRedirect) {
		t.Fatalf("err = %v", err)
	}
	if n := len(target.requests()); n != 0 {
		t.Fatalf("redirect followed (%d requests)", n)
	}
}

func TestErrorBodyExcerpt(t *testing.T) {
	long := `{"detail": "` + strings.Repeat("x", 10000) + `"}`
	s := newShapes(t, reply(400, long))
	err := s.client(t, nil).MarkRejected(context.Background(), 1, "m")
	var ae *jobbergate.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err %T %v", err, err)
	}
	if len(ae.Body) != 512 || ae.Body != long[:512] {
		t.Fatalf("body excerpt of %d bytes", len(ae.Body))
	}
	if len(err.Error()) > 1024 {
		t.Fatalf("message of %d bytes", len(err.Error()))
	}
	if ae.Message != "Could not mark job submission 1 as rejected via the Jobbergate API" || ae.StatusCode != 400 ||
		ae.Method != "POST" || ae.Path != "/jobbergate/job-submissions/agent/rejected" || ae.Call != "MarkRejected" {
		t.Fatalf("APIError %+v", ae)
	}
}

func TestAPIVersionShapes(t *testing.T) {
	tests := []struct {
		body    string
		want    string
		wantErr error
	}{
		{`{"openapi": "3.1.0", "info": {"title": "x", "version": "5.11.0"}}`, "5.11.0", nil},
		{`{"info": {}}`, "", jobbergate.ErrValidation},
		{`{}`, "", jobbergate.ErrValidation},
		{`[]`, "", jobbergate.ErrInvalidResponse},
	}
	for _, tt := range tests {
		s := newShapes(t, reply(200, tt.body))
		got, err := s.client(t, nil).APIVersion(context.Background())
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("body %s: got %q, %v", tt.body, got, err)
		}
		if reqs := s.requests(); len(reqs) != 1 || reqs[0].path != "/jobbergate/openapi.json" || reqs[0].auth != "Bearer "+staticToken {
			t.Errorf("requests %+v", reqs)
		}
	}
}

func TestBaseURLPathPrefixIsKept(t *testing.T) {
	s := newShapes(t, reply(202, ""))
	c, err := jobbergate.New(jobbergate.Options{BaseURL: s.srv.URL + "/prefix/", Tokens: &staticTokens{token: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReportStatus(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if r := s.requests(); len(r) != 1 || r[0].path != "/prefix/jobbergate/clusters/status" {
		t.Fatalf("requests %+v", r)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	bad := []jobbergate.Options{
		{BaseURL: ""},
		{BaseURL: "apis.vantagehpc.io"},
		{BaseURL: "ftp://x"},
		{BaseURL: "https://x", PageSize: 101},
		{BaseURL: "https://x", PageSize: -1},
		{BaseURL: "https://x", MaxPages: -1},
	}
	for _, o := range bad {
		if _, err := jobbergate.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := jobbergate.New(jobbergate.Options{BaseURL: "https://apis.vantagehpc.io"}); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsMaxTimesShapes(t *testing.T) {
	tests := []struct {
		body    string
		wantErr error
		want    int
	}{
		{`{"job_submission_id": 5, "max_times": [{"max_time": 10, "node_host": "h", "step": 0, "task": 1}]}`, nil, 1},
		{`{"job_submission_id": 5, "max_times": []}`, nil, 0},
		{`{"job_submission_id": 5}`, jobbergate.ErrValidation, 0},
		{`{"job_submission_id": 5, "max_times": [{"max_time": 10}]}`, jobbergate.ErrValidation, 0},
	}
	for _, tt := range tests {
		s := newShapes(t, reply(200, tt.body))
		got, err := s.client(t, nil).MetricsMaxTimes(context.Background(), 5)
		if !errors.Is(err, tt.wantErr) || len(got.MaxTimes) != tt.want {
			t.Errorf("body %s: got %+v, %v", tt.body, got, err)
		}
		if tt.wantErr != nil && !strings.HasPrefix(err.Error(), "Could not fetch job metrics for job submission 5 via the API -- ") {
			t.Errorf("message %q", err)
		}
	}
}

func TestUnauthorizedInvalidatesOnce(t *testing.T) {
	s := newShapes(t, reply(401, `{"detail": "Not authenticated"}`))
	tokens := &staticTokens{token: staticToken}
	err := s.client(t, func(o *jobbergate.Options) { o.Tokens = tokens }).ReportStatus(context.Background(), time.Minute)
	if !jobbergate.IsStatus(err, 401) || jobbergate.IsTransient(err) {
		t.Fatalf("err = %v", err)
	}
	if n := len(s.requests()); n != 2 || tokens.invalidated != 1 {
		t.Fatalf("%d requests, %d invalidations; want 2 and 1", n, tokens.invalidated)
	}
	if strings.Contains(err.Error(), staticToken) {
		t.Fatalf("error leaks the token: %v", err)
	}
}
