package jobbergate_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// FuzzClientDecode serves a fuzzed 200 body to the real client on a loopback server and reads it
// as each GET answer the agent decodes: the openapi document (info.version), a pending page, an
// active page and the metrics max times. Every failure must be an *APIError carrying
// ErrValidation or ErrInvalidResponse, and no message may contain the bearer token.
func FuzzClientDecode(f *testing.F) {
	for _, s := range []string{
		`{"openapi":"3.1.0","info":{"title":"Jobbergate-API","version":"5.11.0"},"paths":{}}`,
		`{"info":{"version":null}}`, `{"info":"5.11.0"}`, `{"info":{"version":5}}`,
		`{"items":[{"id":1,"name":"hello-1","owner_email":"alice@example.com","execution_directory":null,` +
			`"sbatch_arguments":[],"job_script":{"files":[{"parent_id":1,"filename":"job.sh","file_type":"ENTRYPOINT"}]}}],` +
			`"total":1,"page":1,"size":100,"pages":1}`,
		`{"items":[{"id":1,"name":"hello-1","status":"SUBMITTED","slurm_job_id":4}],"total":1,"page":1,"size":100,"pages":1}`,
		`{"job_submission_id":7,"max_times":[{"max_time":1714557600,"node_host":"vm","step":0,"task":0}]}`,
		"<html>502 Bad Gateway</html>", "",
	} {
		f.Add([]byte(s))
	}
	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*body.Load())
	}))
	f.Cleanup(srv.Close)
	const token = "fuzz-bearer-token-4f1d2c"
	c, err := jobbergate.New(jobbergate.Options{BaseURL: srv.URL, Tokens: &staticTokens{token: token}, Retry: fastRetry})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		body.Store(&data)
		check := func(call string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			var ae *jobbergate.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("%s: error %T is not an *APIError: %v", call, err, err)
			}
			if !errors.Is(err, jobbergate.ErrValidation) && !errors.Is(err, jobbergate.ErrInvalidResponse) {
				t.Fatalf("%s: 200 answer gave an error that is neither validation nor invalid response: %v", call, err)
			}
			if strings.Contains(err.Error(), token) {
				t.Fatalf("%s: error message holds the bearer token: %v", call, err)
			}
		}
		_, err := c.APIVersion(ctx)
		check("APIVersion", err)
		p, err := c.PendingSubmissionsPage(ctx, 1)
		check("PendingSubmissionsPage", err)
		if err == nil && (p == nil || p.Items == nil) {
			t.Fatalf("PendingSubmissionsPage returned %v without error", p)
		}
		a, err := c.ActiveSubmissionsPage(ctx, 1)
		check("ActiveSubmissionsPage", err)
		if err == nil && (a == nil || a.Items == nil) {
			t.Fatalf("ActiveSubmissionsPage returned %v without error", a)
		}
		m, err := c.MetricsMaxTimes(ctx, 7)
		check("MetricsMaxTimes", err)
		if err == nil && m.MaxTimes == nil {
			t.Fatal("MetricsMaxTimes returned a nil list without error")
		}
	})
}
