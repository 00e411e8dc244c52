package jobbergatetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"
)

type envelope struct {
	Items []map[string]any `json:"items"`
	Total int              `json:"total"`
	Page  int              `json:"page"`
	Size  int              `json:"size"`
	Pages int              `json:"pages"`
}

func getPage(t *testing.T, url, token string) (int, envelope, []byte) {
	t.Helper()
	status, body, _ := request(t, http.MethodGet, url, token, "", nil)
	var env envelope
	if status == 200 {
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("envelope: %v (%s)", err, body)
		}
	}
	return status, env, body
}

func TestPendingPagination(t *testing.T) {
	f := newFixture(t)
	status, env, _ := getPage(t, f.agent+"/pending", f.tokA)
	if status != 200 || env.Total != 0 || env.Pages != 0 || env.Page != 1 || env.Size != 50 || env.Items == nil || len(env.Items) != 0 {
		t.Fatalf("empty pending: %d %+v", status, env)
	}
	for range 7 {
		f.addSub(StatusCreated)
	}
	f.addSub(StatusSubmitted)                                                 // not pending
	f.addSub(StatusCreated, func(s *Submission) { s.ClientID = "cluster-b" }) // other cluster
	cases := []struct {
		query                string
		wantPage, wantSize   int
		wantPages, wantItems int
		wantFirstID          float64
	}{
		{"", 1, 50, 1, 7, 1},
		{"?page=1&size=3", 1, 3, 3, 3, 1},
		{"?page=3&size=3", 3, 3, 3, 1, 7},
		{"?page=4&size=3", 4, 3, 3, 0, 0},
		{"?page=2&size=7", 2, 7, 1, 0, 0},
		{"?size=100", 1, 100, 1, 7, 1},
		{"?size=1&page=7", 7, 1, 7, 1, 7},
	}
	for _, tc := range cases {
		status, env, body := getPage(t, f.agent+"/pending"+tc.query, f.tokA)
		if status != 200 {
			t.Fatalf("%s: status %d %s", tc.query, status, body)
		}
		if env.Total != 7 || env.Page != tc.wantPage || env.Size != tc.wantSize || env.Pages != tc.wantPages || len(env.Items) != tc.wantItems {
			t.Fatalf("%s: got total=%d page=%d size=%d pages=%d items=%d", tc.query, env.Total, env.Page, env.Size, env.Pages, len(env.Items))
		}
		if tc.wantItems > 0 && env.Items[0]["id"] != tc.wantFirstID {
			t.Fatalf("%s: first id %v, want %v", tc.query, env.Items[0]["id"], tc.wantFirstID)
		}
	}
	for _, q := range []string{"?size=0", "?size=101", "?page=0", "?page=-1", "?page=x", "?size=1.5"} {
		status, _, body := getPage(t, f.agent+"/pending"+q, f.tokA)
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("%s: status %d, want 422 (%s)", q, status, body)
		}
	}
	// cluster-b sees only its own.
	_, env, _ = getPage(t, f.agent+"/pending", f.tokB)
	if env.Total != 1 || env.Items[0]["id"] != float64(9) {
		t.Fatalf("cluster-b pending: %+v", env)
	}
}

func TestPendingItemShape(t *testing.T) {
	f := newFixture(t)
	full := f.addSub(StatusCreated, func(s *Submission) {
		s.ExecutionDirectory = ptr("/home/alice/run")
		s.SbatchArguments = []string{"--time=5", "--mem=1G"}
	})
	bare := f.addSub(StatusCreated)
	_, env, _ := getPage(t, f.agent+"/pending", f.tokA)
	if len(env.Items) != 2 {
		t.Fatalf("items: %+v", env.Items)
	}
	got := env.Items[0]
	if got["id"] != float64(full) || got["execution_directory"] != "/home/alice/run" ||
		!reflect.DeepEqual(got["sbatch_arguments"], []any{"--time=5", "--mem=1G"}) ||
		!reflect.DeepEqual(got["execution_parameters"], map[string]any{}) {
		t.Fatalf("full item: %v", got)
	}
	js := got["job_script"].(map[string]any)
	if js["id"] != float64(f.scriptID) || js["name"] != "hello" || js["is_archived"] != false {
		t.Fatalf("job_script: %v", js)
	}
	files := js["files"].([]any)
	if len(files) != 2 {
		t.Fatalf("files: %v", files)
	}
	f0 := files[0].(map[string]any)
	if f0["parent_id"] != float64(f.scriptID) || f0["filename"] != "job.sh" || f0["file_type"] != "ENTRYPOINT" || f0["created_at"] == nil {
		t.Fatalf("file: %v", f0)
	}
	// Nulls are omitted, not sent as null.
	b := env.Items[1]
	if b["id"] != float64(bare) {
		t.Fatalf("bare item id %v", b["id"])
	}
	for _, k := range []string{"execution_directory", "sbatch_arguments"} {
		if _, present := b[k]; present {
			t.Fatalf("null %s present in %v", k, b)
		}
	}
	// A submission whose job script is gone breaks the listing (500), as in the reference.
	f.addSub(StatusCreated, func(s *Submission) { s.JobScriptID = 999 })
	status, _, _ := getPage(t, f.agent+"/pending", f.tokA)
	if status != http.StatusInternalServerError {
		t.Fatalf("missing job script: status %d, want 500", status)
	}
}

func TestActive(t *testing.T) {
	f := newFixture(t)
	f.addSub(StatusCreated)
	sub := f.addSub(StatusSubmitted, func(s *Submission) { s.SlurmJobID = ptr(42) })
	canc := f.addSub(StatusCancelled)
	f.addSub(StatusDone)
	f.addSub(StatusSubmitted, func(s *Submission) { s.ClientID = "cluster-b" })
	status, env, body := getPage(t, f.agent+"/active", f.tokA)
	if status != 200 || env.Total != 2 || env.Pages != 1 {
		t.Fatalf("active: %d %s", status, body)
	}
	want := []map[string]any{
		{"id": float64(sub), "name": "job", "status": "SUBMITTED", "slurm_job_id": float64(42)},
		{"id": float64(canc), "name": "job", "status": "CANCELLED", "slurm_job_id": nil},
	}
	if !reflect.DeepEqual(env.Items, want) {
		t.Fatalf("active items %v, want %v", env.Items, want)
	}
	if status, _, _ := getPage(t, f.agent+"/active?size=101", f.tokA); status != 422 {
		t.Fatalf("size=101: %d", status)
	}
}

func submittedBody(id int) map[string]any {
	return map[string]any{"id": id, "slurm_job_id": 77, "slurm_job_state": "PENDING",
		"slurm_job_info": `{"job_id": 77}`, "slurm_job_state_reason": "Priority"}
}

func TestSubmitted(t *testing.T) {
	f := newFixture(t)
	url := f.agent + "/submitted"
	created := f.addSub(StatusCreated)
	status, body := jsonRequest(t, http.MethodPost, url, f.tokA, submittedBody(created))
	if status != http.StatusAccepted || len(body) != 0 {
		t.Fatalf("submitted: %d %s", status, body)
	}
	got, _ := f.s.Submission(created)
	if got.Status != StatusSubmitted || *got.SlurmJobID != 77 || *got.SlurmJobState != "PENDING" ||
		*got.SlurmJobInfo != `{"job_id": 77}` || *got.ReportMessage != "Priority" || *got.SlurmJobStateReason != "Priority" {
		t.Fatalf("after submitted: %+v", got)
	}
	if len(got.Progress) != 1 || got.Progress[0].Status != StatusSubmitted || *got.Progress[0].SlurmJobState != "PENDING" ||
		*got.Progress[0].Message != "Priority" || !got.Progress[0].Time.Equal(f.clock.Now()) {
		t.Fatalf("progress: %+v", got.Progress)
	}

	// A submission cancelled by its user before the agent reported stays CANCELLED.
	cancelled := f.addSub(StatusCancelled)
	status, body = jsonRequest(t, http.MethodPost, url, f.tokA, submittedBody(cancelled))
	expect(t, "cancelled", status, body, 202, "")
	if got, _ := f.s.Submission(cancelled); got.Status != StatusCancelled || *got.SlurmJobID != 77 {
		t.Fatalf("cancelled after submitted: %+v", got)
	}

	rejected := f.addSub(StatusRejected)
	other := f.addSub(StatusCreated, func(s *Submission) { s.ClientID = "cluster-b" })
	noClient := f.s.MintToken(TokenClaims{Permissions: AgentScopes})
	readOnly := f.s.MintToken(TokenClaims{ClientID: "cluster-a", Permissions: []string{ScopeSubmissionsRead}})
	noReason := submittedBody(created)
	noReason["slurm_job_state_reason"] = nil
	cases := []struct {
		name       string
		token      string
		body       any
		wantStatus int
		wantDetail string
	}{
		{"rejected to submitted", f.tokA, submittedBody(rejected), 400, "Only CREATED Job Submissions can be marked as SUBMITTED"},
		{"already submitted", f.tokA, submittedBody(created), 400, "Only CREATED Job Submissions can be marked as SUBMITTED"},
		{"other cluster", f.tokA, submittedBody(other), 403, "Mismatch on attribute(s): client_id"},
		{"unknown id", f.tokA, submittedBody(12345), 404, "job_submissions entry was not found by locator=12345"},
		{"no client id", noClient, submittedBody(created), 400, "Checked expressions failed: Access token does not contain\n  1: client_id"},
		{"read scope only", readOnly, submittedBody(created), 403, ""},
		{"bad state", f.tokA, map[string]any{"id": created, "slurm_job_id": 1, "slurm_job_state": "BOGUS", "slurm_job_info": "{}"}, 422, ""},
		{"missing info", f.tokA, map[string]any{"id": created, "slurm_job_id": 1, "slurm_job_state": "RUNNING"}, 422, ""},
		{"negative job id", f.tokA, map[string]any{"id": created, "slurm_job_id": -1, "slurm_job_state": "RUNNING", "slurm_job_info": "{}"}, 422, ""},
		{"null job id", f.tokA, map[string]any{"id": created, "slurm_job_id": nil, "slurm_job_state": "RUNNING", "slurm_job_info": "{}"}, 422, ""},
		{"not an object", f.tokA, []int{1}, 422, ""},
	}
	for _, tc := range cases {
		status, body := jsonRequest(t, http.MethodPost, url, tc.token, tc.body)
		expect(t, tc.name, status, body, tc.wantStatus, tc.wantDetail)
	}
	// Invalid JSON.
	status, body, _ = request(t, http.MethodPost, url, f.tokA, "application/json", []byte("{"))
	expect(t, "invalid json", status, body, 422, "")
	// Refused requests changed nothing.
	if got, _ := f.s.Submission(rejected); got.Status != StatusRejected || got.SlurmJobID != nil {
		t.Fatalf("rejected submission changed: %+v", got)
	}
	if got, _ := f.s.Submission(other); got.Status != StatusCreated {
		t.Fatalf("other cluster's submission changed: %+v", got)
	}
	// Explicit null reason is accepted.
	fresh := f.addSub(StatusCreated)
	noReason["id"] = fresh
	status, body = jsonRequest(t, http.MethodPost, url, f.tokA, noReason)
	expect(t, "null reason", status, body, 202, "")
	if got, _ := f.s.Submission(fresh); got.ReportMessage != nil || got.Status != StatusSubmitted {
		t.Fatalf("null reason: %+v", got)
	}
}

func TestRejected(t *testing.T) {
	f := newFixture(t)
	url := f.agent + "/rejected"
	created := f.addSub(StatusCreated)
	status, body := jsonRequest(t, http.MethodPost, url, f.tokA, map[string]any{"id": created, "report_message": "no such user"})
	expect(t, "rejected", status, body, 202, "")
	got, _ := f.s.Submission(created)
	if got.Status != StatusRejected || *got.ReportMessage != "no such user" || len(got.Progress) != 1 ||
		got.Progress[0].Status != StatusRejected || *got.Progress[0].Message != "no such user" {
		t.Fatalf("after rejected: %+v", got)
	}
	for _, st := range []string{StatusSubmitted, StatusRejected, StatusCancelled, StatusDone, StatusAborted} {
		id := f.addSub(st)
		status, body := jsonRequest(t, http.MethodPost, url, f.tokA, map[string]any{"id": id, "report_message": "x"})
		expect(t, "reject "+st, status, body, 400, "Only CREATED Job Submissions can be marked as REJECTED")
	}
	other := f.addSub(StatusCreated, func(s *Submission) { s.ClientID = "cluster-b" })
	status, body = jsonRequest(t, http.MethodPost, url, f.tokA, map[string]any{"id": other, "report_message": "x"})
	expect(t, "other cluster", status, body, 403, "Mismatch on attribute(s): client_id")
	status, body = jsonRequest(t, http.MethodPost, url, f.tokA, map[string]any{"id": 999, "report_message": "x"})
	expect(t, "unknown", status, body, 404, "job_submissions entry was not found by locator=999")
	status, body = jsonRequest(t, http.MethodPost, url, f.tokA, map[string]any{"id": created})
	expect(t, "missing message", status, body, 422, "")
}

func updateBody(jobID any, state, reason string) map[string]any {
	b := map[string]any{"slurm_job_id": jobID, "slurm_job_state": state, "slurm_job_info": "{}"}
	if reason != "" {
		b["slurm_job_state_reason"] = reason
	}
	return b
}

func TestAgentUpdateMapping(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		state, from, wantStatus string
		wantReport              bool
	}{
		{"RUNNING", StatusSubmitted, StatusSubmitted, false},
		{"PENDING", StatusSubmitted, StatusSubmitted, false},
		{"OUT_OF_MEMORY", StatusSubmitted, StatusSubmitted, false},
		{"COMPLETING", StatusSubmitted, StatusSubmitted, false},
		{"COMPLETED", StatusSubmitted, StatusDone, false},
		{"RUNNING", StatusCancelled, StatusCancelled, false},
		{"COMPLETED", StatusCancelled, StatusDone, false},
	}
	for _, s := range []string{"BOOT_FAIL", "CANCELLED", "DEADLINE", "FAILED", "NODE_FAIL", "PREEMPTED", "SPECIAL_EXIT", "TIMEOUT", "UNKNOWN"} {
		cases = append(cases, struct {
			state, from, wantStatus string
			wantReport              bool
		}{s, StatusSubmitted, StatusAborted, true})
	}
	for _, tc := range cases {
		t.Run(tc.from+"/"+tc.state, func(t *testing.T) {
			id := f.addSub(tc.from, func(s *Submission) { s.SlurmJobID = ptr(5); s.SlurmJobState = ptr("PENDING") })
			status, body := jsonRequest(t, http.MethodPut, fmt.Sprintf("%s/%d", f.agent, id), f.tokA, updateBody(5, tc.state, "why"))
			expect(t, "update", status, body, 202, "")
			got, _ := f.s.Submission(id)
			if got.Status != tc.wantStatus || *got.SlurmJobState != tc.state || *got.SlurmJobStateReason != "why" {
				t.Fatalf("got %+v, want status %s", got, tc.wantStatus)
			}
			if tc.wantReport != (got.ReportMessage != nil && *got.ReportMessage == "why") {
				t.Fatalf("report_message %v, want set=%v", got.ReportMessage, tc.wantReport)
			}
			wantProgress := 1
			if tc.state == "PENDING" {
				wantProgress = 0 // state unchanged
			}
			if len(got.Progress) != wantProgress {
				t.Fatalf("progress %+v, want %d entries", got.Progress, wantProgress)
			}
		})
	}
}

func TestAgentUpdateRules(t *testing.T) {
	f := newFixture(t)
	sub := f.addSub(StatusSubmitted, func(s *Submission) { s.SlurmJobID = ptr(10) })
	url := fmt.Sprintf("%s/%d", f.agent, sub)
	// Progress only when the state changes.
	for _, st := range []string{"PENDING", "PENDING", "RUNNING", "RUNNING", "RUNNING"} {
		status, body := jsonRequest(t, http.MethodPut, url, f.tokA, updateBody(10, st, ""))
		expect(t, "update "+st, status, body, 202, "")
	}
	got, _ := f.s.Submission(sub)
	if len(got.Progress) != 2 || *got.Progress[0].SlurmJobState != "PENDING" || *got.Progress[1].SlurmJobState != "RUNNING" {
		t.Fatalf("progress: %+v", got.Progress)
	}

	nullID := f.addSub(StatusSubmitted)
	done := f.addSub(StatusDone, func(s *Submission) { s.SlurmJobID = ptr(10) })
	rejected := f.addSub(StatusRejected)
	other := f.addSub(StatusSubmitted, func(s *Submission) { s.ClientID = "cluster-b"; s.SlurmJobID = ptr(10) })
	cases := []struct {
		name       string
		id         any
		body       any
		wantStatus int
		wantDetail string
	}{
		{"slurm id mismatch", sub, updateBody(11, "RUNNING", ""), 409,
			fmt.Sprintf("Update slurm job id does not match the job id on record for job submission job_submission_id=%d", sub)},
		{"null vs stored id", sub, updateBody(nil, "RUNNING", ""), 409,
			fmt.Sprintf("Update slurm job id does not match the job id on record for job submission job_submission_id=%d", sub)},
		{"stored null vs id", nullID, updateBody(3, "RUNNING", ""), 409,
			fmt.Sprintf("Update slurm job id does not match the job id on record for job submission job_submission_id=%d", nullID)},
		{"null equals null", nullID, updateBody(nil, "RUNNING", ""), 202, ""},
		{"done", done, updateBody(10, "RUNNING", ""), 400, "Only SUBMITTED or CANCELLED jobs may be updated by the agent, got DONE"},
		{"rejected", rejected, updateBody(nil, "RUNNING", ""), 400, "Only SUBMITTED or CANCELLED jobs may be updated by the agent, got REJECTED"},
		{"other cluster", other, updateBody(10, "RUNNING", ""), 403, "Mismatch on attribute(s): client_id"},
		{"unknown", 4242, updateBody(10, "RUNNING", ""), 404, "job_submissions entry was not found by locator=4242"},
		{"bad state", sub, updateBody(10, "EXPLODED", ""), 422, ""},
		{"list state", sub, map[string]any{"slurm_job_id": 10, "slurm_job_state": []string{"RUNNING"}, "slurm_job_info": "{}"}, 422, ""},
		{"missing info", sub, map[string]any{"slurm_job_id": 10, "slurm_job_state": "RUNNING"}, 422, ""},
		{"non-int path", "abc", updateBody(10, "RUNNING", ""), 422, ""},
	}
	for _, tc := range cases {
		status, body := jsonRequest(t, http.MethodPut, fmt.Sprintf("%s/%v", f.agent, tc.id), f.tokA, tc.body)
		expect(t, tc.name, status, body, tc.wantStatus, tc.wantDetail)
	}
	if got, _ := f.s.Submission(done); got.Status != StatusDone || got.SlurmJobState != nil {
		t.Fatalf("done submission changed: %+v", got)
	}
}

func TestFileDownload(t *testing.T) {
	f := newFixture(t)
	status, body, hdr := request(t, http.MethodGet, fmt.Sprintf("%s/%d/upload/job.sh", f.scripts, f.scriptID), f.tokA, "", nil)
	if status != 200 || string(body) != "#!/bin/bash\nhostname\n" || hdr.Get("filename") != "job.sh" ||
		hdr.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("download: %d %q %v", status, body, hdr)
	}
	// Nested paths and other clusters' tokens (no ownership check).
	status, body, hdr = request(t, http.MethodGet, fmt.Sprintf("%s/%d/upload/data/in.txt", f.scripts, f.scriptID), f.tokB, "", nil)
	if status != 200 || string(body) != "x=1\n" || hdr.Get("filename") != "data/in.txt" {
		t.Fatalf("nested download: %d %q %v", status, body, hdr)
	}
	status, body, _ = request(t, http.MethodGet, fmt.Sprintf("%s/%d/upload/missing.sh", f.scripts, f.scriptID), f.tokA, "", nil)
	expect(t, "missing file", status, body, 404, "")
	status, body, _ = request(t, http.MethodGet, f.scripts+"/77/upload/job.sh", f.tokA, "", nil)
	expect(t, "missing script", status, body, 404, "job_scripts entry was not found by locator=77")
	noScripts := f.s.MintToken(TokenClaims{ClientID: "cluster-a", Permissions: []string{ScopeSubmissionsRead}})
	status, body, _ = request(t, http.MethodGet, fmt.Sprintf("%s/%d/upload/job.sh", f.scripts, f.scriptID), noScripts, "", nil)
	expect(t, "no scripts scope", status, body, 403, "")
	noClient := f.s.MintToken(TokenClaims{Permissions: []string{ScopeScriptsRead}})
	status, _, _ = request(t, http.MethodGet, fmt.Sprintf("%s/%d/upload/job.sh", f.scripts, f.scriptID), noClient, "", nil)
	if status != 200 {
		t.Fatalf("download without client id: %d, want 200 (no client-id check)", status)
	}
}
