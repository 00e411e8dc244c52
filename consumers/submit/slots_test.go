package submit

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// gauge counts the calls running at once (in) and the most seen (most). Safe for concurrent use.
type gauge struct{ in, most atomic.Int32 }

// enter counts one call in; the caller defers the returned leave.
func (g *gauge) enter() (leave func()) {
	n := g.in.Add(1)
	for {
		m := g.most.Load()
		if n <= m || g.most.CompareAndSwap(m, n) {
			break
		}
	}
	return func() { g.in.Add(-1) }
}

// gatedSlurm holds every sbatch until gate is closed and counts how many run at once.
type gatedSlurm struct {
	*fakeSlurm
	gate chan struct{}
	gauge
}

func (s *gatedSlurm) Submit(ctx context.Context, req slurm.SubmitRequest) (slurm.SubmitResult, error) {
	defer s.enter()()
	<-s.gate
	return s.fakeSlurm.Submit(ctx, req)
}

// countingAPI counts downloads (the preparation, done outside the Slurm slots).
type countingAPI struct {
	*fakeAPI
	downloads atomic.Int32
}

func (a *countingAPI) DownloadFile(ctx context.Context, parent int, name string, max int64) ([]byte, error) {
	a.downloads.Add(1)
	return a.fakeAPI.DownloadFile(ctx, parent, name, max)
}

func slotsHandler(t *testing.T, sl Slurm, api API, slots int, tweak ...func(*Options)) *Handler {
	t.Helper()
	b, topo := newBroker(t, nil)
	o := Options{
		API: api, Slurm: sl, Claims: claimsBucket(t, b, topo), JetStream: b.JS, HolderID: "me/1",
		Mapper: mapMapper{"alice@x": "alice"}, Logger: testenv.Logger(t), SlurmConcurrency: slots,
	}
	for _, f := range tweak {
		f(&o)
	}
	h, err := NewHandler(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// handleConcurrently hands n new submissions of alice to h at once and returns a function that
// waits for them and reports every decision that is not an ack.
func handleConcurrently(t *testing.T, h *Handler, n int) (wait func()) {
	t.Helper()
	decs := make([]consumers.Decision, n)
	var wg sync.WaitGroup
	for i := range n {
		sub := newSubmission("alice@x", strp("/home/alice"))
		wg.Go(func() { decs[i] = h.Handle(context.Background(), message(t, sub, 1)) })
	}
	return func() {
		t.Helper()
		wg.Wait()
		for i, d := range decs {
			if !d.IsAck() {
				t.Errorf("delivery %d: %s, want ack", i, d)
			}
		}
	}
}

// SlurmConcurrency bounds the sbatch calls in flight, while the other deliveries are prepared
// (their files downloaded) meanwhile; all end SUBMITTED once sbatch proceeds.
func TestSlurmSlotsBoundSbatchNotPreparation(t *testing.T) {
	sl := &gatedSlurm{fakeSlurm: newFakeSlurm(), gate: make(chan struct{})}
	api := &countingAPI{fakeAPI: &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n")}}}
	h := slotsHandler(t, sl, api, 2, func(o *Options) { o.OwnerSlurmConcurrency = -1 }) // one owner here
	const n = 6
	wait := handleConcurrently(t, h, n)
	testenv.Eventually(t, 10*time.Second, func() bool { return api.downloads.Load() == n && sl.in.Load() == 2 },
		"every submission prepared while two are in sbatch")
	if got := sl.most.Load(); got != 2 {
		t.Fatalf("%d sbatch at once, want 2 (SlurmConcurrency)", got)
	}
	close(sl.gate)
	wait()
	if got := sl.most.Load(); got != 2 || len(api.submitted) != n {
		t.Errorf("most sbatch at once %d (want 2), submitted %d (want %d)", got, len(api.submitted), n)
	}
}

// A delivery waiting for a Slurm slot when the runner begins to shut down gives up with a retry
// and runs no sbatch, unless it is the message's last delivery (a retry would dead-letter it):
// that one waits for its slot.
func TestSlurmSlotWaitEndsAtShutdown(t *testing.T) {
	sl := &gatedSlurm{fakeSlurm: newFakeSlurm(), gate: make(chan struct{})}
	api := &countingAPI{fakeAPI: &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n")}}}
	h := slotsHandler(t, sl, api, 1)
	stopping := make(chan struct{})
	ctx := consumers.WithStopping(context.Background(), stopping)
	var first consumers.Decision
	second := make(chan consumers.Decision, 1)
	var wg sync.WaitGroup
	wg.Go(func() { first = h.Handle(ctx, message(t, newSubmission("alice@x", strp("/home/alice")), 1)) })
	testenv.Eventually(t, 10*time.Second, func() bool { return sl.in.Load() == 1 }, "first delivery in sbatch")
	wg.Go(func() { second <- h.Handle(ctx, message(t, newSubmission("alice@x", strp("/home/alice")), 1)) })
	last := make(chan consumers.Decision, 1)
	wg.Go(func() { last <- h.Handle(ctx, message(t, newSubmission("alice@x", strp("/home/alice")), 10)) })
	testenv.Eventually(t, 10*time.Second, func() bool { return api.downloads.Load() == 3 }, "second and last deliveries prepared")
	close(stopping)
	select {
	case d := <-second:
		if !d.IsRetry() || !strings.Contains(d.Reason(), errStopping.Error()) {
			t.Errorf("second delivery: %s, want a retry for the shutdown", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery waiting for a slot did not give up at shutdown")
	}
	close(sl.gate) // the sbatch already running finishes and is reported, then the last delivery's
	wg.Wait()
	if d := <-last; !first.IsAck() || !d.IsAck() || sl.submitCount() != 2 {
		t.Errorf("first delivery %s, last delivery %s, %d sbatch; want ack, ack and 2", first, d, sl.submitCount())
	}
}

// stateGatedSlurm holds every state read until gate is closed and counts the reads started and
// the most running at once.
type stateGatedSlurm struct {
	*fakeSlurm
	gate    chan struct{}
	started atomic.Int32
	gauge
}

func (s *stateGatedSlurm) JobState(ctx context.Context, id int64) (slurm.JobData, error) {
	s.started.Add(1)
	defer s.enter()()
	<-s.gate
	return s.fakeSlurm.JobState(ctx, id)
}

// A slot bounds sbatch, not what follows it: while a new job's state read is held up, the other
// deliveries run their sbatch in the one slot. The state reads have as many slots of their own:
// one at a time here.
func TestSlurmSlotReleasedAfterSbatch(t *testing.T) {
	sl := &stateGatedSlurm{fakeSlurm: newFakeSlurm(), gate: make(chan struct{})}
	api := &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n")}}
	h := slotsHandler(t, sl, api, 1)
	const n = 3
	wait := handleConcurrently(t, h, n)
	testenv.Eventually(t, 10*time.Second, func() bool { return sl.submitCount() == n && sl.started.Load() == 1 },
		"every sbatch run while the first state read waits")
	time.Sleep(100 * time.Millisecond) // a second read would start now if the read slot allowed it
	if got := sl.started.Load(); got != 1 {
		t.Errorf("%d state reads started while one holds the only read slot, want 1", got)
	}
	close(sl.gate)
	wait()
	if got := sl.most.Load(); got != 1 || len(api.submitted) != n {
		t.Errorf("most state reads at once %d (want 1), submitted %d (want %d)", got, len(api.submitted), n)
	}
}

// Options.SlotWait hears of every slot obtained, with how long the wait took: a delivery that
// waited behind a held sbatch reports at least the time it was held.
func TestSlotWaitObserved(t *testing.T) {
	sl := &gatedSlurm{fakeSlurm: newFakeSlurm(), gate: make(chan struct{})}
	api := &countingAPI{fakeAPI: &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n")}}}
	var mu sync.Mutex
	var waits []time.Duration
	h := slotsHandler(t, sl, api, 1, func(o *Options) {
		o.SlotWait = func(d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			waits = append(waits, d)
		}
	})
	wait := handleConcurrently(t, h, 2)
	testenv.Eventually(t, 10*time.Second, func() bool { return api.downloads.Load() == 2 && sl.in.Load() == 1 },
		"one delivery in sbatch, the other prepared")
	const held = 300 * time.Millisecond
	time.Sleep(held) // the second delivery waits for the slot meanwhile
	close(sl.gate)
	wait()
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 2 {
		t.Fatalf("SlotWait called %d times, want 2 (one per sbatch): %v", len(waits), waits)
	}
	if longest := max(waits[0], waits[1]); longest < held/2 {
		t.Errorf("slot waits %v: the delivery behind the held sbatch reported less than %s", waits, held/2)
	}
}

// ownerGatedSlurm holds the sbatch of one owner until gate is closed (as a stopped sbatch of
// that owner would) and lets every other owner's through.
type ownerGatedSlurm struct {
	*fakeSlurm
	owner string
	gate  chan struct{}
	gauge
}

func (s *ownerGatedSlurm) Submit(ctx context.Context, req slurm.SubmitRequest) (slurm.SubmitResult, error) {
	if req.User.Name == s.owner {
		defer s.enter()()
		select {
		case <-s.gate:
		case <-ctx.Done():
			return slurm.SubmitResult{}, ctx.Err()
		}
	}
	return s.fakeSlurm.Submit(ctx, req)
}

// One owner whose sbatch hang (SIGSTOPped by their owner) holds at most its share of the Slurm
// slots (half of SlurmConcurrency by default): another owner's submission is still submitted
// meanwhile.
func TestOwnerCannotHoldEverySlurmSlot(t *testing.T) {
	sl := &ownerGatedSlurm{fakeSlurm: newFakeSlurm(), owner: "mallory", gate: make(chan struct{})}
	api := &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n")}}
	h := slotsHandler(t, sl, api, 4, func(o *Options) {
		o.Mapper = mapMapper{"alice@x": "alice", "mallory@x": "mallory"}
	})
	var wg sync.WaitGroup
	for range 6 {
		sub := newSubmission("mallory@x", strp("/home/mallory"))
		wg.Go(func() { h.Handle(context.Background(), message(t, sub, 1)) })
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return sl.in.Load() == 2 }, "mallory's sbatch holding their share")
	dec := aliceMeanwhile(t, h)
	if !dec.IsAck() || len(api.submitted) != 1 {
		t.Errorf("alice's submission: %s, %d reported; want it submitted while mallory's hang", dec, len(api.submitted))
	}
	if got := sl.most.Load(); got != 2 {
		t.Errorf("mallory held %d slots at once, want 2 (half of 4)", got)
	}
	close(sl.gate)
	wg.Wait()
}

// gatedAPI holds the downloads of job script parent (every download when parent is 0) until gate
// is closed and counts how many of them run at once.
type gatedAPI struct {
	*fakeAPI
	parent int
	gate   chan struct{}
	gauge
}

func (a *gatedAPI) DownloadFile(ctx context.Context, parent int, name string, max int64) ([]byte, error) {
	if a.parent == 0 || parent == a.parent {
		defer a.enter()()
		select {
		case <-a.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return a.fakeAPI.DownloadFile(ctx, parent, name, max)
}

// The download budget bounds the job-script bytes all deliveries hold at once: with room for
// two files of MaxFileBytes, two downloads run while the others wait, and every byte is given
// back once the submissions are done.
func TestDownloadBudgetBoundsFilesInMemory(t *testing.T) {
	const fileMax = 4096
	api := &gatedAPI{fakeAPI: &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n")}}, gate: make(chan struct{})}
	h := slotsHandler(t, newFakeSlurm(), api, 4, func(o *Options) {
		o.MaxFileBytes, o.DownloadBudget = fileMax, 2*fileMax
		o.OwnerSlurmConcurrency = -1 // one owner here: no owner's half
	})
	wait := handleConcurrently(t, h, 6)
	testenv.Eventually(t, 10*time.Second, func() bool { return api.in.Load() == 2 }, "two downloads under way")
	time.Sleep(100 * time.Millisecond) // a third would start now if the budget allowed it
	if got := api.in.Load(); got != 2 {
		t.Errorf("%d downloads at once with room for 2 files, want 2", got)
	}
	close(api.gate)
	wait()
	if got := api.most.Load(); got != 2 || len(api.submitted) != 6 {
		t.Errorf("most downloads at once %d (want 2), submitted %d (want 6)", got, len(api.submitted))
	}
	if !h.budget.TryAcquire(2 * fileMax) {
		t.Error("the download budget was not given back whole")
	}
}
