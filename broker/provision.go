package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Provision creates or updates every stream, consumer and bucket of t. It is idempotent: run at
// every start, it changes nothing when the configuration is unchanged and applies changed limits
// (replicas, sizes, timings) in place. Changes the server cannot apply in place (retention,
// storage type) are returned as errors rather than recreating anything, so no work is lost.
//
// Every work queue keeps at most one waiting message per subject (MaxMsgsPerSubject=1 with
// DiscardNew + DiscardNewPerSubject, one subject per submission id). While a message for
// submission 42 waits or is being handled, publishing another update for 42 is rejected by the
// server (the publisher sees an error "maximum messages per subject exceeded", which the bridge
// counts as "already queued"). That is safe because an update message is only a trigger: its
// handler reads the current Slurm state when it runs, not the state at publish time. If the
// newer change happened after the handler read Slurm, the next poll publishes again once the
// first message is acked (the slot is free again), so the change is reported one interval later.
// The oldest message is never replaced, so a waiting update cannot be starved by a busy job.
func Provision(ctx context.Context, js jetstream.JetStream, t Topology) error {
	l := t.Limits
	for _, q := range t.Queues() {
		cfg := jetstream.StreamConfig{
			Name:        q.Stream,
			Description: "jobbergate-agent " + q.Kind + " work queue",
			Subjects:    []string{q.Subjects},
			Retention:   jetstream.WorkQueuePolicy,
			Discard:     jetstream.DiscardNew,
			MaxMsgs:     l.WorkMaxMsgs,
			MaxBytes:    l.WorkMaxBytes,
			Storage:     l.Storage,
			Replicas:    l.Replicas,
			Duplicates:  l.Duplicates,
		}
		if q.Kind != t.Submit.Kind {
			cfg.Storage = l.TriggerStorage
		}
		// One waiting (or in-flight) message per submission: a submission still CREATED, or a
		// job still being updated, when the bridge polls again is not queued twice, even past
		// the dedupe window.
		cfg.MaxMsgsPerSubject = 1
		cfg.DiscardNewPerSubject = true
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("broker: provision stream %s: %w", q.Stream, err)
		}
		if _, err := js.CreateOrUpdateConsumer(ctx, q.Stream, jetstream.ConsumerConfig{
			Durable:       q.Consumer,
			Description:   "jobbergate-agent " + q.Kind + " workers",
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckWait:       l.AckWait,
			MaxDeliver:    l.MaxDeliver,
			MaxAckPending: l.MaxAckPending,
			Replicas:      l.Replicas,
		}); err != nil {
			return fmt.Errorf("broker: provision consumer %s on %s: %w", q.Consumer, q.Stream, err)
		}
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        t.Dead,
		Description: "jobbergate-agent dead letters",
		Subjects:    []string{t.SubjectRoot + ".dead.>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxAge:      l.DeadMaxAge,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
		Duplicates:  l.Duplicates,
	}); err != nil {
		return fmt.Errorf("broker: provision stream %s: %w", t.Dead, err)
	}
	var advSubjects []string
	for _, q := range t.Queues() {
		advSubjects = append(advSubjects, q.MaxDeliveriesAdvisory())
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        t.Advisories,
		Description: "jobbergate-agent MAX_DELIVERIES advisories, read by the runners' reapers",
		Subjects:    advSubjects,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      l.AdvisoryMaxAge,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
	}); err != nil {
		return fmt.Errorf("broker: provision stream %s: %w", t.Advisories, err)
	}
	for _, q := range t.Queues() {
		if _, err := js.CreateOrUpdateConsumer(ctx, t.Advisories, jetstream.ConsumerConfig{
			Durable:       q.AdvisoryConsumer,
			Description:   "dead-letters " + q.Stream + " messages that ran out of deliveries",
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			FilterSubject: q.MaxDeliveriesAdvisory(),
			AckWait:       l.AckWait,
			Replicas:      l.Replicas,
		}); err != nil {
			return fmt.Errorf("broker: provision consumer %s on %s: %w", q.AdvisoryConsumer, t.Advisories, err)
		}
	}
	buckets := []jetstream.KeyValueConfig{
		{Bucket: t.SubmissionsBucket, Description: "submission idempotency claims", History: 5,
			TTL: l.SubmissionsTTL, LimitMarkerTTL: time.Minute},
		{Bucket: t.JobsBucket, Description: "identity of the jobs the agents submitted", History: 1, TTL: l.JobsTTL},
		{Bucket: t.LeasesBucket, Description: "leader leases", History: 1, TTL: l.LeaseTTL},
		{Bucket: t.AgentsBucket, Description: "agent heartbeats", History: 1, TTL: l.AgentsTTL},
	}
	for i, b := range buckets {
		b.Storage = l.Storage
		if i > 1 { // leases and heartbeats are re-made within seconds
			b.Storage = l.TriggerStorage
		}
		b.Replicas = l.Replicas
		if _, err := js.CreateOrUpdateKeyValue(ctx, b); err != nil {
			return fmt.Errorf("broker: provision bucket %s: %w", b.Bucket, err)
		}
	}
	return nil
}

// IsAlreadyQueued reports whether a publish error means a message for the same subject is still
// waiting in a work queue, which keeps one message per subject (see Provision).
func IsAlreadyQueued(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum messages per subject exceeded")
}
