package jobidentity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// Record is the identity of one submission's job.
type Record struct {
	SubmissionID int    `json:"submission_id"`
	SlurmJobID   int64  `json:"slurm_job_id"`
	Owner        string `json:"owner"`
	OwnerUID     uint32 `json:"owner_uid"`
	// Marker is the claim's marker in the job's comment; empty for jobs submitted before
	// markers were random (their comment carries slurm.LegacyMarker).
	Marker string `json:"marker,omitempty"`
	// Unmarked is set for a job that carries no marker at all: one the Python agent submitted
	// (found in its marker file). Only its owner identifies it.
	Unmarked bool `json:"unmarked,omitempty"`
	// State and Reason are the job's state and reason the submit path reported with SUBMITTED
	// (empty when not known): what the portal shows until the update path reports a change.
	State  string `json:"state,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Identity is what Check needs of the record (no time bound: the job exists already).
func (r Record) Identity() slurm.Identity {
	return slurm.Identity{Owner: slurm.User{Name: r.Owner, UID: r.OwnerUID}, Marker: r.Marker}
}

// Key is the key of submission id's record.
func Key(id int) string { return "job." + strconv.Itoa(id) }

// Store reads and writes records in the bucket. Safe for concurrent use.
type Store struct {
	KV jetstream.KeyValue
}

// Put writes r, replacing any record of the same submission.
func (s Store) Put(ctx context.Context, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode job identity of submission %d: %w", r.SubmissionID, err)
	}
	if _, err := s.KV.Put(ctx, Key(r.SubmissionID), b); err != nil {
		return fmt.Errorf("write job identity of submission %d: %w", r.SubmissionID, err)
	}
	return nil
}

// Get returns submission id's record; ok is false when there is none (a job submitted by the
// Python agent, or by this one before identity records existed).
func (s Store) Get(ctx context.Context, id int) (r Record, ok bool, err error) {
	e, err := s.KV.Get(ctx, Key(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("read job identity of submission %d: %w", id, err)
	}
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return Record{}, false, fmt.Errorf("job identity of submission %d is unreadable: %w", id, err)
	}
	return r, true, nil
}
