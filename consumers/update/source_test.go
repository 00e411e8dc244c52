package update

import (
	"context"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// Two bridges polling the same cycle publish each submission once; the next cycle publishes
// again once the previous message was handled; while a message waits, a new one is "already
// queued", not a failure. Every page of the active list is read.
func TestSourceCyclesAndDedupe(t *testing.T) {
	sl := newFakeSlurm()
	e := newEnv(t, sl, nil)
	for i := range 250 { // three pages of 100
		sl.set(runningJob(int64(100 + i)))
		addActive(e, "SUBMITTED", ptr2(100+i))
	}
	addActive(e, "CANCELLED", nil)
	second := bridge.NewPoller(e.b.JS, cycleLen, testenv.Logger(t),
		NewSource(e.client, e.topo, SourceOptions{Interval: cycleLen, Now: e.clock.Now}))

	st := e.cycle(t)
	if st.Published != 251 {
		t.Fatalf("first bridge: %+v, want 251 published", st)
	}
	st2 := second.Cycle(context.Background())
	if st2.Published != 0 || st2.Duplicates+st2.AlreadyQueued != 251 || st2.Failed != 0 {
		t.Fatalf("second bridge, same cycle: %+v, want all 251 deduplicated", st2)
	}
	if n := e.streamMsgs(t, e.topo.Update.Stream); n != 251 {
		t.Fatalf("UPDATE holds %d messages, want 251", n)
	}
	// Same cycle again on the first bridge: the source does not even list the API.
	if st := e.poller.Cycle(context.Background()); st != (bridge.CycleStats{}) {
		t.Fatalf("repeat poll in the same cycle: %+v, want nothing", st)
	}
	// Next cycle while the messages still wait: rejected per subject, not failed.
	st = e.cycle(t)
	if st.AlreadyQueued != 251 || st.Failed != 0 {
		t.Fatalf("next cycle with messages waiting: %+v", st)
	}
	e.start(t)
	e.drain(t)
	st = e.cycle(t)
	if st.Published != 250 {
		// The CANCELLED one became ABORTED; the 250 running ones are published again.
		t.Fatalf("after handling: %+v, want the 250 running submissions published again", st)
	}
}
