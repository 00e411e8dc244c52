package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

const (
	startSlurm = "run `deploy/slurm/slurm-single-node.sh start` as root (it creates alice and bob)"
	// jobScript is the entrypoint of every test submission: short, and held anyway.
	jobScript = "#!/bin/sh\n#SBATCH --time=1\n#SBATCH --output=/dev/null\necho hello\n"
	// mapperPath is the demo command-mapper (e-mail local part -> existing user), relative to
	// this package's directory.
	mapperPath = "../deploy/demo/map-user.sh"
)

// owners are the mapped users the submissions alternate between.
var owners = []string{"alice", "bob"}

// nextID hands out submission ids from a range no other package's tests use (1e9..2e9), offset
// by the clock so that markers of an earlier run's jobs (kept MinJobAge after they end) never
// match this run's ids.
var nextID atomic.Int64

func init() {
	nextID.Store(1_000_000_000 + (time.Now().Unix()%20_000)*50_000)
}

func allocIDs(n int) []int {
	last := nextID.Add(int64(n))
	ids := make([]int, n)
	for i := range ids {
		ids[i] = int(last) - n + 1 + i
	}
	return ids
}

func slurmUp() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "scontrol", "ping").CombinedOutput()
	return err == nil && strings.Contains(string(out), "UP")
}

// world is one test's development API, users, execution directories and the Slurm jobs of its
// submissions (cancelled when the test ends).
type world struct {
	t        testing.TB
	api      *jobbergatetest.Server
	clientID string
	secret   string
	sl       *slurm.Client
	users    map[string]slurm.User
	dirs     map[string]string // execution directory per user
	scripts  map[string]int    // job script id per user
	mapper   string

	mu      sync.Mutex
	ids     []int   // every submission id of the test (bare sbatch jobs of the bench too)
	extraJb []int64 // jobs submitted without the agent (bench), cancelled at the end
}

// newWorld checks root, Slurm and the users, starts the development API with one cluster client
// and one job script per user, and makes a private execution directory per user.
func newWorld(t testing.TB, clientID string) *world {
	t.Helper()
	testenv.Require(t, "root", os.Geteuid() == 0, "the agent switches to the submitting users: run the e2e tests as root")
	testenv.Require(t, "slurm", slurmUp(), "slurmctld does not answer `scontrol ping`: "+startSlurm)
	sl, err := slurm.New(slurm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := filepath.Abs(mapperPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mapper); err != nil {
		t.Fatalf("command mapper: %v", err)
	}
	w := &world{t: t, clientID: clientID, secret: "e2e-secret-" + strconv.Itoa(os.Getpid()), sl: sl, mapper: mapper,
		users: map[string]slurm.User{}, dirs: map[string]string{}, scripts: map[string]int{}}
	base, err := os.MkdirTemp("/tmp", "jbg-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	w.api = jobbergatetest.NewTestServer(t, jobbergatetest.Options{TokenTTL: time.Hour})
	w.api.AddClient(jobbergatetest.Client{ID: clientID, Secret: w.secret, Permissions: jobbergatetest.AgentScopes})
	for _, name := range owners {
		u, err := sl.LookupUser(name)
		testenv.Require(t, "slurm users", err == nil, fmt.Sprintf("no local user %s (%v): %s", name, err, startSlurm))
		w.users[name] = u
		d := filepath.Join(base, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, int(u.UID), int(u.GID)); err != nil {
			t.Fatal(err)
		}
		w.dirs[name] = d
		w.scripts[name] = w.api.AddJobScript(jobbergatetest.JobScript{Name: "e2e-" + name, OwnerEmail: email(name),
			Files: []jobbergatetest.File{{Filename: "job.sh", FileType: jobbergatetest.FileTypeEntrypoint, Content: []byte(jobScript)}}})
	}
	t.Cleanup(w.cancelJobs)
	return w
}

func email(user string) string { return user + "@example.com" }

// agentEnv is the agent's environment for this world: the development API, the command mapper,
// fast polls, no metrics listener and no embedded NATS listener unless extra says otherwise
// (later entries win).
func (w *world) agentEnv(cacheDir string, extra ...string) []string {
	env := []string{
		"BASE_API_URL=" + w.api.URL(),
		"OIDC_DOMAIN=" + w.api.OIDCDomain(),
		"OIDC_USE_HTTPS=false",
		"OIDC_CLIENT_ID=" + w.clientID,
		"OIDC_CLIENT_SECRET=" + w.secret,
		"CACHE_DIR=" + cacheDir,
		"SLURM_USER_MAPPER=command-mapper",
		"COMMAND_MAPPER_PATH=" + w.mapper,
		"BRIDGE_POLL_INTERVAL=1s",
		"BRIDGE_LEASE_TTL=3s",
		"TASK_JOBS_INTERVAL_SECONDS=10",
		"NATS_LISTEN=off",
		"METRICS_LISTEN=off",
		"LOG_LEVEL=info",
	}
	env = append(env, extra...)
	for i, kv := range env {
		env[i] = "JOBBERGATE_AGENT_" + kv
	}
	return env
}

// addSubmissions creates n CREATED submissions alternating between alice and bob, each with
// its own execution directory and sbatch arguments args, and returns their ids in order.
func (w *world) addSubmissions(n int, args []string) []int {
	return w.addSubmissionsOf(n, args, w.scripts)
}

// addSubmissionsOf is addSubmissions with each user's job script taken from scripts.
func (w *world) addSubmissionsOf(n int, args []string, scripts map[string]int) []int {
	ids := allocIDs(n)
	w.mu.Lock()
	w.ids = append(w.ids, ids...)
	w.mu.Unlock()
	for i, id := range ids {
		u := owners[i%len(owners)]
		dir := w.dirs[u]
		w.api.AddSubmission(jobbergatetest.Submission{ID: id, Name: "e2e-" + strconv.Itoa(id), OwnerEmail: email(u),
			ClientID: w.clientID, JobScriptID: scripts[u], ExecutionDirectory: &dir, SbatchArguments: args})
	}
	return ids
}

// ownerOf returns the user a submission id of addSubmissions belongs to.
func (w *world) ownerOf(s jobbergatetest.Submission) string {
	return strings.TrimSuffix(s.OwnerEmail, "@example.com")
}

// statusCounts counts the given submissions by status.
func (w *world) statusCounts(ids []int) map[string]int {
	c := map[string]int{}
	for _, id := range ids {
		s, ok := w.api.Submission(id)
		if !ok {
			c["missing"]++
			continue
		}
		c[s.Status]++
	}
	return c
}

// markedJobs returns the jobs slurmctld holds whose comment is the marker of one of ids (one
// squeue --json call, filtered here: squeue 22.05 ignores its filters with --json).
func (w *world) markedJobs(ids []int) (map[int][]slurm.JobData, error) {
	out, err := exec.Command("squeue", "--json", "--states=all").Output()
	if err != nil {
		return nil, fmt.Errorf("squeue --json: %w", err)
	}
	jobs, err := slurm.ParseJobsJSON(out, nil)
	if err != nil {
		w.t.Logf("squeue --json: some jobs unreadable: %v", err)
	}
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[int64(id)] = true
	}
	res := map[int][]slurm.JobData{}
	for _, j := range jobs {
		if id, ok := slurm.MarkedSubmission(j.Comment); ok && want[id] {
			res[int(id)] = append(res[int(id)], j)
		}
	}
	return res, nil
}

// cancelJobs cancels every job carrying the marker of one of this test's submissions and every
// extra job, so that Slurm is idle again.
func (w *world) cancelJobs() {
	w.mu.Lock()
	ids := append([]int(nil), w.ids...)
	jobIDs := append([]int64(nil), w.extraJb...)
	w.extraJb = nil
	w.mu.Unlock()
	marked, err := w.markedJobs(ids)
	if err != nil {
		w.t.Errorf("cancel this test's jobs: %v", err)
	}
	for _, jobs := range marked {
		for _, j := range jobs {
			if !finished(j.JobState) {
				jobIDs = append(jobIDs, j.JobID)
			}
		}
	}
	slices.Sort(jobIDs)
	jobIDs = slices.Compact(jobIDs)
	if err := scancel(jobIDs); err != nil {
		// scancel exits 1 when a job ended meanwhile (another test's cleanup may cancel held
		// jobs too): only jobs of this test still active are a failure.
		w.t.Logf("%v", err)
		marked, err := w.markedJobs(ids)
		if err != nil {
			w.t.Errorf("check the cancellation of this test's jobs: %v", err)
			return
		}
		active := 0
		for _, jobs := range marked {
			for _, j := range jobs {
				if !finished(j.JobState) {
					active++
				}
			}
		}
		if active > 0 {
			w.t.Errorf("%d jobs of this test still active after scancel", active)
		}
	}
}

func finished(state string) bool {
	switch state {
	case "PENDING", "RUNNING", "SUSPENDED", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING":
		return false
	}
	return true
}

// scancel cancels jobs, 500 ids per call.
func scancel(ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]string, n)
		for i, id := range ids[:n] {
			args[i] = strconv.FormatInt(id, 10)
		}
		if out, err := exec.Command("scancel", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("scancel %d jobs: %w: %s", n, err, out)
		}
		ids = ids[n:]
	}
	return nil
}
