package submit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

var nextSubID atomic.Int64

func newSubmission(email string, dir *string, files ...jobbergate.JobScriptFile) jobbergate.PendingSubmission {
	id := int(nextSubID.Add(1))
	if files == nil {
		files = []jobbergate.JobScriptFile{{ParentID: 7, Filename: "job.sh", FileType: jobbergate.FileTypeEntrypoint}}
	}
	return jobbergate.PendingSubmission{ID: id, Name: "s", OwnerEmail: email, ExecutionDirectory: dir,
		SbatchArguments: []string{"--hold"}, JobScript: jobbergate.JobScript{Files: files}}
}

func message(t testing.TB, sub jobbergate.PendingSubmission, delivered uint64) *consumers.Message {
	t.Helper()
	b, err := json.Marshal(sub)
	if err != nil {
		t.Fatal(err)
	}
	h := nats.Header{}
	h.Set(broker.HeaderSubmissionID, fmt.Sprint(sub.ID))
	return &consumers.Message{Subject: "x", Data: b, Header: h, NumDelivered: delivered, MaxDeliver: 10}
}

func strp(s string) *string { return &s }

type unitEnv struct {
	kv  jetstream.KeyValue
	js  jetstream.JetStream
	api *fakeAPI
	sl  *fakeSlurm
	h   *Handler
	now time.Time
	// pending is the submission under test (putRecord writes its record).
	pending int
}

func newUnitEnv(t *testing.T, kv jetstream.KeyValue, js jetstream.JetStream, write bool) *unitEnv {
	t.Helper()
	e := &unitEnv{kv: kv, js: js, sl: newFakeSlurm(), now: time.Now(),
		api: &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n"), "7/data.txt": []byte("d")}}}
	h, err := NewHandler(Options{
		API: e.api, Slurm: e.sl, Claims: kv, JetStream: js, HolderID: "me/1", WriteSubmissionFiles: write,
		Mapper: mapMapper{"alice@x": "alice", "root@x": "root", "ghost@x": "ghost"},
		Logger: testenv.Logger(t), ClaimStaleAfter: time.Minute, RecordBackoff: time.Millisecond,
		Now:        func() time.Time { return e.now },
		HolderGone: func(holder, _ string) bool { return holder == "gone/3" },
		// One slot: every path that takes one must give it back (checked at cleanup), or the
		// next delivery of the test would wait for ever.
		SlurmConcurrency: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := len(h.slurmSlots); n != 0 {
			t.Errorf("%d Slurm slot(s) still held after the test", n)
		}
	})
	e.h = h
	return e
}

func kind(d consumers.Decision) string {
	switch {
	case d.IsAck():
		return "ack"
	case d.IsRetry():
		return "retry"
	default:
		return "terminate"
	}
}

// TestDecisions is the decision mapping of the handler: which problems reject, which retry,
// which dead-letter, and that none of the rejecting or retrying ones runs sbatch twice.
func TestDecisions(t *testing.T) {
	b, topo := newBroker(t, nil)
	kv := claimsBucket(t, b, topo)
	entry := jobbergate.JobScriptFile{ParentID: 7, Filename: "job.sh", FileType: jobbergate.FileTypeEntrypoint}
	support := jobbergate.JobScriptFile{ParentID: 7, Filename: "data.txt", FileType: jobbergate.FileTypeSupport}
	missing := jobbergate.JobScriptFile{ParentID: 7, Filename: "gone.txt", FileType: jobbergate.FileTypeSupport}
	tests := []struct {
		name      string
		sub       jobbergate.PendingSubmission
		write     bool
		setup     func(e *unitEnv)
		delivered uint64
		want      string // ack, retry, terminate
		rejected  string // substring of the rejection sent; "" = none
		submits   int
		submitted int
	}{
		{name: "submitted", sub: newSubmission("alice@x", nil), want: "ack", submits: 1, submitted: 1},
		{name: "submitted with files", sub: newSubmission("alice@x", strp("/work"), entry, support), write: true,
			want: "ack", submits: 1, submitted: 1},
		{name: "unmapped email", sub: newSubmission("nobody@x", nil), want: "ack",
			rejected: "Username could not be resolved from owner email: no user with mail nobody@x"},
		{name: "mapper outage", sub: newSubmission("transient@x", nil), want: "retry"},
		{name: "mapper outage on last attempt", sub: newSubmission("transient@x", nil), delivered: 10, want: "terminate"},
		{name: "relative dir", sub: newSubmission("alice@x", strp("rel/dir")), want: "ack",
			rejected: "Execution directory is invalid -- Execution directory must be an absolute path"},
		{name: "missing dir", sub: newSubmission("alice@x", strp("/missing/x")), want: "ack",
			rejected: "Execution directory is invalid -- Execution directory does not exist or is not writable by the user"},
		{name: "unknown local user", sub: newSubmission("ghost@x", nil), want: "ack", rejected: "unknown local user"},
		{name: "root", sub: newSubmission("root@x", nil), want: "ack", rejected: "refusing to run commands as root"},
		{name: "no entrypoint", sub: newSubmission("alice@x", nil, support), write: true, want: "ack",
			rejected: "Error processing job-script files -- Could not find an executable script in retrieved job script data."},
		{name: "supporting files without writing", sub: newSubmission("alice@x", nil, entry, support), want: "ack",
			rejected: "Set `WRITE_SUBMISSION_FILES` setting to `True`"},
		{name: "file 404", sub: newSubmission("alice@x", nil, entry, missing), write: true, want: "ack",
			rejected: `Failed to download file "gone.txt"`},
		{name: "download 503", sub: newSubmission("alice@x", nil), want: "retry",
			setup: func(e *unitEnv) { e.api.downloadEr = apiErr(503) }},
		{name: "sbatch refuses", sub: newSubmission("alice@x", nil), want: "ack", submits: 1,
			setup: func(e *unitEnv) {
				e.sl.submitErr = &slurm.CommandError{ExitCode: 1, Stderr: "sbatch: error: Batch job submission failed: Invalid partition name specified\n"}
			},
			rejected: "Failed to submit job to slurm -- sbatch: error: Batch job submission failed: Invalid partition name specified"},
		{name: "sbatch socket timeout", sub: newSubmission("alice@x", nil), want: "retry", submits: 1,
			setup: func(e *unitEnv) {
				e.sl.submitErr = &slurm.CommandError{ExitCode: 1, Stderr: "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n"}
			}},
		{name: "sbatch unparsable output", sub: newSubmission("alice@x", nil), want: "retry", submits: 1,
			setup: func(e *unitEnv) { e.sl.submitErr = fmt.Errorf("%w from %q", slurm.ErrUnparsableJobID, "junk") }},
		{name: "report 400 no longer created", sub: newSubmission("alice@x", nil), want: "ack", submits: 1,
			setup: func(e *unitEnv) { e.api.submitErr = []error{apiErr(400)} }},
		{name: "report 404", sub: newSubmission("alice@x", nil), want: "terminate", submits: 1,
			setup: func(e *unitEnv) { e.api.submitErr = []error{apiErr(404)} }},
		{name: "report 403", sub: newSubmission("alice@x", nil), want: "terminate", submits: 1,
			setup: func(e *unitEnv) { e.api.submitErr = []error{apiErr(403)} }},
		{name: "report 503", sub: newSubmission("alice@x", nil), want: "retry", submits: 1,
			setup: func(e *unitEnv) { e.api.submitErr = []error{apiErr(503)} }},
		{name: "report 503 on last attempt", sub: newSubmission("alice@x", nil), delivered: 10, want: "terminate", submits: 1,
			setup: func(e *unitEnv) { e.api.submitErr = []error{apiErr(503)} }},
		{name: "reject call 503", sub: newSubmission("nobody@x", nil), want: "retry",
			setup: func(e *unitEnv) { e.api.rejectErr = []error{apiErr(503)} }},
		{name: "reject call 400", sub: newSubmission("nobody@x", nil), want: "ack",
			setup: func(e *unitEnv) { e.api.rejectErr = []error{apiErr(400)} }},
		{name: "claim held fresh by another process", sub: newSubmission("alice@x", nil), want: "retry",
			setup: func(e *unitEnv) {
				putRecord(t, e.kv, Record{Holder: "other/2", ClaimedAt: e.now.Add(-10 * time.Second)}, e)
			}},
		{name: "record with job id re-reports", sub: newSubmission("alice@x", nil), want: "ack", submitted: 1,
			setup: func(e *unitEnv) { putRecord(t, e.kv, Record{Holder: "other/2", ClaimedAt: e.now, SlurmJobID: 42}, e) }},
		{name: "record with rejection re-sends it", sub: newSubmission("alice@x", nil), want: "ack", rejected: "earlier reason",
			setup: func(e *unitEnv) {
				putRecord(t, e.kv, Record{Holder: "other/2", ClaimedAt: e.now, Rejection: "earlier reason"}, e)
			}},
		{name: "stale claim reconcile error", sub: newSubmission("alice@x", nil), want: "retry",
			setup: func(e *unitEnv) {
				e.sl.findErr = errors.New("squeue --json: boom")
				putRecord(t, e.kv, Record{Holder: "other/2", ClaimedAt: e.now.Add(-time.Hour)}, e)
			}},
		{name: "fresh claim of a holder known gone is reconciled at once", sub: newSubmission("alice@x", nil), want: "ack", submits: 1, submitted: 1,
			setup: func(e *unitEnv) {
				putRecord(t, e.kv, Record{Holder: "gone/3", ClaimedAt: e.now.Add(-10 * time.Second)}, e)
			}},
		{name: "fresh claim of a holder known gone, job found by marker", sub: newSubmission("alice@x", nil), want: "ack", submitted: 1,
			setup: func(e *unitEnv) {
				e.sl.marked[int64(e.pending)] = []int64{555}
				putRecord(t, e.kv, Record{Holder: "gone/3", ClaimedAt: e.now.Add(-10 * time.Second)}, e)
			}},
		{name: "stale claim without job is taken over", sub: newSubmission("alice@x", nil), want: "ack", submits: 1, submitted: 1,
			setup: func(e *unitEnv) { putRecord(t, e.kv, Record{Holder: "other/2", ClaimedAt: e.now.Add(-time.Hour)}, e) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newUnitEnv(t, kv, b.JS, tt.write)
			e.pending = tt.sub.ID
			if tt.setup != nil {
				tt.setup(e)
			}
			delivered := tt.delivered
			if delivered == 0 {
				delivered = 1
			}
			dec := e.h.Handle(context.Background(), message(t, tt.sub, delivered))
			if kind(dec) != tt.want {
				t.Fatalf("decision %s, want %s", dec, tt.want)
			}
			if got := e.sl.submitCount(); got != tt.submits {
				t.Errorf("sbatch ran %d times, want %d", got, tt.submits)
			}
			if len(e.api.submitted) != tt.submitted {
				t.Errorf("%d submitted reports, want %d", len(e.api.submitted), tt.submitted)
			}
			switch {
			case tt.rejected == "" && len(e.api.rejected) > 0:
				t.Errorf("unexpected rejection %q", e.api.rejected)
			case tt.rejected != "" && (len(e.api.rejected) != 1 || !strings.Contains(e.api.rejected[0], tt.rejected)):
				t.Errorf("rejections %q, want one containing %q", e.api.rejected, tt.rejected)
			}
			if dec.IsTerminate() && dec.Reason() == "" {
				t.Error("terminate without reason")
			}
		})
	}
}

// putRecord stores r as the record of the environment's pending submission.
func putRecord(t *testing.T, kv jetstream.KeyValue, r Record, e *unitEnv) {
	t.Helper()
	r.SubmissionID = e.pending
	b, _ := json.Marshal(r)
	if _, err := kv.Put(context.Background(), RecordKey(r.SubmissionID), b); err != nil {
		t.Fatal(err)
	}
}
