package jobbergatetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestConcurrentAgents runs several "agents" against one server at once: each submission is
// marked submitted exactly once (the others get 400) and every metric batch is stored once.
func TestConcurrentAgents(t *testing.T) {
	f := newFixture(t)
	const subs, workers = 20, 8
	ids := make([]int, subs)
	for i := range ids {
		ids[i] = f.addSub(StatusCreated)
	}
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, id := range ids {
				sb, _ := json.Marshal(submittedBody(id))
				status, err := tryRequest(http.MethodPost, f.agent+"/submitted", f.tokA, "application/json", sb)
				if err != nil {
					t.Error(err)
					return
				}
				switch status {
				case 202:
					accepted.Add(1)
				case 400:
					refused.Add(1)
				default:
					t.Errorf("submitted %d: status %d", id, status)
				}
				body, _ := msgpack.Marshal([][]any{metricRow(int64(w), "n", 0, 0)})
				if status, err := tryRequest(http.MethodPut, fmt.Sprintf("%s/metrics/%d", f.agent, id), f.tokA, "application/octet-stream", body); status != 204 {
					t.Errorf("metrics %d: %d %v", id, status, err)
				}
				if status, err := tryRequest(http.MethodGet, f.agent+"/active", f.tokA, "", nil); status != 200 {
					t.Errorf("active: %d %v", status, err)
				}
				_ = f.s.Submissions()
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != subs || refused.Load() != subs*(workers-1) {
		t.Fatalf("accepted %d refused %d, want %d and %d", accepted.Load(), refused.Load(), subs, subs*(workers-1))
	}
	for _, id := range ids {
		sub, _ := f.s.Submission(id)
		if sub.Status != StatusSubmitted || len(sub.Progress) != 1 || len(f.s.Metrics(id)) != workers {
			t.Fatalf("submission %d: %+v, %d metric rows", id, sub, len(f.s.Metrics(id)))
		}
	}
	if got := f.s.Calls(http.MethodPost, "/jobbergate/job-submissions/agent/submitted"); got != subs*workers {
		t.Fatalf("Calls = %d, want %d", got, subs*workers)
	}
}

// BenchmarkMetricsUpload measures one maximal (2,340-row) msgpack upload over HTTP, duplicate
// check and storage included. Each iteration uses fresh timestamps.
func BenchmarkMetricsUpload(b *testing.B) {
	s := NewTestServer(b, Options{})
	tok := s.MintToken(TokenClaims{ClientID: "c", Permissions: AgentScopes})
	id := s.AddSubmission(Submission{ClientID: "c"})
	url := fmt.Sprintf("%s/jobbergate/job-submissions/agent/metrics/%d", s.URL(), id)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		body, err := msgpack.Marshal(rows(2340, int64(i)*2340))
		if err != nil {
			b.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPut, url, bytesReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(2340*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// tryRequest is request for goroutines other than the test's: it reports errors instead of
// stopping the test.
func tryRequest(method, url, token, contentType string, body []byte) (int, error) {
	req, err := http.NewRequest(method, url, bytesReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}
