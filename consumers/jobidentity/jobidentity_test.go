package jobidentity_test

import (
	"context"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker/brokertest"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/jobidentity"
)

func TestStoreRoundTrip(t *testing.T) {
	b, topo := brokertest.Start(t, brokertest.Name("jobidentity-test"))
	ctx := context.Background()
	kv, err := b.JS.KeyValue(ctx, topo.JobsBucket)
	if err != nil {
		t.Fatal(err)
	}
	s := jobidentity.Store{KV: kv}
	if _, ok, err := s.Get(ctx, 7); ok || err != nil {
		t.Fatalf("Get of a submission without record: ok=%v err=%v", ok, err)
	}
	want := jobidentity.Record{SubmissionID: 7, SlurmJobID: 42, Owner: "alice", OwnerUID: 1001,
		Marker: "jobbergate-submission:7:0123456789abcdef0123456789abcdef"}
	if err := s.Put(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, 7)
	if err != nil || !ok || got != want {
		t.Fatalf("Get = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if id := got.Identity(); id.Owner.Name != "alice" || id.Owner.UID != 1001 || id.Marker != want.Marker || !id.Since.IsZero() {
		t.Errorf("Identity() = %+v", id)
	}
	if _, err := kv.Put(ctx, jobidentity.Key(8), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(ctx, 8); ok || err == nil {
		t.Errorf("an unreadable record: ok=%v err=%v; want an error", ok, err)
	}
}
