package telemetry

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/submit"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// SubmitSlurm wraps the submit handler's Slurm side so that sbatch's latency and outcome
// (ObserveSbatch) and the time of its other Slurm-side steps (ObserveSubmitStep: lookup_user,
// check_dir, write_file, job_state) are recorded.
func (m *Metrics) SubmitSlurm(s submit.Slurm) submit.Slurm { return timedSlurm{Slurm: s, m: m} }

// SubmitMapper wraps the submit handler's user mapper so that its time is recorded as the
// map_user step.
func (m *Metrics) SubmitMapper(mp usermap.Mapper) usermap.Mapper {
	return timedMapper{Mapper: mp, m: m}
}

// SubmitRecords wraps the submissions bucket so that the time of the record's reads and writes
// is recorded as the record_get, record_create and record_update steps.
func (m *Metrics) SubmitRecords(kv jetstream.KeyValue) jetstream.KeyValue {
	return timedRecords{KeyValue: kv, m: m}
}

// SubmitPublisher wraps the JetStream context so that the time of the record's final (TTL)
// write is recorded as the record_finish step.
func (m *Metrics) SubmitPublisher(js jetstream.JetStream) jetstream.JetStream {
	return timedPublisher{JetStream: js, m: m}
}

type timedSlurm struct {
	submit.Slurm
	m *Metrics
}

func (t timedSlurm) Submit(ctx context.Context, req slurm.SubmitRequest) (slurm.SubmitResult, error) {
	start := time.Now()
	res, err := t.Slurm.Submit(ctx, req)
	t.m.ObserveSbatch(time.Since(start), err)
	return res, err
}

func (t timedSlurm) LookupUser(name string) (slurm.User, error) {
	defer t.step("lookup_user", time.Now())
	return t.Slurm.LookupUser(name)
}

func (t timedSlurm) ResolveExecutionDir(ctx context.Context, u slurm.User, dir string) (string, error) {
	defer t.step("check_dir", time.Now())
	return t.Slurm.ResolveExecutionDir(ctx, u, dir)
}

func (t timedSlurm) WriteFile(ctx context.Context, u slurm.User, dir, name string, content []byte) (string, error) {
	defer t.step("write_file", time.Now())
	return t.Slurm.WriteFile(ctx, u, dir, name, content)
}

func (t timedSlurm) JobState(ctx context.Context, id int64) (slurm.JobData, error) {
	defer t.step("job_state", time.Now())
	return t.Slurm.JobState(ctx, id)
}

func (t timedSlurm) step(name string, start time.Time) {
	t.m.ObserveSubmitStep(name, time.Since(start))
}

type timedMapper struct {
	usermap.Mapper
	m *Metrics
}

func (t timedMapper) Username(ctx context.Context, email string) (string, error) {
	start := time.Now()
	defer func() { t.m.ObserveSubmitStep("map_user", time.Since(start)) }()
	return t.Mapper.Username(ctx, email)
}

type timedRecords struct {
	jetstream.KeyValue
	m *Metrics
}

func (t timedRecords) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	start := time.Now()
	defer func() { t.m.ObserveSubmitStep("record_get", time.Since(start)) }()
	return t.KeyValue.Get(ctx, key)
}

func (t timedRecords) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	start := time.Now()
	defer func() { t.m.ObserveSubmitStep("record_create", time.Since(start)) }()
	return t.KeyValue.Create(ctx, key, value, opts...)
}

func (t timedRecords) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	start := time.Now()
	defer func() { t.m.ObserveSubmitStep("record_update", time.Since(start)) }()
	return t.KeyValue.Update(ctx, key, value, revision)
}

type timedPublisher struct {
	jetstream.JetStream
	m *Metrics
}

func (t timedPublisher) Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	start := time.Now()
	defer func() { t.m.ObserveSubmitStep("record_finish", time.Since(start)) }()
	return t.JetStream.Publish(ctx, subject, data, opts...)
}
