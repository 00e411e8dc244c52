package inspect

import (
	"errors"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
)

// ErrNotProvisioned is returned by Collect when a stream or bucket of the topology does not exist:
// no agent with this prefix has started against this NATS deployment.
var ErrNotProvisioned = errors.New("inspect: not provisioned")

// LeaseKey is the key of the bridge leader lease in the leases bucket (see bridge.Elector and
// fxmodules' bridge task).
const LeaseKey = "bridge"

// Report is a snapshot of one cluster's agents, taken by Collect. Ages are measured when each
// entry is read (at or after CollectedAt) and never negative. It marshals to the JSON printed by `jobbergate-agent status --json`.
type Report struct {
	Prefix      string    `json:"prefix"`
	CollectedAt time.Time `json:"collected_at"`
	// Streams holds the four work queues (submit, update, metrics, health) then the dead stream.
	Streams []StreamReport `json:"streams"`
	// Consumers holds the durable consumers of the work queues, then those of the advisory stream.
	Consumers []ConsumerReport `json:"consumers"`
	// Leader is the bridge lease holder, nil when no bridge holds the lease.
	Leader *LeaderReport `json:"leader"`
	// Agents are the live heartbeats, sorted by host then pid.
	Agents []AgentReport `json:"agents"`
	Dead   DeadSummary   `json:"dead"`
}

// StreamReport is the state of one stream.
type StreamReport struct {
	Name string `json:"name"`
	// Kind is submit, update, metrics, health or dead.
	Kind string `json:"kind"`
	// Messages and Bytes are what the stream holds: waiting plus in-flight work on a work queue
	// (a work-queue message is removed on its ack), stored dead letters on the dead stream.
	Messages  uint64 `json:"messages"`
	Bytes     uint64 `json:"bytes"`
	FirstSeq  uint64 `json:"first_seq"`
	LastSeq   uint64 `json:"last_seq"`
	Consumers int    `json:"consumers"`
}

// ConsumerReport is the state of one durable consumer, straight from consumer info.
type ConsumerReport struct {
	Stream string `json:"stream"`
	Name   string `json:"name"`
	// Pending messages have not been delivered yet (NumPending).
	Pending uint64 `json:"pending"`
	// AckPending messages are delivered and not yet acked: in flight (NumAckPending).
	AckPending int `json:"ack_pending"`
	// Redelivered messages are in flight after more than one delivery (NumRedelivered).
	Redelivered int `json:"redelivered"`
	// Waiting is the number of open pull requests: idle workers (NumWaiting).
	Waiting int `json:"waiting"`
	// Delivered is the last delivered stream sequence; AckFloor the highest contiguously acked.
	Delivered uint64 `json:"delivered_seq"`
	AckFloor  uint64 `json:"ack_floor_seq"`
	// MaxDeliver and AckWait are the consumer's configuration.
	MaxDeliver int           `json:"max_deliver"`
	AckWait    time.Duration `json:"ack_wait_ns"`
}

// LeaderReport is the bridge leader lease.
type LeaderReport struct {
	Holder string    `json:"holder"`
	Host   string    `json:"host"`
	PID    int       `json:"pid"`
	Since  time.Time `json:"since"`
	// Renewed is when the holder last wrote the lease; LeaseAge is the time since. A
	// healthy holder renews every TTL/3, so an age close to TTL means the holder is in trouble.
	Renewed  time.Time     `json:"renewed"`
	LeaseAge time.Duration `json:"lease_age_ns"`
	// TTL is the lease lifetime (the leases bucket's TTL).
	TTL time.Duration `json:"ttl_ns"`
}

// AgentReport is one agent process's heartbeat: its key in the agents bucket, what the process
// wrote there (flattened in JSON), and how old that is.
type AgentReport struct {
	Key string `json:"key"`
	broker.AgentInfo
	// Age is the time since LastSeen (by this host's clock, 0 if LastSeen is in the future).
	Age time.Duration `json:"age_ns"`
}

// DeadSummary counts the stored dead letters.
type DeadSummary struct {
	Total int `json:"total"`
	// ByReason and ByStream count dead letters per reason and per origin stream, most first.
	ByReason []Count `json:"by_reason"`
	ByStream []Count `json:"by_stream"`
}

// Count is a number of dead letters sharing Key.
type Count struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}
