package submit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Record is the value of a submission's key in the submissions bucket.
//
// A record with only Holder and ClaimedAt is a claim: Holder may be about to run (or be running)
// sbatch. SlurmJobID is set right after sbatch (or when reconciliation found the job);
// Rejection when the submission was rejected. Reported is set once the API accepted the report.
type Record struct {
	SubmissionID int       `json:"submission_id"`
	Holder       string    `json:"holder"`
	ClaimedAt    time.Time `json:"claimed_at"`
	SlurmJobID   int64     `json:"slurm_job_id,omitempty"`
	Rejection    string    `json:"rejection,omitempty"`
	Reported     bool      `json:"reported,omitempty"`
}

// RecordKey is the key of submission id's record in the submissions bucket.
func RecordKey(id int) string { return "sub." + strconv.Itoa(id) }

// errConflict means another process changed the record since it was read.
var errConflict = errors.New("submission record changed concurrently")

// claims wraps the bucket with the record encoding and the create-only/CAS rules.
type claims struct {
	kv      jetstream.KeyValue
	js      jetstream.JetStream
	doneTTL time.Duration
}

// load returns the record and its revision, or (nil, 0, nil) when there is none.
func (c claims) load(ctx context.Context, id int) (*Record, uint64, error) {
	e, err := c.kv.Get(ctx, RecordKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read submission record %d: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		// An unreadable record must not be mistaken for "no record": treat it as a claim
		// without job id of nobody, which is reconciled against Slurm.
		return &Record{SubmissionID: id, Holder: "unreadable record"}, e.Revision(), nil
	}
	return &r, e.Revision(), nil
}

// store writes r: create-only when rev is 0, else compare-and-set on rev. A lost race returns
// an error wrapping errConflict. It returns the new revision.
func (c claims) store(ctx context.Context, r Record, rev uint64) (uint64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode submission record %d: %w", r.SubmissionID, err)
	}
	var n uint64
	if rev == 0 {
		n, err = c.kv.Create(ctx, RecordKey(r.SubmissionID), b)
	} else {
		n, err = c.kv.Update(ctx, RecordKey(r.SubmissionID), b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, fmt.Errorf("write submission record %d: %w", r.SubmissionID, errConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("write submission record %d: %w", r.SubmissionID, err)
	}
	return n, nil
}

// finish marks r reported, compare-and-set on rev, with the per-key TTL doneTTL when a
// JetStream context is available (kv.Update cannot set one).
func (c claims) finish(ctx context.Context, r Record, rev uint64) error {
	r.Reported = true
	if c.js == nil {
		_, err := c.store(ctx, r, rev)
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode submission record %d: %w", r.SubmissionID, err)
	}
	subject := "$KV." + c.kv.Bucket() + "." + RecordKey(r.SubmissionID)
	_, err = c.js.Publish(ctx, subject, b,
		jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(c.doneTTL))
	if err != nil {
		return fmt.Errorf("finish submission record %d: %w", r.SubmissionID, err)
	}
	return nil
}
