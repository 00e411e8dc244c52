package submit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// TestSourceAllPages: every CREATED submission of every page becomes one message with the
// submission's JSON, its id header, its subject and a stable Msg-Id; other statuses and other
// clusters are not listed.
func TestSourceAllPages(t *testing.T) {
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	js := api.AddJobScript(jobbergatetest.JobScript{Name: "js", OwnerEmail: "a@x", Files: []jobbergatetest.File{
		{Filename: "job.sh", FileType: jobbergatetest.FileTypeEntrypoint, Content: []byte("x")}}})
	want := map[int]bool{}
	for i := range 25 {
		id := api.AddSubmission(jobbergatetest.Submission{Name: fmt.Sprint(i), OwnerEmail: "a@x", ClientID: clusterID,
			JobScriptID: js, SbatchArguments: []string{"--hold"}})
		want[id] = true
	}
	api.AddSubmission(jobbergatetest.Submission{Name: "done", OwnerEmail: "a@x", ClientID: clusterID, JobScriptID: js, Status: jobbergatetest.StatusSubmitted})
	api.AddSubmission(jobbergatetest.Submission{Name: "other", OwnerEmail: "a@x", ClientID: "other-cluster", JobScriptID: js})
	tok := api.MintToken(jobbergatetest.TokenClaims{ClientID: clusterID, Permissions: jobbergatetest.AgentScopes})
	client, err := jobbergate.New(jobbergate.Options{BaseURL: api.URL(), Tokens: staticToken(tok), PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	topo, _ := broker.NewTopology("JBG_SRC")
	outs, err := NewSource(client, topo).Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 25 {
		t.Fatalf("%d messages, want 25", len(outs))
	}
	if n := api.Calls("GET", "/jobbergate/job-submissions/agent/pending"); n != 3 {
		t.Errorf("%d page requests, want 3", n)
	}
	for _, o := range outs {
		var s jobbergate.PendingSubmission
		if err := json.Unmarshal(o.Data, &s); err != nil {
			t.Fatalf("payload %s: %v", o.Data, err)
		}
		if !want[s.ID] || o.Subject != topo.Submit.Subject(fmt.Sprint(s.ID)) || o.MsgID != MsgID(s.ID) ||
			o.Header.Get(broker.HeaderSubmissionID) != fmt.Sprint(s.ID) || len(s.JobScript.Files) != 1 || s.SbatchArguments[0] != "--hold" {
			t.Fatalf("message %+v (payload %+v)", o, s)
		}
		delete(want, s.ID)
	}
}

type failingLister struct{}

func (failingLister) PendingSubmissions(context.Context) ([]jobbergate.PendingSubmission, error) {
	return nil, errors.New("boom")
}

func TestSourceListFailure(t *testing.T) {
	topo, _ := broker.NewTopology("JBG_SRC")
	outs, err := NewSource(failingLister{}, topo).Poll(context.Background())
	if err == nil || outs != nil {
		t.Fatalf("outs %v err %v, want an error and nothing to publish", outs, err)
	}
}
