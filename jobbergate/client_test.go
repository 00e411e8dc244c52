package jobbergate_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

const (
	pendingPath = "/jobbergate/job-submissions/agent/pending"
	activePath  = "/jobbergate/job-submissions/agent/active"
	agentPath   = "/jobbergate/job-submissions/agent/"
)

// fastRetry keeps retry tests quick.
var fastRetry = jobbergate.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

// newClient returns a client of api with its own token source; mod may adjust the options.
func newClient(t *testing.T, api *jobbergatetest.Server, mod func(*jobbergate.Options)) *jobbergate.Client {
	t.Helper()
	opts := jobbergate.Options{BaseURL: api.URL(), Tokens: newTokens(t, api, nil), Timeout: 5 * time.Second, Retry: fastRetry}
	if mod != nil {
		mod(&opts)
	}
	c, err := jobbergate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// seedPending adds n CREATED submissions of this cluster, each with a two-file job script.
func seedPending(api *jobbergatetest.Server, n int) {
	js := api.AddJobScript(jobbergatetest.JobScript{Name: "js", OwnerEmail: "alice@example.com", Files: []jobbergatetest.File{
		{Filename: "run.sh", FileType: "ENTRYPOINT", Content: []byte("#!/bin/sh\necho hi\n")},
		{Filename: "input.txt", FileType: "SUPPORT", Content: []byte("data")},
	}})
	for i := range n {
		api.AddSubmission(jobbergatetest.Submission{Name: fmt.Sprintf("sub-%d", i), OwnerEmail: "alice@example.com",
			ClientID: testClientID, JobScriptID: js})
	}
}

// seedActive adds n SUBMITTED submissions of this cluster with Slurm job ids 1000+i.
func seedActive(api *jobbergatetest.Server, n int) {
	for i := range n {
		api.AddSubmission(jobbergatetest.Submission{Name: fmt.Sprintf("act-%d", i), OwnerEmail: "alice@example.com",
			ClientID: testClientID, Status: "SUBMITTED", SlurmJobID: ptr(1000 + i), SlurmJobState: ptr("RUNNING")})
	}
}

// Reference: test_fetch_pending_submissions__success and test_fetch_paginated_result__success.
func TestPendingSubmissionsFields(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	js := api.AddJobScript(jobbergatetest.JobScript{Name: "js", Files: []jobbergatetest.File{
		{Filename: "run.sh", FileType: "ENTRYPOINT"}, {Filename: "in.txt", FileType: "SUPPORT"}}})
	id1 := api.AddSubmission(jobbergatetest.Submission{Name: "one", OwnerEmail: "a@x.org", ClientID: testClientID, JobScriptID: js,
		ExecutionDirectory: ptr("/home/a/run"), SbatchArguments: []string{"--mem=1G", "--time=10"}})
	id2 := api.AddSubmission(jobbergatetest.Submission{Name: "two", OwnerEmail: "b@x.org", ClientID: testClientID, JobScriptID: js})
	api.AddSubmission(jobbergatetest.Submission{Name: "other cluster", ClientID: "cluster-b", JobScriptID: js})
	api.AddSubmission(jobbergatetest.Submission{Name: "already submitted", ClientID: testClientID, JobScriptID: js, Status: "SUBMITTED"})
	c := newClient(t, api, nil)

	got, err := c.PendingSubmissions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	files := []jobbergate.JobScriptFile{{ParentID: js, Filename: "run.sh", FileType: jobbergate.FileTypeEntrypoint},
		{ParentID: js, Filename: "in.txt", FileType: jobbergate.FileTypeSupport}}
	want := []jobbergate.PendingSubmission{
		{ID: id1, Name: "one", OwnerEmail: "a@x.org", ExecutionDirectory: ptr("/home/a/run"),
			SbatchArguments: []string{"--mem=1G", "--time=10"}, JobScript: jobbergate.JobScript{Files: files}},
		{ID: id2, Name: "two", OwnerEmail: "b@x.org", SbatchArguments: []string{}, JobScript: jobbergate.JobScript{Files: files}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if n := api.Calls(http.MethodGet, pendingPath); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	if ep, ok := got[0].JobScript.Entrypoint(); !ok || ep.Filename != "run.sh" {
		t.Fatalf("Entrypoint = %+v, %v", ep, ok)
	}
}

func TestActiveSubmissionsFields(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	a := api.AddSubmission(jobbergatetest.Submission{Name: "a", ClientID: testClientID, Status: "SUBMITTED", SlurmJobID: ptr(11)})
	b := api.AddSubmission(jobbergatetest.Submission{Name: "b", ClientID: testClientID, Status: "CANCELLED"})
	api.AddSubmission(jobbergatetest.Submission{Name: "done", ClientID: testClientID, Status: "DONE", SlurmJobID: ptr(12)})
	c := newClient(t, api, nil)
	got, err := c.ActiveSubmissions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []jobbergate.ActiveSubmission{
		{ID: a, Name: "a", Status: ptr(jobbergate.StatusSubmitted), SlurmJobID: ptr(11)},
		{ID: b, Name: "b", Status: ptr(jobbergate.StatusCancelled)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// Reference: the pagination tests (single page, multiple pages, empty) for both lists, and the
// design's "drain every page" (730 submissions: 8 requests).
func TestPaginationDrainsEveryPage(t *testing.T) {
	tests := []struct {
		total, size, maxPages int
		wantItems, wantCalls  int
	}{
		{total: 0, size: 100, wantItems: 0, wantCalls: 1},
		{total: 3, size: 100, wantItems: 3, wantCalls: 1},
		{total: 100, size: 100, wantItems: 100, wantCalls: 1},
		{total: 101, size: 100, wantItems: 101, wantCalls: 2},
		{total: 7, size: 3, wantItems: 7, wantCalls: 3},
		{total: 730, size: 100, wantItems: 730, wantCalls: 8},
		// MAX_PAGES_PER_CYCLE behaviour: extra items are left for the next cycle.
		{total: 730, size: 100, maxPages: 5, wantItems: 500, wantCalls: 5},
		{total: 7, size: 3, maxPages: 2, wantItems: 6, wantCalls: 2},
		{total: 7, size: 3, maxPages: 9, wantItems: 7, wantCalls: 3},
	}
	for _, tt := range tests {
		for _, kind := range []string{"pending", "active"} {
			t.Run(fmt.Sprintf("%s/total=%d,size=%d,max=%d", kind, tt.total, tt.size, tt.maxPages), func(t *testing.T) {
				api := newAPI(t, jobbergatetest.Options{})
				c := newClient(t, api, func(o *jobbergate.Options) { o.PageSize = tt.size; o.MaxPages = tt.maxPages })
				var n int
				var err error
				path := pendingPath
				if kind == "pending" {
					seedPending(api, tt.total)
					var got []jobbergate.PendingSubmission
					got, err = c.PendingSubmissions(context.Background())
					n = len(got)
					seen := map[int]bool{}
					for _, s := range got {
						seen[s.ID] = true
					}
					if len(seen) != n {
						t.Fatalf("%d distinct ids among %d items", len(seen), n)
					}
				} else {
					path = activePath
					seedActive(api, tt.total)
					var got []jobbergate.ActiveSubmission
					got, err = c.ActiveSubmissions(context.Background())
					n = len(got)
				}
				if err != nil {
					t.Fatal(err)
				}
				if n != tt.wantItems {
					t.Fatalf("%d items, want %d", n, tt.wantItems)
				}
				if calls := api.Calls(http.MethodGet, path); calls != tt.wantCalls {
					t.Fatalf("%d requests, want %d", calls, tt.wantCalls)
				}
			})
		}
	}
}

func TestPagesIteratorStreams(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	seedPending(api, 25)
	c := newClient(t, api, func(o *jobbergate.Options) { o.PageSize = 10 })
	var sizes []int
	for p, err := range c.PendingPages(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(p.Items))
		if len(sizes) == 2 {
			break
		}
	}
	if !reflect.DeepEqual(sizes, []int{10, 10}) || api.Calls(http.MethodGet, pendingPath) != 2 {
		t.Fatalf("sizes %v after %d requests", sizes, api.Calls(http.MethodGet, pendingPath))
	}
	p, err := c.ActiveSubmissionsPage(context.Background(), 1)
	if err != nil || p.Pages != 0 || p.Total != 0 || !p.Last() {
		t.Fatalf("empty active page %+v, %v", p, err)
	}
}

// A failing page fails the whole fetch (reference: request error), after the retries.
func TestPaginationPageFailureFailsFetch(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	seedPending(api, 30)
	c := newClient(t, api, func(o *jobbergate.Options) { o.PageSize = 10; o.Retry.MaxAttempts = 1 })
	// Page 1 succeeds, page 2 fails: the iterator yields the page, then the error, then stops.
	var results []error
	for _, err := range c.PendingPages(context.Background()) {
		results = append(results, err)
		if len(results) == 1 {
			api.FailNext(http.MethodGet, pendingPath, http.StatusInternalServerError, 1)
		}
	}
	if len(results) != 2 || results[0] != nil || !jobbergate.IsStatus(results[1], 500) {
		t.Fatalf("iterator results %v", results)
	}
	api.FailNext(http.MethodGet, pendingPath, http.StatusInternalServerError, 1)
	got, err := c.PendingSubmissions(context.Background())
	if got != nil || !jobbergate.IsStatus(err, 500) {
		t.Fatalf("got %d items, err %v", len(got), err)
	}
	if !strings.HasPrefix(err.Error(), "Failed to fetch pending job submissions -- HTTP 500") ||
		!strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("message %q", err)
	}
	api.FailNext(http.MethodGet, activePath, http.StatusInternalServerError, 1)
	if _, err := c.ActiveSubmissions(context.Background()); err == nil ||
		!strings.HasPrefix(err.Error(), "Failed to fetch active job submissions -- HTTP 500") {
		t.Fatalf("active err %v", err)
	}
}

// Reference: test_mark_as_submitted__success / __raises_..._not_200.
func TestMarkSubmitted(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	seedPending(api, 1)
	id := api.Submissions()[0].ID
	c := newClient(t, api, nil)
	ctx := context.Background()
	data := jobbergate.SlurmJobData{JobID: ptr(4242), JobState: jobbergate.StatePending, JobInfo: `{"job_id": 4242}`}
	if err := c.MarkSubmitted(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	sub, _ := api.Submission(id)
	if sub.Status != "SUBMITTED" || sub.SlurmJobID == nil || *sub.SlurmJobID != 4242 || *sub.SlurmJobState != "PENDING" ||
		*sub.SlurmJobInfo != `{"job_id": 4242}` || sub.SlurmJobStateReason != nil {
		t.Fatalf("stored %+v", sub)
	}
	err := c.MarkSubmitted(ctx, id, data)
	want := fmt.Sprintf("Could not mark job submission %d as submitted via the Jobbergate API -- HTTP 400", id)
	if !jobbergate.IsStatus(err, 400) || !strings.HasPrefix(err.Error(), want) ||
		!strings.Contains(err.Error(), "Only CREATED Job Submissions can be marked as SUBMITTED") {
		t.Fatalf("err = %v", err)
	}
	if jobbergate.IsTransient(err) {
		t.Fatal("a 400 is not transient")
	}
	if err := c.MarkSubmitted(ctx, 9999, data); !jobbergate.IsStatus(err, 404) ||
		!strings.HasPrefix(err.Error(), "Could not mark job submission 9999 as submitted via the Jobbergate API") {
		t.Fatalf("missing submission err = %v", err)
	}
}

// Reference: test_mark_as_rejected__success / __raises_..._not_200.
func TestMarkRejected(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	seedPending(api, 1)
	id := api.Submissions()[0].ID
	c := newClient(t, api, nil)
	msg := "Failed to submit job to slurm -- BOOM!"
	if err := c.MarkRejected(context.Background(), id, msg); err != nil {
		t.Fatal(err)
	}
	sub, _ := api.Submission(id)
	if sub.Status != "REJECTED" || sub.ReportMessage == nil || *sub.ReportMessage != msg {
		t.Fatalf("stored %+v", sub)
	}
	err := c.MarkRejected(context.Background(), id, msg)
	if !jobbergate.IsStatus(err, 400) ||
		!strings.HasPrefix(err.Error(), fmt.Sprintf("Could not mark job submission %d as rejected via the Jobbergate API -- ", id)) {
		t.Fatalf("err = %v", err)
	}
}

func TestPostsAreNotRetried(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	seedPending(api, 1)
	id := api.Submissions()[0].ID
	c := newClient(t, api, nil)
	api.FailNext(http.MethodPost, agentPath+"submitted", http.StatusServiceUnavailable, 1)
	err := c.MarkSubmitted(context.Background(), id, jobbergate.SlurmJobData{JobID: ptr(1), JobState: jobbergate.StatePending})
	if !jobbergate.IsStatus(err, 503) || !jobbergate.IsTransient(err) {
		t.Fatalf("err = %v", err)
	}
	api.FailNext(http.MethodPost, agentPath+"rejected", http.StatusBadGateway, 1)
	if err := c.MarkRejected(context.Background(), id, "x"); !jobbergate.IsStatus(err, 502) {
		t.Fatalf("err = %v", err)
	}
	if n, m := api.Calls(http.MethodPost, agentPath+"submitted"), api.Calls(http.MethodPost, agentPath+"rejected"); n != 1 || m != 1 {
		t.Fatalf("submitted sent %d times, rejected %d times; want 1 each", n, m)
	}
	if sub, _ := api.Submission(id); sub.Status != "CREATED" {
		t.Fatalf("status %s", sub.Status)
	}
}

// Reference: test_update_job_data__success / __raises_..._not_200, plus the API's rules.
func TestUpdateJob(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	seedActive(api, 2)
	subs := api.Submissions()
	c := newClient(t, api, nil)
	ctx := context.Background()

	if err := c.UpdateJob(ctx, subs[0].ID, jobbergate.SlurmJobData{JobID: ptr(1000), JobState: jobbergate.StateCompleted, JobInfo: `{"x":1}`}); err != nil {
		t.Fatal(err)
	}
	if s, _ := api.Submission(subs[0].ID); s.Status != "DONE" || *s.SlurmJobState != "COMPLETED" || *s.SlurmJobInfo != `{"x":1}` {
		t.Fatalf("after COMPLETED: %+v", s)
	}
	reason := "NonZeroExitCode"
	if err := c.UpdateJob(ctx, subs[1].ID, jobbergate.SlurmJobData{JobID: ptr(1001), JobState: jobbergate.StateFailed, StateReason: &reason}); err != nil {
		t.Fatal(err)
	}
	if s, _ := api.Submission(subs[1].ID); s.Status != "ABORTED" || s.ReportMessage == nil || *s.ReportMessage != reason {
		t.Fatalf("after FAILED: %+v", s)
	}
	// Now DONE: the API refuses further updates.
	err := c.UpdateJob(ctx, subs[0].ID, jobbergate.SlurmJobData{JobID: ptr(1000), JobState: jobbergate.StateCompleted})
	if !jobbergate.IsStatus(err, 400) ||
		!strings.HasPrefix(err.Error(), fmt.Sprintf("Could not update job data for job submission %d via the API -- HTTP 400", subs[0].ID)) {
		t.Fatalf("err = %v", err)
	}
	// Job id mismatch: 409.
	seedActive(api, 1)
	last := api.Submissions()[2]
	err = c.UpdateJob(ctx, last.ID, jobbergate.SlurmJobData{JobID: ptr(5), JobState: jobbergate.StateRunning})
	if !jobbergate.IsStatus(err, http.StatusConflict) || jobbergate.IsTransient(err) {
		t.Fatalf("mismatch err = %v", err)
	}
	if n := api.Calls(http.MethodPut, agentPath+fmt.Sprint(last.ID)); n != 1 {
		t.Fatalf("409 retried: %d calls", n)
	}
}

func TestIdempotentCallsAreRetried(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	seedActive(api, 1)
	id := api.Submissions()[0].ID
	c := newClient(t, api, nil)
	ctx := context.Background()

	api.FailNext(http.MethodGet, pendingPath, http.StatusServiceUnavailable, 2)
	if _, err := c.PendingSubmissions(ctx); err != nil {
		t.Fatalf("GET after two 503: %v", err)
	}
	if n := api.Calls(http.MethodGet, pendingPath); n != 3 {
		t.Fatalf("GET sent %d times, want 3", n)
	}

	path := agentPath + fmt.Sprint(id)
	api.FailNext(http.MethodPut, path, http.StatusBadGateway, 1)
	if err := c.UpdateJob(ctx, id, jobbergate.SlurmJobData{JobID: ptr(1000), JobState: jobbergate.StateRunning}); err != nil {
		t.Fatalf("PUT after one 502: %v", err)
	}
	if n := api.Calls(http.MethodPut, path); n != 2 {
		t.Fatalf("PUT sent %d times, want 2", n)
	}

	// Bounded: MaxAttempts=3 requests, then the last error.
	api.FailNext(http.MethodGet, activePath, http.StatusInternalServerError, 10)
	_, err := c.ActiveSubmissions(ctx)
	if !jobbergate.IsStatus(err, 500) || !jobbergate.IsTransient(err) {
		t.Fatalf("err = %v", err)
	}
	if n := api.Calls(http.MethodGet, activePath); n != 3 {
		t.Fatalf("GET sent %d times, want 3", n)
	}

	// 4xx are not retried.
	api.FailNext(http.MethodGet, "/jobbergate/openapi.json", http.StatusNotFound, 1)
	if _, err := c.APIVersion(ctx); !jobbergate.IsStatus(err, 404) {
		t.Fatalf("err = %v", err)
	}
	if n := api.Calls(http.MethodGet, "/jobbergate/openapi.json"); n != 1 {
		t.Fatalf("404 retried: %d calls", n)
	}
}

func TestRetriesStopWithContext(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	c := newClient(t, api, func(o *jobbergate.Options) {
		o.Retry = jobbergate.RetryPolicy{MaxAttempts: 5, InitialBackoff: 20 * time.Second, MaxBackoff: 20 * time.Second}
	})
	api.FailNext(http.MethodGet, activePath, http.StatusServiceUnavailable, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ActiveSubmissions(ctx)
	if !jobbergate.IsStatus(err, 503) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("returned after %s, the context ended after 200ms", d)
	}
	if n := api.Calls(http.MethodGet, activePath); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestTimeoutIsHonoured(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	tests := []struct {
		name      string
		attempts  int
		wantErr   bool
		wantCalls int
	}{
		{"no retry: transient error", 1, true, 1},
		{"retry after the timeout", 2, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := api.Calls(http.MethodGet, activePath)
			c := newClient(t, api, func(o *jobbergate.Options) {
				o.Timeout = 200 * time.Millisecond
				o.Retry.MaxAttempts = tt.attempts
			})
			if _, err := c.ActiveSubmissions(context.Background()); err != nil { // token fetched outside the delay
				t.Fatal(err)
			}
			api.DelayNext(http.MethodGet, activePath, 3*time.Second, 1)
			start := time.Now()
			_, err := c.ActiveSubmissions(context.Background())
			elapsed := time.Since(start)
			if tt.wantErr {
				if err == nil || !jobbergate.IsTransient(err) || jobbergate.StatusCode(err) != 0 {
					t.Fatalf("err = %v (transient %v)", err, jobbergate.IsTransient(err))
				}
				if !strings.HasPrefix(err.Error(), "Failed to fetch active job submissions -- ") {
					t.Fatalf("message %q", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if elapsed > 2*time.Second {
				t.Fatalf("took %s with a 200ms timeout", elapsed)
			}
			if n := api.Calls(http.MethodGet, activePath) - before - 1; n != tt.wantCalls {
				t.Fatalf("%d requests, want %d", n, tt.wantCalls)
			}
		})
	}
}

// A 401 invalidates the token; the call is sent once more with a new token from OIDC.
func TestRefreshOn401(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	seedPending(api, 2)
	dir := t.TempDir()
	// A token the API rejects (not signed by it) but that looks valid to the agent.
	writeCache(t, dir, unsignedJWT(fmt.Sprintf(`{"exp": %d, "azp": "%s"}`, time.Now().Add(time.Hour).Unix(), testClientID)))
	logs := &logBuffer{}
	tokens := newTokens(t, api, func(o *jobbergate.TokenSourceOptions) { o.CacheDir = dir; o.Logger = logs.Logger() })
	c := newClient(t, api, func(o *jobbergate.Options) { o.Tokens = tokens; o.Logger = logs.Logger() })

	got, err := c.PendingSubmissions(context.Background())
	if err != nil || len(got) != 2 {
		t.Fatalf("%d items, err %v", len(got), err)
	}
	if n := api.TokensIssued(testClientID); n != 1 {
		t.Fatalf("issued %d tokens, want 1", n)
	}
	if n := api.Calls(http.MethodGet, pendingPath); n != 2 {
		t.Fatalf("%d requests, want 2 (401 then success)", n)
	}
	// POSTs are re-sent after a 401 too (the API did nothing).
	api.FailNext(http.MethodPost, agentPath+"rejected", http.StatusUnauthorized, 1)
	if err := c.MarkRejected(context.Background(), got[0].ID, "no"); err != nil {
		t.Fatal(err)
	}
	if n := api.TokensIssued(testClientID); n != 2 {
		t.Fatalf("issued %d tokens, want 2", n)
	}
	// Only once: a second 401 is returned.
	api.FailNext(http.MethodGet, activePath, http.StatusUnauthorized, 2)
	_, err = c.ActiveSubmissions(context.Background())
	if !jobbergate.IsStatus(err, 401) {
		t.Fatalf("err = %v", err)
	}
	if n := api.Calls(http.MethodGet, activePath); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
	tok, _ := tokens.Token(context.Background())
	logs.assertNoSecrets(t, tok)
}

// Reference: test_report_health_status__success / __failure.
func TestReportStatus(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	c := newClient(t, api, func(o *jobbergate.Options) { o.Retry.MaxAttempts = 1 })
	if err := c.ReportStatus(context.Background(), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	st, ok := api.ClusterStatus(testClientID)
	if !ok || st.Interval != 60 || !st.IsHealthy {
		t.Fatalf("status %+v, %v", st, ok)
	}
	if n := api.Calls(http.MethodPut, "/jobbergate/clusters/status"); n != 1 {
		t.Fatalf("%d PUTs, want 1", n)
	}
	api.FailNext(http.MethodPut, "/jobbergate/clusters/status", http.StatusInternalServerError, 1)
	err := c.ReportStatus(context.Background(), 60*time.Second)
	if !jobbergate.IsStatus(err, 500) || !strings.HasPrefix(err.Error(), "Failed to report agent status -- HTTP 500") {
		t.Fatalf("err = %v", err)
	}
	if n := api.Calls(http.MethodPut, "/jobbergate/clusters/status"); n != 2 {
		t.Fatalf("%d PUTs, want 2", n)
	}
	// Sub-second intervals round up; zero is refused by the API.
	if err := c.ReportStatus(context.Background(), 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st, _ := api.ClusterStatus(testClientID); st.Interval != 2 {
		t.Fatalf("interval %d, want 2", st.Interval)
	}
	if err := c.ReportStatus(context.Background(), 0); !jobbergate.IsStatus(err, 422) {
		t.Fatalf("interval 0: %v", err)
	}
}

// Reference: test__fetch_upstream_version_info__success [p4] / __check_http_error [p2].
func TestAPIVersion(t *testing.T) {
	for _, v := range []string{"5.11.0", "1.0.0", "2.3.4", "10.20.30"} {
		t.Run(v, func(t *testing.T) {
			api := newAPI(t, jobbergatetest.Options{Version: v})
			got, err := newClient(t, api, nil).APIVersion(context.Background())
			if err != nil || got != v {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
	for _, status := range []int{404, 500} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			api := newAPI(t, jobbergatetest.Options{})
			api.FailNext(http.MethodGet, "/jobbergate/openapi.json", status, 10)
			_, err := newClient(t, api, nil).APIVersion(context.Background())
			if !jobbergate.IsStatus(err, status) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestDownloadFile(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	names := []string{"run.sh", "my input #1 (100%).txt", "a?b&c=d.sh", "ünïcode.py"}
	var files []jobbergatetest.File
	for i, n := range names {
		files = append(files, jobbergatetest.File{Filename: n, FileType: "SUPPORT", Content: []byte(fmt.Sprintf("content %d of %s\n", i, n))})
	}
	js := api.AddJobScript(jobbergatetest.JobScript{Name: "js", Files: files})
	c := newClient(t, api, nil)
	for i, n := range names {
		got, err := c.DownloadFile(context.Background(), js, n, 0)
		if err != nil {
			t.Fatalf("%q: %v", n, err)
		}
		if want := fmt.Sprintf("content %d of %s\n", i, n); string(got) != want {
			t.Fatalf("%q: got %q", n, got)
		}
	}
	// Reference: test_retrieve_submission_file__raises_exception.
	_, err := c.DownloadFile(context.Background(), js, "missing.sh", 0)
	if !jobbergate.IsStatus(err, 404) || !strings.Contains(err.Error(), "missing.sh") {
		t.Fatalf("err = %v", err)
	}
}

func TestMetricsRoundTrip(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	seedActive(api, 1)
	id := api.Submissions()[0].ID
	c := newClient(t, api, nil)
	ctx := context.Background()

	mt, err := c.MetricsMaxTimes(ctx, id)
	if err != nil || mt.JobSubmissionID != id || mt.MaxTimes == nil || len(mt.MaxTimes) != 0 {
		t.Fatalf("initial max times %+v, %v", mt, err)
	}
	rows := []jobbergate.MetricRow{
		{Time: 100, Host: "n1", Step: 0, Task: 0, Values: [10]float64{1000, 2.5, 50.25, 0, 0, 3, 1024, 1.5, 4096, 0.5}},
		{Time: 110, Host: "n1", Step: 0, Task: 0, Values: [10]float64{1000, 3.5, 60, 0, 0, 4, 2048, 1.5, 4096, 0.5}},
		{Time: 105, Host: "n2", Step: 1, Task: 2, Values: [10]float64{900, 1, 10, 0, 0, 0, 512, 0, 1024, 0}},
	}
	if err := c.PutMetrics(ctx, id, rows); err != nil {
		t.Fatal(err)
	}
	stored := api.Metrics(id)
	if len(stored) != 3 {
		t.Fatalf("%d rows stored", len(stored))
	}
	for i, r := range rows {
		s := stored[i]
		if s.Time != r.Time || s.NodeHost != r.Host || s.Step != r.Step || s.Task != r.Task || s.Values[1] != r.Values[1] || s.Values[6] != r.Values[6] {
			t.Fatalf("row %d stored as %+v, sent %+v", i, s, r)
		}
	}
	mt, err = c.MetricsMaxTimes(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, m := range mt.MaxTimes {
		got[fmt.Sprintf("%s/%d/%d", m.NodeHost, m.Step, m.Task)] = m.MaxTime
	}
	if want := map[string]int64{"n1/0/0": 110, "n2/1/2": 105}; !reflect.DeepEqual(got, want) {
		t.Fatalf("max times %v, want %v", got, want)
	}
	// Same rows again: the API refuses duplicates (whole batch).
	err = c.PutMetrics(ctx, id, rows[:1])
	if !jobbergate.IsStatus(err, 400) || !strings.Contains(err.Error(), "Failed to insert metrics") ||
		!strings.HasPrefix(err.Error(), fmt.Sprintf("Could not upload job metrics for job submission %d via the API -- HTTP 400", id)) {
		t.Fatalf("duplicate err = %v", err)
	}
}

func TestPutMetricsRowLimit(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	seedActive(api, 1)
	id := api.Submissions()[0].ID
	c := newClient(t, api, nil)
	mk := func(n int, base int64) []jobbergate.MetricRow {
		rows := make([]jobbergate.MetricRow, n)
		for i := range rows {
			rows[i] = jobbergate.MetricRow{Time: base + int64(i), Host: "n1"}
		}
		return rows
	}
	err := c.PutMetrics(context.Background(), id, mk(jobbergate.MaxMetricRowsPerRequest+1, 0))
	if !jobbergate.IsStatus(err, 400) || jobbergate.IsTransient(err) ||
		!strings.Contains(err.Error(), "The maximum number of elements has been exceeded. Maximum is 2341, received") {
		t.Fatalf("2341 rows: err = %v", err)
	}
	if n := api.Calls(http.MethodPut, agentPath+"metrics/"); n != 1 {
		t.Fatalf("%d PUTs, want 1 (a 400 is not retried)", n)
	}
	if err := c.PutMetrics(context.Background(), id, mk(jobbergate.MaxMetricRowsPerRequest, 0)); err != nil {
		t.Fatalf("2340 rows: %v", err)
	}
	if n := len(api.Metrics(id)); n != 2340 {
		t.Fatalf("%d rows stored", n)
	}
}

func TestTransportErrorsAreReported(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	tokens := newTokens(t, api, nil)
	if _, err := tokens.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var reported []error
	c, err := jobbergate.New(jobbergate.Options{BaseURL: "http://" + addr, Tokens: tokens, Retry: fastRetry,
		ReportError: func(err error) { reported = append(reported, err) }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PendingSubmissions(context.Background())
	if !jobbergate.IsTransient(err) || jobbergate.StatusCode(err) != 0 ||
		!strings.HasPrefix(err.Error(), "Failed to fetch pending job submissions -- ") ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v", err)
	}
	if len(reported) != 1 || !errors.Is(reported[0], err) {
		t.Fatalf("reported %v", reported)
	}
	var ae *jobbergate.APIError
	if !errors.As(err, &ae) || ae.Call != "PendingSubmissions" || ae.Method != http.MethodGet || ae.Path != pendingPath {
		t.Fatalf("APIError %+v", ae)
	}
}
