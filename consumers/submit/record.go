package submit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// Record is the value of a submission's key in the submissions bucket.
//
// A record with Holder, ClaimedAt, Marker and the owner but no job id is a claim: Holder may be
// about to run (or be running) sbatch, whose job carries Marker in its comment. SlurmJobID is
// set once the job sbatch reported was checked to be the claim's (or when reconciliation found
// it); Rejection when the submission was rejected. Reported is set once the API accepted the
// report. Records written before markers existed have no Marker and no owner.
type Record struct {
	SubmissionID int       `json:"submission_id"`
	Holder       string    `json:"holder"`
	ClaimedAt    time.Time `json:"claimed_at"`
	// Marker is the claim's slurm.NewMarker: the only marker reconciliation accepts.
	Marker string `json:"marker,omitempty"`
	// Owner and OwnerUID are the mapped local user the claim submits as.
	Owner      string  `json:"owner,omitempty"`
	OwnerUID   *uint32 `json:"owner_uid,omitempty"`
	SlurmJobID int64   `json:"slurm_job_id,omitempty"`
	Rejection  string  `json:"rejection,omitempty"`
	Reported   bool    `json:"reported,omitempty"`
}

// marker is the marker the claim's job carries: its own, or the legacy marker of records
// written before random markers.
func (r Record) marker() string {
	if r.Marker != "" {
		return r.Marker
	}
	return slurm.LegacyMarker(int64(r.SubmissionID))
}

// identity is what makes a job the claim's (owner, marker, time). The owner is empty for
// records written before owners were recorded (Handler.claimIdentity maps it then).
func (r Record) identity() slurm.Identity {
	id := slurm.Identity{Owner: slurm.User{Name: r.Owner}, Marker: r.Marker, Since: r.ClaimedAt}
	if r.OwnerUID != nil {
		id.Owner.UID = *r.OwnerUID
	}
	return id
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
