package jobbergatetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// request sends a raw HTTP request to the server and returns the status and body.
func request(t *testing.T, method, url, token, contentType string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, data, resp.Header
}

// jsonRequest sends v as a JSON body (nil v = no body).
func jsonRequest(t *testing.T, method, url, token string, v any) (int, []byte) {
	t.Helper()
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	}
	status, data, _ := request(t, method, url, token, "application/json", body)
	return status, data
}

// detailOf returns the string detail of a FastAPI error body.
func detailOf(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Detail any `json:"detail"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	s, _ := v.Detail.(string)
	return s
}

// expect checks a status and, when wantDetail is not empty, the exact detail text.
func expect(t *testing.T, what string, status int, body []byte, wantStatus int, wantDetail string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: status %d, want %d (body %s)", what, status, wantStatus, body)
	}
	if wantDetail != "" {
		if got := detailOf(t, body); got != wantDetail {
			t.Fatalf("%s: detail %q, want %q", what, got, wantDetail)
		}
	}
}

// fixture is a started server with two clusters, one job script and an agent token per cluster.
type fixture struct {
	s              *Server
	clock          *testenv.Clock
	tokA, tokB     string
	scriptID       int
	agent, scripts string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := testenv.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := NewTestServer(t, Options{Now: clock.Now})
	f := &fixture{s: s, clock: clock}
	f.tokA = s.MintToken(TokenClaims{ClientID: "cluster-a", Permissions: AgentScopes})
	f.tokB = s.MintToken(TokenClaims{ClientID: "cluster-b", Permissions: AgentScopes})
	f.scriptID = s.AddJobScript(JobScript{Name: "hello", OwnerEmail: "alice@example.com", Files: []File{
		{Filename: "job.sh", FileType: FileTypeEntrypoint, Content: []byte("#!/bin/bash\nhostname\n")},
		{Filename: "data/in.txt", FileType: FileTypeSupport, Content: []byte("x=1\n")},
	}})
	f.agent = s.URL() + "/jobbergate/job-submissions/agent"
	f.scripts = s.URL() + "/jobbergate/job-scripts"
	return f
}

// addSub adds a submission of cluster-a (unless overridden) in the given status.
func (f *fixture) addSub(status string, mod ...func(*Submission)) int {
	sub := Submission{Name: "job", OwnerEmail: "alice@example.com", ClientID: "cluster-a", JobScriptID: f.scriptID, Status: status}
	for _, m := range mod {
		m(&sub)
	}
	return f.s.AddSubmission(sub)
}

func ptr[T any](v T) *T { return &v }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
