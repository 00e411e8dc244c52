package submit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// An owner whose sbatch hang holds half of the admissions at most: with SlurmConcurrency 4 (16
// deliveries in flight), mallory has 2 deliveries in sbatch, 6 more admitted, 16 (InFlight)
// waiting for admission (without a runner slot, under a Runner), and every further delivery is
// deferred at once, holding nothing; alice's submission goes through meanwhile, and mallory's
// held ones once her sbatch return.
func TestOwnerDeliveriesBoundedThenDeferred(t *testing.T) {
	sl := &ownerGatedSlurm{fakeSlurm: newFakeSlurm(), owner: "mallory", gate: make(chan struct{})}
	api := &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n")}}
	h := slotsHandler(t, sl, api, 4, func(o *Options) {
		o.Mapper = mapMapper{"alice@x": "alice", "mallory@x": "mallory"}
	})
	held := 8 + InFlight(4)
	n := held + 12
	decs := make(chan consumers.Decision, n)
	var wg sync.WaitGroup
	for range n {
		sub := newSubmission("mallory@x", strp("/home/mallory"))
		wg.Go(func() { decs <- h.Handle(context.Background(), message(t, sub, 1)) })
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return len(decs) == n-held && sl.in.Load() == 2 },
		"mallory: 2 in sbatch, 6 more admitted, InFlight(4) waiting, the rest deferred")
	for range n - held {
		if d := <-decs; !d.IsDefer() {
			t.Errorf("mallory's delivery beyond her share: %s, want defer", d)
		}
	}
	h.owners.mu.Lock()
	use := *h.owners.owners["mallory"]
	h.owners.mu.Unlock()
	if use.admitted != 8 || use.waiting != InFlight(4) || use.slurm != 2 {
		t.Errorf("mallory holds %d admitted, %d waiting, %d Slurm slots; want 8, %d, 2", use.admitted, use.waiting, use.slurm, InFlight(4))
	}
	if dec := aliceMeanwhile(t, h); !dec.IsAck() {
		t.Errorf("alice's submission while mallory's sbatch hang: %s, want ack", dec)
	}
	close(sl.gate)
	wg.Wait()
	close(decs)
	for d := range decs {
		if !d.IsAck() {
			t.Errorf("mallory's held delivery after her sbatch returned: %s, want ack", d)
		}
	}
	if len(api.submitted) != 1+held {
		t.Errorf("%d submissions reported SUBMITTED, want %d (alice's and mallory's held)", len(api.submitted), 1+held)
	}
	h.owners.mu.Lock()
	defer h.owners.mu.Unlock()
	if len(h.owners.owners) != 0 {
		t.Errorf("owner entries left after every delivery ended: %d", len(h.owners.owners))
	}
}

// One owner holds at most half of the download budget: with room for four files, mallory's
// slow downloads take two of them, and alice's download starts beside them.
func TestOwnerHalfOfDownloadBudget(t *testing.T) {
	const fileMax = 4096
	api := &gatedAPI{fakeAPI: &fakeAPI{files: map[string][]byte{
		"7/job.sh": []byte("#!/bin/sh\ntrue\n"), "8/job.sh": []byte("#!/bin/sh\ntrue\n")}},
		parent: 8, gate: make(chan struct{})}
	h := slotsHandler(t, newFakeSlurm(), api, 4, func(o *Options) {
		o.Mapper = mapMapper{"alice@x": "alice", "mallory@x": "mallory"}
		o.MaxFileBytes, o.DownloadBudget = fileMax, 4*fileMax
	})
	var wg sync.WaitGroup
	for range 4 {
		sub := newSubmission("mallory@x", strp("/home/mallory"),
			jobbergate.JobScriptFile{ParentID: 8, Filename: "job.sh", FileType: jobbergate.FileTypeEntrypoint})
		wg.Go(func() { h.Handle(context.Background(), message(t, sub, 1)) })
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return api.in.Load() == 2 }, "two of mallory's downloads under way")
	time.Sleep(100 * time.Millisecond) // a third would start now if her share allowed it
	if got := api.in.Load(); got != 2 {
		t.Errorf("mallory has %d downloads at once with a share of 2 files, want 2", got)
	}
	if dec := aliceMeanwhile(t, h); !dec.IsAck() {
		t.Errorf("alice's submission while mallory's downloads hang: %s, want ack", dec)
	}
	close(api.gate)
	wg.Wait()
	if got := api.most.Load(); got != 2 {
		t.Errorf("mallory had %d downloads at once, want 2 (half of the budget)", got)
	}
	if !h.budget.TryAcquire(4 * fileMax) {
		t.Error("the download budget was not given back whole")
	}
}

// aliceMeanwhile hands h a new submission of alice while another owner's deliveries hang, and
// gives up after 10 s (without a bound on that owner, it would wait for ever).
func aliceMeanwhile(t *testing.T, h *Handler) consumers.Decision {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.Handle(ctx, message(t, newSubmission("alice@x", strp("/home/alice")), 1))
}

// Admissions are bounded across owners too (maxTotal): deliveries that waited without a runner
// slot cannot add up to more work than the runner's slots would allow. A waiter is admitted as
// soon as any admission ends.
func TestAdmissionsBoundedAcrossOwners(t *testing.T) {
	l := newOwnerLimits(2, 3, 5, 1, 1<<20, time.Now)
	var held []*admission
	for _, owner := range []string{"alice", "alice", "bob"} {
		a, err := l.admit(context.Background(), owner)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, a)
	}
	admitted := make(chan *admission)
	go func() {
		a, err := l.admit(context.Background(), "bob")
		if err != nil {
			t.Error(err)
		}
		admitted <- a
	}()
	select {
	case <-admitted:
		t.Fatal("bob's second delivery admitted beyond the 3 admissions of all owners")
	case <-time.After(100 * time.Millisecond):
	}
	held[0].done() // one of alice's
	select {
	case a := <-admitted:
		a.done()
	case <-time.After(10 * time.Second):
		t.Fatal("bob's waiting delivery not admitted once an admission ended")
	}
	held[1].done()
	held[2].done()
	if l.total != 0 || len(l.owners) != 0 {
		t.Errorf("after every admission ended: total %d, %d owner entries", l.total, len(l.owners))
	}
}
