package jobbergatetest

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestLoadSeedExample(t *testing.T) {
	s := NewTestServer(t, Options{})
	if err := s.LoadSeedFile("testdata/seed.json"); err != nil {
		t.Fatalf("load example seed: %v", err)
	}
	subs := s.Submissions()
	if len(subs) != 3 || subs[0].ID != 1 || subs[0].Status != StatusCreated || *subs[0].ExecutionDirectory != "/tmp/jobbergate/hello-1" ||
		!reflect.DeepEqual(subs[0].SbatchArguments, []string{"--time=00:05:00"}) || subs[2].ClientID != "cluster-b" {
		t.Fatalf("seeded submissions: %+v", subs)
	}
	// The seeded client gets a token (default agent scopes) and sees its pending work,
	// and the file content is downloadable.
	status, body := postForm(t, s.TokenURL(), url.Values{"client_id": {"cluster-a"}, "client_secret": {"secret-a"}, "grant_type": {"client_credentials"}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil {
		t.Fatalf("token: %d %s", status, body)
	}
	_, env, _ := getPage(t, s.URL()+"/jobbergate/job-submissions/agent/pending", tok.AccessToken)
	if env.Total != 2 {
		t.Fatalf("cluster-a pending: %+v", env)
	}
	status, body, _ = request(t, http.MethodGet, s.URL()+"/jobbergate/job-scripts/1/upload/input/params.txt", tok.AccessToken, "", nil)
	if status != 200 || string(body) != "n=3\n" {
		t.Fatalf("seeded file: %d %q", status, body)
	}
	// New ids continue after the seeded ones.
	if id := s.AddSubmission(Submission{ClientID: "cluster-a", JobScriptID: 1}); id != 4 {
		t.Fatalf("next submission id %d, want 4", id)
	}
	if id := s.AddJobScript(JobScript{Name: "x"}); id != 2 {
		t.Fatalf("next job script id %d, want 2", id)
	}
}

func TestLoadSeedInvalid(t *testing.T) {
	script := `{"id": 1, "name": "s", "owner_email": "a@b", "files": [{"filename": "j.sh", "file_type": "ENTRYPOINT", "content": "x"}]}`
	cases := []struct {
		name, seed, wantInErr string
	}{
		{"not json", `{`, "decode JSON"},
		{"unknown field", `{"clients": [], "extra": 1}`, "unknown field"},
		{"bad file type", `{"job_scripts": [{"id": 1, "files": [{"filename": "j", "file_type": "MAIN"}]}]}`, "file_type"},
		{"dangling job script", `{"job_scripts": [` + script + `], "submissions": [{"id": 1, "client_id": "c", "job_script_id": 2}]}`, "job_script_id 2"},
		{"bad status", `{"job_scripts": [` + script + `], "submissions": [{"id": 1, "client_id": "c", "job_script_id": 1, "status": "RUNNING"}]}`, "unknown status"},
		{"bad slurm state", `{"job_scripts": [` + script + `], "submissions": [{"id": 1, "client_id": "c", "job_script_id": 1, "slurm_job_state": "NOPE"}]}`, "slurm_job_state"},
		{"client without secret", `{"clients": [{"id": "c"}]}`, "secret"},
		{"duplicate submission", `{"job_scripts": [` + script + `], "submissions": [{"id": 1, "client_id": "c", "job_script_id": 1}, {"id": 1, "client_id": "c", "job_script_id": 1}]}`, "duplicate id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{})
			err := s.LoadSeed(strings.NewReader(tc.seed))
			if !errors.Is(err, ErrInvalidSeed) || !strings.Contains(err.Error(), tc.wantInErr) {
				t.Fatalf("error %v, want ErrInvalidSeed mentioning %q", err, tc.wantInErr)
			}
			if len(s.Submissions()) != 0 || len(s.clients) != 0 || len(s.scripts) != 0 {
				t.Fatal("an invalid seed added state")
			}
		})
	}
}

func TestDevSubmissions(t *testing.T) {
	f := newFixture(t)
	id := f.addSub(StatusCreated)
	status, body := jsonRequest(t, http.MethodPost, f.agent+"/submitted", f.tokA, submittedBody(id))
	expect(t, "submitted", status, body, 202, "")

	status, body, _ = request(t, http.MethodGet, f.s.URL()+"/dev/submissions", "", "", nil)
	var list []Submission
	if status != 200 || json.Unmarshal(body, &list) != nil || len(list) != 1 {
		t.Fatalf("dev list: %d %s", status, body)
	}
	var raw []map[string]any
	_ = json.Unmarshal(body, &raw)
	for _, k := range []string{"status", "report_message", "slurm_job_id", "slurm_job_state", "slurm_job_info", "slurm_job_state_reason", "progress"} {
		if _, ok := raw[0][k]; !ok {
			t.Fatalf("dev submission lacks %q: %s", k, body)
		}
	}
	status, body, _ = request(t, http.MethodGet, f.s.URL()+"/dev/submissions/1", "", "", nil)
	var one Submission
	if status != 200 || json.Unmarshal(body, &one) != nil {
		t.Fatalf("dev one: %d %s", status, body)
	}
	want, _ := f.s.Submission(id)
	if one.Status != StatusSubmitted || *one.SlurmJobID != 77 || len(one.Progress) != 1 || !one.Progress[0].Time.Equal(want.Progress[0].Time) {
		t.Fatalf("dev submission %+v, want %+v", one, want)
	}
	status, body, _ = request(t, http.MethodGet, f.s.URL()+"/dev/submissions/99", "", "", nil)
	expect(t, "dev unknown", status, body, 404, "job_submissions entry was not found by locator=99")
}

func TestSubmissionCopiesAreIndependent(t *testing.T) {
	s := New(Options{})
	dir := "/a"
	id := s.AddSubmission(Submission{ClientID: "c", ExecutionDirectory: &dir, SbatchArguments: []string{"-n1"}})
	dir = "/changed"
	got, _ := s.Submission(id)
	got.SbatchArguments[0] = "mutated"
	again, _ := s.Submission(id)
	if *again.ExecutionDirectory != "/a" || again.SbatchArguments[0] != "-n1" || again.Status != StatusCreated {
		t.Fatalf("stored submission aliased caller memory: %+v", again)
	}
}
