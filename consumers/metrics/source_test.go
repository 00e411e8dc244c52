package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// fakeLister returns a fixed list and counts calls.
type fakeLister struct {
	mu    sync.Mutex
	subs  []jobbergate.ActiveSubmission
	err   error
	calls int
}

func (f *fakeLister) ActiveSubmissions(context.Context) ([]jobbergate.ActiveSubmission, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.subs, f.err
}

func active(id int, slurmID int) jobbergate.ActiveSubmission {
	st := jobbergate.SubmissionStatus("SUBMITTED")
	a := jobbergate.ActiveSubmission{ID: id, Status: &st}
	if slurmID != 0 {
		a.SlurmJobID = &slurmID
	}
	return a
}

func TestSourceMessages(t *testing.T) {
	topo, _ := broker.NewTopology("JBG_MET")
	clk := testenv.NewClock(time.Unix(1_800_000_000, 0))
	l := &fakeLister{subs: []jobbergate.ActiveSubmission{active(1, 101), active(2, 0), active(3, 303)}}
	src := NewSource(l, topo, SourceOptions{Interval: cycleLen, Now: clk.Now})
	if src.Name() != "metrics" {
		t.Errorf("Name() = %q", src.Name())
	}
	out, err := src.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cycle := bridge.Cycle(clk.Now(), cycleLen)
	want := []Job{{1, 101}, {3, 303}}
	if len(out) != len(want) {
		t.Fatalf("%d messages, want %d (the submission without a slurm job is skipped): %+v", len(out), len(want), out)
	}
	for i, o := range out {
		var j Job
		if err := json.Unmarshal(o.Data, &j); err != nil || j != want[i] {
			t.Errorf("message %d payload %s (%v), want %+v", i, o.Data, err, want[i])
		}
		id := want[i].SubmissionID
		if o.Subject != topo.Metrics.Subject(itoa(id)) || o.MsgID != MsgID(id, cycle) ||
			o.Header.Get(broker.HeaderSubmissionID) != itoa(id) {
			t.Errorf("message %d: subject %s msg id %s header %v", i, o.Subject, o.MsgID, o.Header)
		}
	}
	// Same cycle: nothing (the list is not fetched again).
	if again, err := src.Poll(context.Background()); err != nil || len(again) != 0 || l.calls != 1 {
		t.Errorf("second poll of the cycle: %d messages, %v, %d lists; want 0, nil, 1", len(again), err, l.calls)
	}
	// Next cycle: new msg ids.
	clk.Advance(cycleLen)
	next, err := src.Poll(context.Background())
	if err != nil || len(next) != 2 || next[0].MsgID != MsgID(1, cycle+1) {
		t.Errorf("next cycle: %+v, %v", next, err)
	}
	// A failing list fails the poll and is retried in the same cycle.
	l.err = errors.New("API down")
	clk.Advance(cycleLen)
	if _, err := src.Poll(context.Background()); err == nil {
		t.Fatal("poll with a failing list succeeded")
	}
	l.err = nil
	if out, err := src.Poll(context.Background()); err != nil || len(out) != 2 {
		t.Errorf("poll after the failure in the same cycle: %d messages, %v; want 2", len(out), err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// On a real stream: a second bridge in the same cycle is deduplicated, the next cycle is
// "already queued" while the job's message still waits (not an error), and published again
// once it has been consumed.
func TestSourceDedupeOnBroker(t *testing.T) {
	e := newEnv(t, newMemSource())
	sub := addSubmission(e.api, "SUBMITTED", 77)
	addSubmission(e.api, "SUBMITTED", 0)
	addSubmission(e.api, "CREATED", 0)
	other := bridge.NewPoller(e.b.JS, cycleLen, testenv.Logger(t),
		NewSource(e.client, e.topo, SourceOptions{Interval: cycleLen, Now: e.clock.Now}))

	if st := e.cycle(t); st.Published != 1 {
		t.Fatalf("first bridge: %+v, want 1 published", st)
	}
	if st := other.Cycle(context.Background()); st.Duplicates != 1 || st.Published != 0 {
		t.Fatalf("second bridge, same cycle: %+v, want 1 duplicate", st)
	}
	if st := e.cycle(t); st.AlreadyQueued != 1 || st.Failed != 0 {
		t.Fatalf("next cycle while waiting: %+v, want 1 already queued", st)
	}
	if n := e.streamMsgs(t, e.topo.Metrics.Stream); n != 1 {
		t.Fatalf("METRICS holds %d messages, want 1", n)
	}
	e.start(t)
	testenv.Eventually(t, 30*time.Second, func() bool { return e.streamMsgs(t, e.topo.Metrics.Stream) == 0 },
		"waiting message consumed")
	st := e.runCycle(t)
	if st.Published != 1 {
		t.Errorf("cycle after consumption: %+v, want 1 published", st)
	}
	if got := e.api.Calls("GET", metricsPath+itoa(sub)); got < 2 {
		t.Errorf("%d max-times reads for submission %d, want at least 2 (one per consumed message)", got, sub)
	}
	if d := e.deadLetters(t); len(d) != 0 {
		t.Errorf("dead letters: %v", d)
	}
}

// The update source and this one, given one SharedLister, list the API once per cycle.
func TestSharedListerOncePerCycle(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1_800_000_000, 0))
	l := &fakeLister{subs: []jobbergate.ActiveSubmission{active(1, 101)}}
	shared := NewSharedLister(l, cycleLen, clk.Now)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			subs, err := shared.ActiveSubmissions(context.Background())
			if err != nil || len(subs) != 1 {
				t.Errorf("shared list: %v, %v", subs, err)
			}
		}()
	}
	wg.Wait()
	if l.calls != 1 || shared.Fetches() != 1 {
		t.Fatalf("%d API calls for 8 callers in one cycle, want 1", l.calls)
	}
	// A caller modifying its copy does not change what the others get.
	subs, _ := shared.ActiveSubmissions(context.Background())
	subs[0].ID = 999
	if again, _ := shared.ActiveSubmissions(context.Background()); again[0].ID != 1 {
		t.Errorf("cached list modified through a returned copy")
	}
	clk.Advance(cycleLen)
	l.err = errors.New("API down")
	if _, err := shared.ActiveSubmissions(context.Background()); err == nil {
		t.Fatal("failing fetch returned no error")
	}
	l.err = nil
	if _, err := shared.ActiveSubmissions(context.Background()); err != nil || l.calls != 3 {
		t.Errorf("after a failed fetch: %v, %d calls; want a new fetch (3 calls)", err, l.calls)
	}
	// Two sources over one lister in a cycle.
	topo, _ := broker.NewTopology("JBG_MET")
	clk.Advance(cycleLen)
	a := NewSource(shared, topo, SourceOptions{Interval: cycleLen, Now: clk.Now})
	b := NewSource(shared, topo, SourceOptions{Interval: cycleLen, Now: clk.Now})
	before := l.calls
	for _, s := range []bridge.Source{a, b} {
		if out, err := s.Poll(context.Background()); err != nil || len(out) != 1 {
			t.Errorf("poll: %d, %v", len(out), err)
		}
	}
	if l.calls-before != 1 {
		t.Errorf("two sources made %d API calls in one cycle, want 1", l.calls-before)
	}
}
