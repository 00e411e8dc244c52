package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// oomScript asks for 200 MB and fills 2 GB: with memory enforced (task/cgroup, see
// deploy/slurm/slurm-single-node.sh SNS_CGROUP) the job ends OUT_OF_MEMORY. The limit is well
// above slurmstepd's own memory (about 12 MB, charged to the same cgroup on Slurm 22.05 with
// cgroup v1): with 20 MB (a 30 MB limit), the cgroup's OOM killer once took slurmstepd instead
// of tail, and the job stayed RUNNING until cancelled (1 of 26 kills in a day's kernel log).
const oomScript = "#!/bin/sh\n#SBATCH --mem=200M\n#SBATCH --output=/dev/null\nhead -c 2G /dev/zero | tail >/dev/null\n"

// TestMigrationFromPythonAgent replaces the Python agent on a login node as a site would: the
// agent runs with the Python agent's .env (an unknown key, Slurm commands in a directory of
// their own reached through SBATCH_PATH, SCONTROL_PATH and SCANCEL_PATH only) and its CACHE_DIR
// with a marker file of a submission the Python agent submitted but never reported. It must:
// warn about the unknown key and start; take squeue and sacct from SCONTROL_PATH's directory;
// report the Python agent's job for the marked submission instead of submitting it again;
// submit into a group project directory (group-writable, another member's) with the job named
// after its entrypoint; report a job that ran out of memory with its real state; settle a
// submission cancelled after its job ended with the job's real final state; and, restarted,
// submit nothing twice. Every status is the reference agent's for the same Slurm states.
func TestMigrationFromPythonAgent(t *testing.T) {
	w := newWorld(t, "e2e-migration")
	base, err := os.MkdirTemp("/tmp", "jbg-e2e-migration-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}

	// Slurm's commands in a directory of their own: wrappers that leave a file per call.
	bin, calls := filepath.Join(base, "slurm-bin"), filepath.Join(base, "calls")
	mkdir(t, bin, 0o755)
	mkdir(t, calls, 0o1777)
	for _, name := range []string{"sbatch", "scontrol", "scancel", "squeue", "sacct"} {
		real, err := exec.LookPath(name)
		if err != nil {
			t.Fatal(err)
		}
		script := fmt.Sprintf("#!/bin/sh\n: > \"$(mktemp %s/%s.XXXXXX)\"\nexec %s \"$@\"\n", calls, name, real)
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// A group project directory: bob's, group jbgshared (alice is a member), group-writable.
	project := filepath.Join(base, "project")
	mkdir(t, project, 0o2775)
	bob, alice := w.users["bob"], w.users["alice"]
	group := lookupGroup(t, "jbgshared")
	if err := os.Chown(project, int(bob.UID), group); err != nil {
		t.Fatal(err)
	}

	cache := filepath.Join(base, "cache")
	mkdir(t, cache, 0o700)

	// The Python agent's leftovers. Its job for submission "marked", written to its marker file
	// before it could tell the API; and a job of submission "ended", reported SUBMITTED, that
	// finished before its user cancelled the submission in the portal.
	marked, ended := allocIDs(1)[0], allocIDs(1)[0]
	markedJob := sbatchAs(t, w, "alice", w.dirs["alice"], "--hold", "--wrap=true")
	if err := os.WriteFile(filepath.Join(cache, strconv.Itoa(marked)+".slurm_job_id"), []byte(strconv.FormatInt(markedJob, 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	w.api.AddSubmission(jobbergatetest.Submission{ID: marked, Name: "python-marked", OwnerEmail: email("alice"),
		ClientID: w.clientID, JobScriptID: w.scripts["alice"], ExecutionDirectory: ptrTo(w.dirs["alice"])})
	endedJob := sbatchAs(t, w, "bob", w.dirs["bob"], "--wrap=true")
	testenv.Eventually(t, time.Minute, func() bool { return jobField(t, endedJob, "%T") == "COMPLETED" }, "job %d COMPLETED", endedJob)
	endedJobID := int(endedJob)
	w.api.AddSubmission(jobbergatetest.Submission{ID: ended, Name: "python-ended", OwnerEmail: email("bob"),
		ClientID: w.clientID, JobScriptID: w.scripts["bob"], ExecutionDirectory: ptrTo(w.dirs["bob"]),
		Status: jobbergatetest.StatusCancelled, SlurmJobID: &endedJobID})

	// New submissions: one into the group project directory, one that runs out of memory.
	groupSub, oomSub := allocIDs(1)[0], allocIDs(1)[0]
	w.mu.Lock()
	w.ids = append(w.ids, marked, ended, groupSub, oomSub)
	w.mu.Unlock()
	groupScript := w.api.AddJobScript(jobbergatetest.JobScript{Name: "e2e-migration-group", OwnerEmail: email("alice"),
		Files: []jobbergatetest.File{{Filename: "analysis.sh", FileType: jobbergatetest.FileTypeEntrypoint,
			Content: []byte("#!/bin/sh\n#SBATCH --output=/dev/null\ntrue\n")}}})
	w.api.AddSubmission(jobbergatetest.Submission{ID: groupSub, Name: "group-project", OwnerEmail: email("alice"),
		ClientID: w.clientID, JobScriptID: groupScript, ExecutionDirectory: &project, SbatchArguments: []string{"--hold"}})
	oomScriptID := w.api.AddJobScript(jobbergatetest.JobScript{Name: "e2e-migration-oom", OwnerEmail: email("alice"),
		Files: []jobbergatetest.File{{Filename: "fill-memory.sh", FileType: jobbergatetest.FileTypeEntrypoint, Content: []byte(oomScript)}}})
	w.api.AddSubmission(jobbergatetest.Submission{ID: oomSub, Name: "oom", OwnerEmail: email("alice"),
		ClientID: w.clientID, JobScriptID: oomScriptID, ExecutionDirectory: ptrTo(w.dirs["alice"])})

	// The Python agent's .env, as its documentation shows it, plus the one line this agent
	// needs for this test's users (its command mapper; the Python agent would use LDAP).
	envFile := filepath.Join(base, "jobbergate-agent.env")
	dotenv := strings.Join([]string{
		"# Python jobbergate-agent 5.11 settings",
		"JOBBERGATE_AGENT_BASE_API_URL=" + w.api.URL(),
		"JOBBERGATE_AGENT_OIDC_DOMAIN=" + w.api.OIDCDomain(),
		"JOBBERGATE_AGENT_OIDC_USE_HTTPS=false",
		"JOBBERGATE_AGENT_OIDC_CLIENT_ID=" + w.clientID,
		"JOBBERGATE_AGENT_OIDC_CLIENT_SECRET=" + w.secret,
		"JOBBERGATE_AGENT_CACHE_DIR=" + cache,
		"JOBBERGATE_AGENT_SBATCH_PATH=" + filepath.Join(bin, "sbatch"),
		"JOBBERGATE_AGENT_SCONTROL_PATH=" + filepath.Join(bin, "scontrol"),
		"JOBBERGATE_AGENT_SCANCEL_PATH=" + filepath.Join(bin, "scancel"),
		"JOBBERGATE_AGENT_X_SLURM_USER_NAME=ubuntu",
		"JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS=10",
		"JOBBERGATE_AGENT_WRITE_SUBMISSION_FILES=true",
		"JOBBERGATE_AGENT_GET_EXTRA_GROUPS=true",       // as at sites with group project areas
		"JOBBERGATE_AGENT_SLURM_RESTD_VERSION=v0.0.36", // a key this agent does not know
		"JOBBERGATE_AGENT_SLURM_USER_MAPPER=command-mapper",
		"JOBBERGATE_AGENT_COMMAND_MAPPER_PATH=" + w.mapper,
		"",
	}, "\n")
	if err := os.WriteFile(envFile, []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}

	// The effective settings: squeue and sacct from SCONTROL_PATH's directory.
	out, err := exec.Command(agentBinary(t), "--env-file", envFile, "config").CombinedOutput()
	if err != nil {
		t.Fatalf("config: %v\n%s", err, out)
	}
	for _, want := range []string{"JOBBERGATE_AGENT_SQUEUE_PATH=" + filepath.Join(bin, "squeue"), "JOBBERGATE_AGENT_SACCT_PATH=" + filepath.Join(bin, "sacct")} {
		if !strings.Contains(string(out), want) {
			t.Errorf("config does not show %s:\n%s", want, out)
		}
	}

	// Only what the .env cannot say on a test box: no listeners, fast polls.
	a := newAgent(t, "agent", []string{"JOBBERGATE_AGENT_NATS_LISTEN=off", "JOBBERGATE_AGENT_METRICS_LISTEN=off",
		"JOBBERGATE_AGENT_BRIDGE_POLL_INTERVAL=1s", "JOBBERGATE_AGENT_LOG_LEVEL=info"})
	a.envFile = envFile
	a.start()

	type want struct {
		status, state string
	}
	expect := map[int]want{
		marked:   {jobbergatetest.StatusSubmitted, "PENDING"},
		ended:    {jobbergatetest.StatusDone, "COMPLETED"},
		groupSub: {jobbergatetest.StatusSubmitted, "PENDING"},
		// The reference's status while slurmctld holds the job (MinJobAge); once it forgets it,
		// UNKNOWN ends it ABORTED (consumers/update TestEndedOutOfMemoryReachesFinalStatus).
		oomSub: {jobbergatetest.StatusSubmitted, "OUT_OF_MEMORY"},
	}
	settled := func() string {
		var bad []string
		for id, wt := range expect {
			s, _ := w.api.Submission(id)
			if s.Status != wt.status || derefS(s.SlurmJobState) != wt.state {
				bad = append(bad, fmt.Sprintf("%d: %s/%s (want %s/%s, message %q)", id, s.Status, derefS(s.SlurmJobState), wt.status, wt.state, derefS(s.ReportMessage)))
			}
		}
		return strings.Join(bad, "; ")
	}
	testenv.Eventually(t, 3*time.Minute, func() bool { return settled() == "" }, "submissions not settled: %v", testenv.Lazy(settled))

	// Restarted, it submits nothing again.
	a.stop()
	a.start()
	time.Sleep(12 * time.Second) // a bridge poll and an update cycle
	a.stop()
	if s := settled(); s != "" {
		t.Errorf("after a restart: %s", s)
	}

	if s, _ := w.api.Submission(marked); s.SlurmJobID == nil || int64(*s.SlurmJobID) != markedJob {
		t.Errorf("marked submission reported job %v, want the Python agent's %d", deref(s.SlurmJobID), markedJob)
	}
	if _, err := os.Stat(filepath.Join(cache, strconv.Itoa(marked)+".slurm_job_id")); !os.IsNotExist(err) {
		t.Errorf("the Python agent's marker file is still there after the report (%v)", err)
	}
	byMarker, err := w.markedJobs([]int{marked, groupSub, oomSub})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(byMarker[marked]); n != 0 {
		t.Errorf("the Python agent's submission was submitted again: %d jobs carry its marker", n)
	}
	for _, id := range []int{groupSub, oomSub} {
		if n := len(byMarker[id]); n != 1 {
			t.Errorf("submission %d: %d jobs carry its marker, want 1", id, n)
		}
	}
	if jobs := byMarker[groupSub]; len(jobs) == 1 {
		jid := jobs[0].JobID
		if name, dir, user := jobField(t, jid, "%j"), jobField(t, jid, "%Z"), jobField(t, jid, "%u"); name != "analysis.sh" || dir != project || user != "alice" {
			t.Errorf("group project job %d: name %q, directory %q, user %q; want analysis.sh in %s as alice", jid, name, dir, user, project)
		}
		if st, err := os.Stat(filepath.Join(project, "analysis.sh")); err != nil || ownerUID(st) != alice.UID {
			t.Errorf("entrypoint in the project directory: %v (owner %d, want alice's %d)", err, ownerUID(st), alice.UID)
		}
	}

	if a.countInLogs("JOBBERGATE_AGENT_SLURM_RESTD_VERSION", 1, a.startCount()) == 0 {
		t.Error("no warning names the unknown key JOBBERGATE_AGENT_SLURM_RESTD_VERSION")
	}
	used := map[string]int{}
	entries, _ := os.ReadDir(calls)
	for _, e := range entries {
		name, _, _ := strings.Cut(e.Name(), ".")
		used[name]++
	}
	for _, name := range []string{"sbatch", "scontrol", "scancel"} {
		if used[name] == 0 {
			t.Errorf("%s was never run from %s (calls: %v)", name, bin, used)
		}
	}
	t.Logf("commands run from %s: %v", bin, used)
	if dead := a.countInLogs("message dead-lettered", 1, a.startCount()); dead != 0 {
		t.Errorf("%d messages dead-lettered", dead)
	}
}

func mkdir(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask, with the sticky/setgid bits
		t.Fatal(err)
	}
}

// lookupGroup returns the gid of a local group.
func lookupGroup(t *testing.T, name string) int {
	t.Helper()
	out, err := exec.Command("getent", "group", name).Output()
	if err != nil {
		t.Fatalf("group %s: %v", name, err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ":")
	gid, err := strconv.Atoi(f[2])
	if err != nil {
		t.Fatalf("group %s: %q", name, out)
	}
	return gid
}

// sbatchAs submits a job as user in dir, as the Python agent did (no marker), and returns its
// id; it is cancelled when the test ends.
func sbatchAs(t *testing.T, w *world, user, dir string, args ...string) int64 {
	t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", user, "--", "sbatch", "--parsable", "--output=/dev/null", "--chdir=" + dir}, args...)...)
	cmd.Dir = "/tmp"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch as %s: %v: %s", user, err, out)
	}
	id, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("sbatch as %s printed %q", user, out)
	}
	w.mu.Lock()
	w.extraJb = append(w.extraJb, id)
	w.mu.Unlock()
	return id
}

// jobField returns one squeue format field (%T, %j, %Z, %u...) of a job slurmctld holds.
func jobField(t *testing.T, id int64, format string) string {
	t.Helper()
	out, err := exec.Command("squeue", "-h", "--states=all", "-j", strconv.FormatInt(id, 10), "-o", format).Output()
	if err != nil {
		t.Fatalf("squeue -j %d: %v", id, err)
	}
	return strings.TrimSpace(string(out))
}

// ownerUID returns the owner of a file (0 when unknown).
func ownerUID(st os.FileInfo) uint32 {
	if st == nil {
		return 0
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return sys.Uid
	}
	return 0
}

func ptrTo[T any](v T) *T { return &v }
