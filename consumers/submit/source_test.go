package submit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

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
	outs, err := NewSource(client, topo, SourceOptions{}).Poll(context.Background())
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
	outs, err := NewSource(failingLister{}, topo, SourceOptions{}).Poll(context.Background())
	if err == nil || outs != nil {
		t.Fatalf("outs %v err %v, want an error and nothing to publish", outs, err)
	}
}

// countingLister counts the listings and returns one submission.
type countingLister struct{ calls int }

func (c *countingLister) PendingSubmissions(context.Context) ([]jobbergate.PendingSubmission, error) {
	c.calls++
	return []jobbergate.PendingSubmission{{ID: 1, Name: "s", OwnerEmail: "a@x"}}, nil
}

// The source skips listing while the queue holds more than two intervals of work (at the rate
// the consumers handle it, and at least MinBacklog messages), and lists whenever the backlog is
// unknown.
func TestSourceBackPressure(t *testing.T) {
	topo, _ := broker.NewTopology("JBG_BP")
	type poll struct {
		waiting, done uint64
		err           error
		wantList      bool
	}
	for _, tc := range []struct {
		name  string
		polls []poll // one second apart, interval 1 s, MinBacklog 64
	}{
		{"small queue always listed", []poll{{10, 0, nil, true}, {10, 0, nil, true}}},
		{"first poll of a big queue is skipped when nothing is handled", []poll{{500, 0, nil, false}, {500, 0, nil, false}}},
		{"big queue, fast consumers: listed once the backlog is under two intervals of work",
			[]poll{{1000, 0, nil, false}, {800, 200, nil, false}, {600, 500, nil, false}, {300, 700, nil, true}}},
		{"backlog unknown: listed", []poll{{0, 0, errors.New("no consumer info"), true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := 0
			now := time.Unix(1_700_000_000, 0)
			lister := &countingLister{}
			src := NewSource(lister, topo, SourceOptions{
				Backlog: func(context.Context) (uint64, uint64, error) {
					p := tc.polls[i]
					return p.waiting, p.done, p.err
				},
				Interval: time.Second,
				Now:      func() time.Time { return now },
			})
			for ; i < len(tc.polls); i++ {
				before := lister.calls
				outs, err := src.Poll(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				listed := lister.calls > before
				if listed != tc.polls[i].wantList || listed != (len(outs) == 1) {
					t.Errorf("poll %d (%+v): listed %v with %d messages, want listed %v", i, tc.polls[i], listed, len(outs), tc.polls[i].wantList)
				}
				now = now.Add(time.Second)
			}
		})
	}
}
