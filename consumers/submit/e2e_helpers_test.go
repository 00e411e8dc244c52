package submit

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

const (
	clusterID  = "cluster-e2e"
	startSlurm = "run `deploy/slurm/slurm-single-node.sh start` as root (creates alice and bob)"
)

var e2eMapper = mapMapper{
	"alice@example.com": "alice", "bob@example.com": "bob",
	"root@example.com": "root", "ghost@example.com": "ghost",
}

func slurmUp() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "scontrol", "ping").CombinedOutput()
	return err == nil && strings.Contains(string(out), "UP")
}

// staticToken is a TokenProvider with one minted token.
type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (staticToken) Invalidate()                             {}

// outage fronts the development API with a switch that answers 503 to every request while on.
type outage struct {
	on     atomic.Bool
	served atomic.Int64 // 503 answers given
}

func (o *outage) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.on.Load() {
			o.served.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"detail":"outage"}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// e2e is the development API, an embedded broker, real Slurm and the agent's submit path.
type e2e struct {
	t      testing.TB
	api    *jobbergatetest.Server
	out    *outage
	client *jobbergate.Client
	b      *broker.Broker
	topo   broker.Topology
	sl     *slurm.Client
	users  map[string]slurm.User
	base   string // DefaultWorkDir base: <base>/<username> exists for alice and bob
	poller *bridge.Poller

	mu    sync.Mutex
	subs  []int // submission ids created (their jobs are cancelled at the end)
	subID int
}

var runSeq atomic.Int64

func newE2E(t testing.TB, tune func(*broker.Limits)) *e2e {
	t.Helper()
	testenv.Require(t, "root", os.Geteuid() == 0, "the submit end-to-end tests switch users: run them as root")
	testenv.Require(t, "slurm", slurmUp(), "slurmctld does not answer `scontrol ping`: "+startSlurm)
	sl, err := slurm.New(slurm.Options{Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, sl: sl, users: map[string]slurm.User{}, out: &outage{}}
	for _, name := range []string{"alice", "bob"} {
		u, err := sl.LookupUser(name)
		testenv.Require(t, "slurm", err == nil, "no local user "+name+": "+startSlurm)
		e.users[name] = u
	}
	e.api = jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	front := httptest.NewServer(e.out.wrap(e.api.Handler()))
	t.Cleanup(front.Close)
	tok := e.api.MintToken(jobbergatetest.TokenClaims{ClientID: clusterID, Permissions: jobbergatetest.AgentScopes,
		ExpiresAt: time.Now().Add(time.Hour)})
	e.client, err = jobbergate.New(jobbergate.Options{BaseURL: front.URL, Tokens: staticToken(tok), Timeout: 10 * time.Second,
		Retry: jobbergate.RetryPolicy{MaxAttempts: 2, InitialBackoff: 50 * time.Millisecond}, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.b, e.topo = newBroker(t, tune)
	e.base = e.tempDir(0, 0, 0o755)
	for name, u := range e.users {
		d := filepath.Join(e.base, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, int(u.UID), int(u.GID)); err != nil {
			t.Fatal(err)
		}
	}
	// Submission ids of their own per test and process (two runs of these tests at once must not
	// count each other's jobs), so the jobs found by marker are this test's.
	e.subID = 100_000_000 + rand.IntN(1_900_000)*1000 + int(runSeq.Add(1)%1000)
	e.poller = bridge.NewPoller(e.b.JS, 300*time.Millisecond, testenv.Logger(e.t), NewSource(e.client, e.topo, SourceOptions{}))
	t.Cleanup(e.cancelJobs)
	return e
}

// tempDir makes a directory under /tmp owned by uid:gid with mode, removed at the end.
func (e *e2e) tempDir(uid, gid uint32, mode os.FileMode) string {
	e.t.Helper()
	d, err := os.MkdirTemp("/tmp", "jbg-submit-e2e-")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chown(d, int(uid), int(gid)); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chmod(d, mode); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// handler returns a submit handler for this environment acting as process holder, with the
// options tweak changes.
func (e *e2e) handler(holder string, tweak ...func(*Options)) *Handler {
	e.t.Helper()
	kv := claimsBucket(e.t, e.b, e.topo)
	o := Options{
		API: e.client, Slurm: e.sl, Mapper: e2eMapper, Claims: kv, JetStream: e.b.JS,
		DefaultWorkDir: filepath.Join(e.base, "{username}"), WriteSubmissionFiles: true,
		HolderID: holder, ClaimStaleAfter: 2 * e.topo.Limits.AckWait, Logger: testenv.Logger(e.t),
	}
	for _, f := range tweak {
		f(&o)
	}
	h, err := NewHandler(o)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// run starts a runner on the SUBMIT consumer with h until the test ends.
func (e *e2e) run(h consumers.Handler, concurrency int) {
	e.t.Helper()
	cfg := consumers.ConfigFor(e.topo, e.topo.Submit, concurrency)
	cfg.Backoff = consumers.Backoff{Initial: 300 * time.Millisecond, Max: 2 * time.Second, Jitter: 0.2}
	cfg.FetchWait = 200 * time.Millisecond
	r := consumers.NewRunner(e.b.JS, cfg, h, testenv.Logger(e.t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("runner: %v", err)
		}
	})
}

// poll runs the bridge poller until the test ends.
func (e *e2e) poll() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.poller.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

// script is one job script of a test submission: its files by name (the first is the
// entrypoint unless noEntry).
type script struct {
	files   map[string]string
	order   []string
	noEntry bool
}

func entryScript(entry, content string, supports ...string) script {
	s := script{files: map[string]string{entry: content}, order: []string{entry}}
	for _, f := range supports {
		s.files[f] = "data for " + f + "\n"
		s.order = append(s.order, f)
	}
	return s
}

// add creates a job script and a CREATED submission; it returns the submission id and the
// job script id.
func (e *e2e) add(email string, dir *string, args []string, sc script) (int, int) {
	e.mu.Lock()
	e.subID++
	id := e.subID
	e.subs = append(e.subs, id)
	e.mu.Unlock()
	js := jobbergatetest.JobScript{Name: "js", OwnerEmail: email}
	for i, name := range sc.order {
		ft := jobbergatetest.FileTypeSupport
		if i == 0 && !sc.noEntry {
			ft = jobbergatetest.FileTypeEntrypoint
		}
		js.Files = append(js.Files, jobbergatetest.File{Filename: name, FileType: ft, Content: []byte(sc.files[name])})
	}
	jsID := e.api.AddJobScript(js)
	e.api.AddSubmission(jobbergatetest.Submission{ID: id, Name: "sub-" + strconv.Itoa(id), OwnerEmail: email,
		ClientID: clusterID, JobScriptID: jsID, ExecutionDirectory: dir, SbatchArguments: args})
	return id, jsID
}

// waitFinal waits until every id has left CREATED and returns their final state.
func (e *e2e) waitFinal(ids []int, timeout time.Duration) map[int]jobbergatetest.Submission {
	e.t.Helper()
	got := map[int]jobbergatetest.Submission{}
	testenv.Eventually(e.t, timeout, func() bool {
		for _, id := range ids {
			s, ok := e.api.Submission(id)
			if !ok || s.Status == jobbergatetest.StatusCreated {
				return false
			}
			got[id] = s
		}
		return true
	}, "submissions still CREATED")
	return got
}

// markedJobs returns the Slurm jobs carrying the marker of each submission id (one squeue).
func (e *e2e) markedJobs(ids []int) map[int][]slurm.JobData {
	e.t.Helper()
	out, err := exec.Command("squeue", "--json", "--states=all").Output()
	if err != nil {
		e.t.Fatalf("squeue --json: %v", err)
	}
	jobs, err := slurm.ParseJobsJSON(out, nil)
	if err != nil {
		e.t.Logf("squeue --json: %v", err)
	}
	want := map[int64]bool{}
	for _, id := range ids {
		want[int64(id)] = true
	}
	res := map[int][]slurm.JobData{}
	for _, j := range jobs {
		if id, ok := slurm.MarkedSubmission(j.Comment); ok && want[id] {
			res[int(id)] = append(res[int(id)], j)
		}
	}
	return res
}

// cancelJobs cancels every job of this test's submissions.
func (e *e2e) cancelJobs() {
	e.mu.Lock()
	ids := append([]int(nil), e.subs...)
	e.mu.Unlock()
	var jobIDs []string
	for _, jobs := range e.markedJobs(ids) {
		for _, j := range jobs {
			jobIDs = append(jobIDs, strconv.FormatInt(j.JobID, 10))
		}
	}
	if len(jobIDs) == 0 {
		return
	}
	if out, err := exec.Command("scancel", jobIDs...).CombinedOutput(); err != nil {
		e.t.Logf("scancel %v: %v: %s", jobIDs, err, out)
	}
}

func fileOwner(t *testing.T, path string) (uint32, string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Uid, string(b)
}
