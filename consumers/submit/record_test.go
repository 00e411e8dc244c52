package submit

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func readRecord(t *testing.T, kv jetstream.KeyValue, id int) (Record, bool) {
	t.Helper()
	e, err := kv.Get(context.Background(), RecordKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Record{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		t.Fatal(err)
	}
	return r, true
}

// TestRecordFinishedWithTTL: after a successful report the record holds the job id, is marked
// reported and carries the per-key TTL (expiry itself is the server's job; the server raises a
// TTL below the bucket's LimitMarkerTTL to it); a redelivery acks without sbatch and without
// another API call.
func TestRecordFinishedWithTTL(t *testing.T) {
	b, topo := newBroker(t, nil)
	kv := claimsBucket(t, b, topo)
	e := newUnitEnv(t, kv, b.JS, false)
	e.h.o.DoneTTL = 90 * time.Second
	e.h.claims.doneTTL = 90 * time.Second
	sub := newSubmission("alice@x", nil)
	if dec := e.h.Handle(context.Background(), message(t, sub, 1)); !dec.IsAck() {
		t.Fatalf("first delivery: %s", dec)
	}
	r, ok := readRecord(t, kv, sub.ID)
	if !ok || r.SlurmJobID == 0 || !r.Reported || r.Holder != "me/1" {
		t.Fatalf("record %+v (present %v)", r, ok)
	}
	raw, err := b.JS.Stream(context.Background(), "KV_"+topo.SubmissionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	last, err := raw.GetLastMsgForSubject(context.Background(), "$KV."+topo.SubmissionsBucket+"."+RecordKey(sub.ID))
	if err != nil {
		t.Fatal(err)
	}
	if got := last.Header.Get(jetstream.MsgTTLHeader); got != "1m30s" {
		t.Fatalf("Nats-TTL header %q, want 1m30s; headers %v data %s", got, last.Header, last.Data)
	}
	if dec := e.h.Handle(context.Background(), message(t, sub, 2)); !dec.IsAck() {
		t.Fatalf("redelivery: %s", dec)
	}
	if e.sl.submitCount() != 1 || len(e.api.submitted) != 1 {
		t.Fatalf("redelivery ran sbatch %d times / reported %d times, want 1/1", e.sl.submitCount(), len(e.api.submitted))
	}
}

// TestConcurrentDeliveriesOneSbatch: two handlers standing for two processes (different
// holders, one bucket) get the same submission many times at once; sbatch runs once and every
// delivery ends in ack or a retry that would ack later.
func TestConcurrentDeliveriesOneSbatch(t *testing.T) {
	b, topo := newBroker(t, nil)
	kv := claimsBucket(t, b, topo)
	e1 := newUnitEnv(t, kv, b.JS, false)
	e2 := newUnitEnv(t, kv, b.JS, false)
	e2.h.o.HolderID = "other/2"
	e2.sl, e2.h.o.Slurm = e1.sl, e1.sl // one Slurm
	sub := newSubmission("alice@x", nil)
	var wg sync.WaitGroup
	for i := range 20 {
		h := e1.h
		if i%2 == 1 {
			h = e2.h
		}
		wg.Go(func() {
			dec := h.Handle(context.Background(), message(t, sub, 1))
			if dec.IsTerminate() {
				t.Errorf("delivery %d dead-lettered: %s", i, dec.Reason())
			}
		})
	}
	wg.Wait()
	if n := e1.sl.submitCount(); n != 1 {
		t.Fatalf("sbatch ran %d times, want 1", n)
	}
	// Afterwards every handler only acks.
	for _, h := range []*Handler{e1.h, e2.h} {
		if dec := h.Handle(context.Background(), message(t, sub, 2)); !dec.IsAck() {
			t.Fatalf("late delivery: %s", dec)
		}
	}
	if n := e1.sl.submitCount(); n != 1 {
		t.Fatalf("sbatch ran %d times after redeliveries, want 1", n)
	}
}

// TestReconcileReportsLowestOfSeveral: a stale claim whose submission has two marked jobs is
// reconciled to the lowest id, without sbatch.
func TestReconcileReportsLowestOfSeveral(t *testing.T) {
	b, topo := newBroker(t, nil)
	kv := claimsBucket(t, b, topo)
	e := newUnitEnv(t, kv, b.JS, false)
	sub := newSubmission("alice@x", nil)
	e.pending = sub.ID
	e.sl.marked[int64(sub.ID)] = []int64{907, 903}
	putRecord(t, kv, Record{Holder: "crashed/9", ClaimedAt: e.now.Add(-time.Hour)}, e)
	if dec := e.h.Handle(context.Background(), message(t, sub, 1)); !dec.IsAck() {
		t.Fatalf("decision %s", dec)
	}
	if e.sl.submitCount() != 0 {
		t.Fatal("sbatch ran for a reconciled submission")
	}
	if len(e.api.submitted) != 1 || *e.api.submitted[0].JobID != 903 {
		t.Fatalf("reported %+v, want job 903", e.api.submitted)
	}
	if r, _ := readRecord(t, kv, sub.ID); r.SlurmJobID != 903 {
		t.Fatalf("record %+v", r)
	}
}

// TestOwnClaimAfterFailureReconciles: this process's own claim left by a failed sbatch (socket
// timeout that did create the job) is reconciled on the next delivery, not submitted again.
func TestOwnClaimAfterFailureReconciles(t *testing.T) {
	b, topo := newBroker(t, nil)
	kv := claimsBucket(t, b, topo)
	e := newUnitEnv(t, kv, b.JS, false)
	sub := newSubmission("alice@x", nil)
	e.pending = sub.ID
	putRecord(t, kv, Record{Holder: "me/1", ClaimedAt: e.now}, e)
	e.sl.marked[int64(sub.ID)] = []int64{555}
	if dec := e.h.Handle(context.Background(), message(t, sub, 2)); !dec.IsAck() {
		t.Fatalf("decision %s", dec)
	}
	if e.sl.submitCount() != 0 || len(e.api.submitted) != 1 || *e.api.submitted[0].JobID != 555 {
		t.Fatalf("sbatch %d, reports %+v", e.sl.submitCount(), e.api.submitted)
	}
}

func TestNewHandlerRequiresOptions(t *testing.T) {
	_, err := NewHandler(Options{})
	if !errors.Is(err, ErrMissingOption) {
		t.Fatalf("err %v, want ErrMissingOption", err)
	}
}
