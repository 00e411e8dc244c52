package broker

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrBadPrefix is returned by NewTopology for a prefix that cannot name streams and subjects.
var ErrBadPrefix = errors.New("broker: topology prefix must match [A-Za-z0-9_-]+")

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Topology names every stream, subject, consumer and bucket of one Slurm cluster's agents, and
// holds the limits Provision applies. Several clusters share one NATS deployment by using
// different prefixes. Build it with NewTopology; a Topology is a plain value, safe to copy.
//
// With prefix "JBG_C1":
//
//	streams   JBG_C1_SUBMIT  (jbg_c1.submit.<id>)   work queue
//	          JBG_C1_UPDATE  (jbg_c1.update.<id>)   work queue, at most one waiting message per id
//	          JBG_C1_METRICS (jbg_c1.metrics.<id>)  work queue
//	          JBG_C1_HEALTH  (jbg_c1.health.tick)   work queue, at most one waiting tick
//	          JBG_C1_DEAD    (jbg_c1.dead.<kind>)   limits: dead letters
//	          JBG_C1_ADVISORIES ($JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.JBG_C1_*.*) limits
//	consumers submit, update, metrics, health (durable pull on their stream)
//	          <name>-maxdeliver on ADVISORIES (one per work queue)
//	buckets   JBG_C1_submissions, JBG_C1_jobs, JBG_C1_leases, JBG_C1_agents
type Topology struct {
	// Prefix is the stream and bucket name prefix; SubjectRoot its lower-case subject form.
	Prefix, SubjectRoot string

	Submit, Update, Metrics, Health WorkQueue

	// Dead is the dead-letter stream; its subjects are SubjectRoot.dead.<kind>.
	Dead string
	// Advisories is the stream that persists MAX_DELIVERIES advisories of the work queues, so
	// no message that ran out of deliveries is missed while no runner is listening.
	Advisories string

	SubmissionsBucket, LeasesBucket, AgentsBucket string
	// JobsBucket holds the identity of every job the agents submitted (submission id -> job id,
	// owner and marker), read by the update path before it reports or cancels a job.
	JobsBucket string

	Limits Limits
}

// WorkQueue names one work-queue stream and its durable consumers.
type WorkQueue struct {
	// Kind is the short name: submit, update, metrics or health.
	Kind string
	// Stream and Consumer name the stream and its durable pull consumer.
	Stream, Consumer string
	// Subjects is the stream's subject filter, e.g. "jbg_c1.submit.>".
	Subjects string
	// AdvisoryConsumer is the durable consumer on the Advisories stream that reads this queue's
	// MAX_DELIVERIES advisories.
	AdvisoryConsumer string
	// DeadSubject is where this queue's dead letters go.
	DeadSubject string

	root string
}

// Subject returns the subject for one item, e.g. Submit.Subject("42") = "jbg_c1.submit.42".
func (w WorkQueue) Subject(id string) string { return w.root + "." + w.Kind + "." + id }

// MaxDeliveriesAdvisory returns the subject on which the server announces that a message of this
// queue's consumer ran out of deliveries.
func (w WorkQueue) MaxDeliveriesAdvisory() string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + w.Stream + "." + w.Consumer
}

// Queues returns the four work queues.
func (t Topology) Queues() []WorkQueue { return []WorkQueue{t.Submit, t.Update, t.Metrics, t.Health} }

// HealthSubject is the subject of the health tick.
func (t Topology) HealthSubject() string { return t.Health.Subject("tick") }

// Limits are the sizes and timings Provision applies. DefaultLimits gives single-node values.
type Limits struct {
	// Replicas of every stream, consumer and bucket: 1 embedded, 3 in a cluster.
	Replicas int
	// Storage of the streams and buckets that hold work and decisions (SUBMIT, DEAD,
	// ADVISORIES, the submissions bucket): file by default, fsynced per the server's setting.
	Storage jetstream.StorageType
	// TriggerStorage is for what the bridge re-derives from the API at every poll (UPDATE,
	// METRICS and HEALTH messages, leader leases, heartbeats): memory by default. Losing them in
	// a crash loses nothing (the next poll publishes them again), and it spares the file store
	// two fsyncs per message per cycle for every active job.
	TriggerStorage jetstream.StorageType

	// WorkMaxMsgs and WorkMaxBytes cap each work queue; publishes beyond are rejected
	// (DiscardNew), never silently evicting waiting work. -1 means unlimited.
	WorkMaxMsgs, WorkMaxBytes int64
	// Duplicates is the Nats-Msg-Id dedupe window of the work queues and DEAD. It must exceed
	// the bridge's poll interval (see package bridge).
	Duplicates time.Duration

	// AckWait, MaxDeliver and MaxAckPending configure the durable work consumers.
	AckWait       time.Duration
	MaxDeliver    int
	MaxAckPending int

	// DeadMaxAge is how long dead letters are kept (0: forever).
	DeadMaxAge time.Duration
	// AdvisoryMaxAge is how long MAX_DELIVERIES advisories are kept.
	AdvisoryMaxAge time.Duration

	// SubmissionsTTL is the default lifetime of an idempotency claim (per-key TTLs are allowed).
	SubmissionsTTL time.Duration
	// JobsTTL is how long a job's identity record lives: longer than any job runs.
	JobsTTL time.Duration
	// LeaseTTL is the leader lease lifetime; the holder renews at a third of it.
	LeaseTTL time.Duration
	// AgentsTTL is how long a heartbeat survives without refresh.
	AgentsTTL time.Duration
}

// DefaultLimits returns the limits for a single embedded server.
func DefaultLimits() Limits {
	return Limits{
		Replicas:       1,
		Storage:        jetstream.FileStorage,
		TriggerStorage: jetstream.MemoryStorage,
		WorkMaxMsgs:    1_000_000,
		WorkMaxBytes:   1 << 30,
		Duplicates:     10 * time.Minute,
		AckWait:        60 * time.Second,
		MaxDeliver:     10,
		MaxAckPending:  1000,
		DeadMaxAge:     90 * 24 * time.Hour,
		AdvisoryMaxAge: 7 * 24 * time.Hour,
		SubmissionsTTL: 7 * 24 * time.Hour,
		JobsTTL:        90 * 24 * time.Hour,
		LeaseTTL:       15 * time.Second,
		AgentsTTL:      60 * time.Second,
	}
}

// NewTopology returns the names for prefix (e.g. "JBG_MYCLUSTER") with DefaultLimits.
func NewTopology(prefix string) (Topology, error) {
	if !prefixRE.MatchString(prefix) {
		return Topology{}, fmt.Errorf("%w: %q", ErrBadPrefix, prefix)
	}
	root := strings.ToLower(prefix)
	t := Topology{
		Prefix:            prefix,
		SubjectRoot:       root,
		Dead:              prefix + "_DEAD",
		Advisories:        prefix + "_ADVISORIES",
		SubmissionsBucket: prefix + "_submissions",
		JobsBucket:        prefix + "_jobs",
		LeasesBucket:      prefix + "_leases",
		AgentsBucket:      prefix + "_agents",
		Limits:            DefaultLimits(),
	}
	queue := func(kind string) WorkQueue {
		return WorkQueue{
			Kind:             kind,
			Stream:           prefix + "_" + strings.ToUpper(kind),
			Consumer:         kind,
			Subjects:         root + "." + kind + ".>",
			AdvisoryConsumer: kind + "-maxdeliver",
			DeadSubject:      root + ".dead." + kind,
			root:             root,
		}
	}
	t.Submit, t.Update, t.Metrics, t.Health = queue("submit"), queue("update"), queue("metrics"), queue("health")
	return t, nil
}
