package update

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

func newReadHandler(t *testing.T, sl *fakeSlurm, c *clock) *Handler {
	t.Helper()
	h, err := NewHandler(Options{API: nopUpdater{}, Slurm: sl, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A job missing from a snapshot taken earlier may have been submitted since: the queue is read
// again before accounting is asked (which would call a job it does not know yet UNKNOWN). Jobs
// accounting answered for are remembered for the snapshot's life.
func TestReadRereadsQueueBeforeAskingAccounting(t *testing.T) {
	sl := newFakeSlurm()
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	h := newReadHandler(t, sl, c)
	ctx := context.Background()
	sl.set(runningJob(1))

	got, err := h.read(ctx, []int64{1}, false, -1)
	if err != nil || got[1].JobState != "RUNNING" || sl.reads != 1 {
		t.Fatalf("first read: %+v, %v, %d queue reads", got, err, sl.reads)
	}
	sl.set(runningJob(2)) // submitted after the snapshot
	got, err = h.read(ctx, []int64{1, 2}, false, -1)
	if err != nil || got[2].JobState != "RUNNING" || sl.reads != 2 || len(sl.gone) != 0 {
		t.Fatalf("new job: %+v, %v, %d queue reads, gone %v; want it read from a new queue read", got, err, sl.reads, sl.gone)
	}
	got, err = h.read(ctx, []int64{2, 3}, false, -1)
	if err != nil || got[3].JobState != slurm.StateUnknown || sl.reads != 3 || !slices.Equal(sl.gone, []int64{3}) {
		t.Fatalf("gone job: %+v, %v, %d queue reads, gone %v; want one re-read then accounting for 3", got, err, sl.reads, sl.gone)
	}
	if _, err = h.read(ctx, []int64{3}, false, -1); err != nil || sl.reads != 3 || len(sl.gone) != 1 {
		t.Fatalf("gone job again: %v, %d queue reads, gone %v; want the remembered answer", err, sl.reads, sl.gone)
	}
	c.Advance(6 * time.Second) // past the default 5 s
	if _, err = h.read(ctx, []int64{1}, false, -1); err != nil || sl.reads != 4 {
		t.Fatalf("after the snapshot aged: %v, %d queue reads, want a new read", err, sl.reads)
	}
	if _, err = h.read(ctx, []int64{1}, true, -1); err != nil || sl.reads != 5 {
		t.Fatalf("fresh read: %v, %d queue reads, want a new read", err, sl.reads)
	}
}

// A job whose object Slurm printed but could not be read is neither reported nor taken for gone.
func TestReadUnreadableJobIsNotGone(t *testing.T) {
	sl := newFakeSlurm()
	sl.set(runningJob(1))
	sl.set(runningJob(4))
	sl.unreadable = []int64{4}
	h := newReadHandler(t, sl, &clock{now: time.Unix(1_700_000_000, 0)})
	got, err := h.read(context.Background(), []int64{1, 4}, false, -1)
	var pe *slurm.JobParseError
	if !errors.As(err, &pe) || pe.JobID != 4 {
		t.Fatalf("err = %v, want the parse error of job 4", err)
	}
	if _, ok := got[4]; ok || got[1].JobState != "RUNNING" || len(sl.gone) != 0 {
		t.Fatalf("read = %+v, gone %v; want job 1 only and no accounting lookup", got, sl.gone)
	}
}

// The batches of one cycle share one read of the queue however long the cycle takes; the next
// cycle reads again.
func TestReadOncePerCycle(t *testing.T) {
	sl := newFakeSlurm()
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	h := newReadHandler(t, sl, c)
	ctx := context.Background()
	sl.set(runningJob(1))
	sl.set(runningJob(2))
	if _, err := h.read(ctx, []int64{1}, false, 7); err != nil || sl.reads != 1 {
		t.Fatalf("first batch: %v, %d reads", err, sl.reads)
	}
	c.Advance(30 * time.Second) // far past SnapshotMaxAge
	if _, err := h.read(ctx, []int64{2}, false, 7); err != nil || sl.reads != 1 {
		t.Fatalf("second batch of cycle 7: %v, %d reads; want the cycle's read reused", err, sl.reads)
	}
	if _, err := h.read(ctx, []int64{1, 2}, false, 8); err != nil || sl.reads != 2 {
		t.Fatalf("cycle 8: %v, %d reads; want a new read", err, sl.reads)
	}
	// A job missing from its own cycle's read is gone (the read came after the cycle listed
	// it): accounting is asked without reading the queue again.
	got, err := h.read(ctx, []int64{1, 9}, false, 8)
	if err != nil || sl.reads != 2 || got[9].JobState != slurm.StateUnknown || !slices.Equal(sl.gone, []int64{9}) {
		t.Fatalf("gone job in cycle 8: %+v, %v, %d reads, gone %v; want no new read and accounting for 9", got, err, sl.reads, sl.gone)
	}
}
