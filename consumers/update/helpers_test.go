package update

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker/brokertest"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/jobidentity"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

const (
	testClientID = "cluster-update"
	testSecret   = "update-secret-never-logged"
	agentPath    = "/jobbergate/job-submissions/agent/"
	cycleLen     = time.Minute
)

// fakeSlurm is an in-memory Slurm: JobStates answers jobs, accounting or UNKNOWN for the others.
type fakeSlurm struct {
	mu       sync.Mutex
	jobs     map[int64]slurm.JobData
	reads    int
	listings int
	gone     []int64 // ids JobStates looked up in accounting
	// unreadable jobs are left out of JobStates with a *slurm.JobParseError each.
	unreadable []int64
	cancels    []int64
	cancelsAs  []string // "user:id" of CancelAs calls
	readErr    error
	// accounting answers for these ids once slurmctld no longer holds them (as sacct would).
	accounting map[int64]slurm.JobData
}

func newFakeSlurm() *fakeSlurm { return &fakeSlurm{jobs: map[int64]slurm.JobData{}} }

func (f *fakeSlurm) set(j slurm.JobData) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[j.JobID] = j
}

// JobStates answers each id from jobs (an unreadable one with a *slurm.JobParseError), the
// others from accounting (recorded in gone), UNKNOWN when accounting does not know them either.
func (f *fakeSlurm) JobStates(_ context.Context, ids []int64) (map[int64]slurm.JobData, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.readErr != nil {
		return nil, f.readErr
	}
	out := map[int64]slurm.JobData{}
	var errs []error
	for _, id := range ids {
		j, ok := f.jobs[id]
		switch {
		case ok && slices.Contains(f.unreadable, id):
			errs = append(errs, &slurm.JobParseError{JobID: id, Err: errors.New("unreadable job record")})
		case ok:
			// As Slurm prints it: the parser's view of the fake's job object.
			pj, err := slurm.ParseJobObject([]byte(fakeJobObject(j)))
			if err != nil {
				return nil, err
			}
			out[id] = pj
		default:
			f.gone = append(f.gone, id)
			if a, ok := f.accounting[id]; ok {
				a.FromAccounting = true
				out[id] = a
			} else {
				out[id] = slurm.UnknownJob(id)
			}
		}
	}
	return out, errors.Join(errs...)
}

// OwnerStates lists the jobs whose UserID is uid, as squeue --user does.
func (f *fakeSlurm) OwnerStates(_ context.Context, uid uint32) (map[int64]slurm.JobStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listings++
	if f.readErr != nil {
		return nil, f.readErr
	}
	out := map[int64]slurm.JobStatus{}
	for id, j := range f.jobs {
		if j.UserID == int64(uid) {
			out[id] = slurm.JobStatus{State: j.JobState, Reason: j.StateReason}
		}
	}
	return out, nil
}

// fakeJobObject is j as a squeue --json job object: its JobInfo with the fields the parser reads.
func fakeJobObject(j slurm.JobData) string {
	obj := map[string]json.RawMessage{}
	_ = json.Unmarshal([]byte(j.JobInfo), &obj)
	fields := map[string]any{"job_id": j.JobID, "job_state": j.JobState, "state_reason": j.StateReason}
	if j.UserID > 0 {
		fields["user_id"] = j.UserID
	}
	if j.Comment != "" {
		fields["comment"] = j.Comment
	}
	for k, v := range fields {
		b, _ := json.Marshal(v)
		obj[k] = b
	}
	b, _ := json.Marshal(obj)
	return string(b)
}

func (f *fakeSlurm) Cancel(_ context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels = append(f.cancels, id)
	if j, ok := f.jobs[id]; ok {
		j.JobState, j.StateReason = "CANCELLED", "None"
		f.jobs[id] = j
	}
	return nil
}

// CancelAs cancels the job when u owns it (uid as the job's UserID), as Slurm does for a user;
// otherwise it fails as scancel does.
func (f *fakeSlurm) CancelAs(_ context.Context, u slurm.User, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancelsAs = append(f.cancelsAs, fmt.Sprintf("%s:%d", u.Name, id))
	j, ok := f.jobs[id]
	if ok && j.UserID != int64(u.UID) {
		return &slurm.CommandError{ExitCode: 1, Stderr: fmt.Sprintf("scancel: error: Kill job error on job id %d: Access/permission denied\n", id)}
	}
	if ok {
		j.JobState, j.StateReason = "CANCELLED", "None"
		f.jobs[id] = j
	}
	return nil
}

// LookupUser knows alice (uid 1000) and bob (uid 2000).
func (f *fakeSlurm) LookupUser(name string) (slurm.User, error) {
	switch name {
	case "alice":
		return slurm.User{Name: name, UID: 1000, GID: 1000}, nil
	case "bob":
		return slurm.User{Name: name, UID: 2000, GID: 2000}, nil
	}
	return slurm.User{}, fmt.Errorf("look up user %q: %w", name, slurm.ErrUnknownUser)
}

// identities is an in-memory Identities.
type identities map[int]jobidentity.Record

func (m identities) Get(_ context.Context, id int) (jobidentity.Record, bool, error) {
	r, ok := m[id]
	return r, ok, nil
}

// env is one agent's update path on an embedded broker against the development API.
type env struct {
	api     *jobbergatetest.Server
	client  *jobbergate.Client
	b       *broker.Broker
	topo    broker.Topology
	clock   *testenv.Clock
	poller  *bridge.Poller
	handler *Handler
	runner  *consumers.Runner
	stop    func()
}

func newEnv(t testing.TB, sl Slurm, tune func(*Options)) *env {
	t.Helper()
	return newEnvSync(t, sl, tune, 0)
}

// newEnvSync is newEnv with the embedded server's fsync interval (0: fsync every write, the
// agent's default).
func newEnvSync(t testing.TB, sl Slurm, tune func(*Options), syncInterval time.Duration) *env {
	t.Helper()
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	api.AddClient(jobbergatetest.Client{ID: testClientID, Secret: testSecret, Permissions: jobbergatetest.AgentScopes})
	tokens, err := jobbergate.NewTokenSource(jobbergate.TokenSourceOptions{
		TokenURL: jobbergate.OIDCTokenURL(api.OIDCDomain(), false), ClientID: testClientID,
		ClientSecret: testSecret, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	client, err := jobbergate.New(jobbergate.Options{BaseURL: api.URL(), Tokens: tokens, Timeout: 10 * time.Second,
		Retry: jobbergate.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	b, topo := brokertest.Start(t, brokertest.Name("update-test"), brokertest.Prefix("JBG_UPD"), brokertest.SyncInterval(syncInterval),
		brokertest.Limits(func(l *broker.Limits) {
			l.MaxDeliver = 3
			l.AckWait = 10 * time.Second
		}))
	clk := testenv.NewClock(time.Unix(1_800_000_000, 0))
	src := NewSource(client, topo, SourceOptions{Interval: cycleLen, Now: clk.Now})
	opts := Options{API: client, Slurm: sl, Logger: testenv.Logger(t)}
	if tune != nil {
		tune(&opts)
	}
	h, err := NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{api: api, client: client, b: b, topo: topo, clock: clk, handler: h,
		poller: bridge.NewPoller(b.JS, cycleLen, testenv.Logger(t), src)}
	cfg := consumers.ConfigFor(topo, topo.Update, 1000)
	cfg.FetchWait = 100 * time.Millisecond
	cfg.Backoff = consumers.Backoff{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond}
	e.runner = consumers.NewBatchRunner(b.JS, cfg, h, testenv.Logger(t))
	return e
}

// start runs the update runner until the test ends (or stop is called).
func (e *env) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.runner.Run(ctx) }()
	var once sync.Once
	e.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(e.stop)
}

// cycle moves to the next update cycle and publishes it.
func (e *env) cycle(t testing.TB) bridge.CycleStats {
	t.Helper()
	e.clock.Advance(cycleLen)
	st := e.poller.Cycle(context.Background())
	if st.SourceErrors > 0 || st.Failed > 0 {
		t.Fatalf("bridge cycle failed: %+v", st)
	}
	return st
}

func (e *env) streamMsgs(t testing.TB, name string) uint64 {
	t.Helper()
	return brokertest.StreamMsgs(t, e.b.JS, name)
}

// drain waits until the UPDATE queue is empty (every message acked or dead-lettered).
func (e *env) drain(t testing.TB) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() bool { return e.streamMsgs(t, e.topo.Update.Stream) == 0 },
		"UPDATE queue drained")
}

// runCycle publishes one cycle and waits until it is handled.
func (e *env) runCycle(t testing.TB) bridge.CycleStats {
	t.Helper()
	st := e.cycle(t)
	e.drain(t)
	return st
}

// deadLetters returns the dead letters' reasons by submission id.
func (e *env) deadLetters(t testing.TB) map[string]string {
	t.Helper()
	return brokertest.DeadLetters(t, e.b.JS, e.topo.Dead)
}

func (e *env) submission(t testing.TB, id int) jobbergatetest.Submission {
	t.Helper()
	s, ok := e.api.Submission(id)
	if !ok {
		t.Fatalf("submission %d not found", id)
	}
	return s
}

func ptr2[T any](v T) *T { return &v }
