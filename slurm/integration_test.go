package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// Integration tests on the real single-node Slurm of deploy/slurm/slurm-single-node.sh.

const startSlurm = "run `deploy/slurm/slurm-single-node.sh start` as root (creates alice, bob and group jbgshared)"

var submissionSeq atomic.Int64

// uniqueSubmissionID returns a submission id no other test run uses.
func uniqueSubmissionID() int64 {
	return time.Now().UnixNano()/1000%1_000_000_000 + submissionSeq.Add(1)
}

func slurmUp() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "scontrol", "ping").CombinedOutput()
	return err == nil && strings.Contains(string(out), "UP")
}

// realSlurm returns a client on the real Slurm and the test user alice.
func realSlurm(t testing.TB, opts Options) (*Client, User) {
	t.Helper()
	testenv.Require(t, "root", testenv.IsRoot(), "the Slurm integration tests switch users: run them as root")
	testenv.Require(t, "slurm", slurmUp(), "slurmctld does not answer `scontrol ping`: "+startSlurm)
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.LookupUser("alice")
	testenv.Require(t, "slurm", err == nil, "no local user alice: "+startSlurm)
	return c, u
}

// userDir creates a directory only u can enter (mode 0700, owned by u), removed at the end.
func userDir(t testing.TB, u User) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "jbg-slurm-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, int(u.UID), int(u.GID)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func fileOwner(t testing.TB, path string) uint32 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Uid
}

// waitState polls JobStates until every job is in a state done says is final.
func waitStates(t *testing.T, c *Client, ids []int64, timeout time.Duration, done func(JobData) bool) map[int64]JobData {
	t.Helper()
	var last map[int64]JobData
	testenv.Eventually(t, timeout, func() bool {
		got, err := c.JobStates(context.Background(), ids)
		if err != nil {
			t.Logf("JobStates: %v", err)
			return false
		}
		last = got
		for _, id := range ids {
			if !done(got[id]) {
				return false
			}
		}
		return true
	}, "jobs %v not done; last states %+v", ids, func() map[int64]string {
		m := map[int64]string{}
		for id, j := range last {
			m[id] = j.JobState
		}
		return m
	}())
	return last
}

func cancelAtEnd(t *testing.T, c *Client, id int64) {
	t.Cleanup(func() { _ = c.Cancel(context.Background(), id) })
}

func TestRealSubmitAsUserRunsToCompletion(t *testing.T) {
	c, alice := realSlurm(t, Options{})
	t.Setenv("JBG_AGENT_MARKER", "agent-only-value")
	t.Setenv("SBATCH_PARTITION", "nosuch") // would make sbatch fail if it leaked
	ctx := context.Background()
	dir := userDir(t, alice)

	script := "#!/bin/sh\nid -u > uid.txt\nid -G > groups.txt\nenv > env.txt\nsleep 2\n"
	scriptPath, err := c.WriteFile(ctx, alice, dir, "job.sh", []byte(script))
	if err != nil {
		t.Fatal(err)
	}
	if got := fileOwner(t, scriptPath); got != alice.UID {
		t.Errorf("job.sh owned by uid %d, want alice (%d)", got, alice.UID)
	}
	sub := uniqueSubmissionID()
	marker, err := NewMarker(sub)
	if err != nil {
		t.Fatal(err)
	}
	claimed := time.Now()
	res, err := c.Submit(ctx, SubmitRequest{User: alice, Dir: dir, ScriptPath: scriptPath, SubmissionID: sub, Marker: marker})
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, c, res.JobID)
	// A second job, by stdin, read in the same batch with an id Slurm never had.
	res2, err := c.Submit(ctx, SubmitRequest{User: alice, Dir: dir, Script: []byte("#!/bin/sh\nsleep 1\n")})
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, c, res2.JobID)
	const never = 3_999_999_999
	ids := []int64{res.JobID, res2.JobID, never}

	first, err := c.JobStates(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if s := first[res.JobID].JobState; s != "PENDING" && s != "RUNNING" {
		t.Errorf("first state %q, want PENDING or RUNNING", s)
	}
	j := first[res.JobID]
	if j.UserName != "alice" || j.CurrentWorkingDirectory != dir || j.Comment != marker {
		t.Errorf("job = user %q cwd %q comment %q", j.UserName, j.CurrentWorkingDirectory, j.Comment)
	}
	if err := (Identity{Owner: alice, Marker: marker, Since: claimed}).Check(j); err != nil {
		t.Errorf("the job read back fails its own identity: %v (uid %d, submitted %s)", err, j.UserID, j.SubmitTime)
	}
	if first[never] != UnknownJob(never) {
		t.Errorf("never-submitted id = %+v", first[never])
	}
	found, err := c.FindMarkedJobs(ctx, sub, Identity{Owner: alice, Marker: marker, Since: claimed})
	if err != nil || len(found.Jobs) != 1 || found.Jobs[0].JobID != res.JobID {
		t.Errorf("FindMarkedJobs = %+v, %v", found, err)
	}

	final := waitStates(t, c, ids[:2], 90*time.Second, func(j JobData) bool { return j.JobState == "COMPLETED" })
	if got := infoField(t, c, final[res.JobID], "job_state", "JobState"); got != "COMPLETED" {
		t.Errorf("job_info carries state %q: %.300s", got, final[res.JobID].JobInfo)
	}

	uid, err := os.ReadFile(filepath.Join(dir, "uid.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(uid)) != strconv.Itoa(int(alice.UID)) {
		t.Errorf("job ran as uid %q, want alice", uid)
	}
	for _, f := range []string{"uid.txt", "env.txt"} {
		if got := fileOwner(t, filepath.Join(dir, f)); got != alice.UID {
			t.Errorf("%s owned by %d", f, got)
		}
	}
	env, err := os.ReadFile(filepath.Join(dir, "env.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(env), "JBG_AGENT_MARKER") || strings.Contains(string(env), "agent-only-value") {
		t.Errorf("the agent's environment reached the job:\n%s", env)
	}
	if !strings.Contains(string(env), "SLURM_JOB_ID="+strconv.FormatInt(res.JobID, 10)) {
		t.Errorf("env.txt is not the job's environment:\n%.500s", env)
	}
}

func TestRealCancelledJobReadsCancelled(t *testing.T) {
	c, alice := realSlurm(t, Options{})
	ctx := context.Background()
	dir := userDir(t, alice)
	res, err := c.Submit(ctx, SubmitRequest{User: alice, Dir: dir, Script: []byte("#!/bin/sh\nsleep 300\n"), ExtraArgs: []string{"--output=/dev/null"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, res.JobID); err != nil {
		t.Fatal(err)
	}
	waitStates(t, c, []int64{res.JobID}, 30*time.Second, func(j JobData) bool { return j.JobState == "CANCELLED" })
	single, err := c.JobState(ctx, res.JobID)
	if err != nil || single.JobState != "CANCELLED" || single.UserName != "alice" {
		t.Errorf("scontrol read = %+v, %v", single, err)
	}
}

func TestRealUnknownJobID(t *testing.T) {
	c, _ := realSlurm(t, Options{})
	const id = 3_999_999_998
	j, err := c.JobState(context.Background(), id)
	if err != nil || j != UnknownJob(id) {
		t.Errorf("JobState = %+v, %v", j, err)
	}
	m, err := c.JobStates(context.Background(), []int64{id})
	if err != nil || m[id] != UnknownJob(id) {
		t.Errorf("JobStates = %+v, %v", m, err)
	}
	// Slurm 22.05's scancel exits 0 and prints nothing for an id it does not know.
	if err := c.Cancel(context.Background(), id); err != nil {
		t.Errorf("Cancel(unknown) err = %v, want nil (scancel exits 0)", err)
	}
}

func TestRealBadPartitionKeepsSbatchMessage(t *testing.T) {
	c, alice := realSlurm(t, Options{})
	dir := userDir(t, alice)
	_, err := c.Submit(context.Background(), SubmitRequest{User: alice, Dir: dir, Script: []byte("#!/bin/sh\ntrue\n"), ExtraArgs: []string{"--partition=nosuch"}})
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitCode != 1 {
		t.Fatalf("err = %v, want a CommandError with code 1", err)
	}
	if !strings.Contains(err.Error(), "Failed to run command with code 1: sbatch: error: invalid partition specified: nosuch") {
		t.Errorf("message = %q", err.Error())
	}
}

func TestRealInjectedArgumentsApply(t *testing.T) {
	c, alice := realSlurm(t, Options{})
	dir := userDir(t, alice)
	name := fmt.Sprintf("jbg-injected-%d", uniqueSubmissionID())
	script := InjectSbatchArguments("#!/bin/sh\n#SBATCH --output=/dev/null\necho hi\n",
		[]string{"--job-name=" + name, "--hold", "--partition=second"}, InjectionHeader)
	res, err := c.Submit(context.Background(), SubmitRequest{User: alice, Dir: dir, Script: []byte(script)})
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, c, res.JobID)
	j := waitStates(t, c, []int64{res.JobID}, 10*time.Second, func(j JobData) bool { return j.JobState == "PENDING" })[res.JobID]
	if got := infoField(t, c, j, "name", "JobName"); got != name {
		t.Errorf("job_info has name %q, want %q", got, name)
	}
	if got := infoField(t, c, j, "partition", "Partition"); got != "second" {
		t.Errorf("job_info has partition %q, want second", got)
	}
	if j.StateReason != "JobHeldUser" {
		t.Errorf("state_reason = %q, want JobHeldUser (--hold injected)", j.StateReason)
	}
	out, err := exec.Command("squeue", "-h", "-j", strconv.FormatInt(res.JobID, 10), "-o", "%j|%P").Output()
	if err != nil || strings.TrimSpace(string(out)) != name+"|second" {
		t.Errorf("squeue shows %q, %v", out, err)
	}
}

func TestRealFilesLandInsideExecutionDir(t *testing.T) {
	c, alice := realSlurm(t, Options{})
	dir := userDir(t, alice)
	path, err := c.WriteFile(context.Background(), alice, dir, "../../etc/x", []byte("data\n"))
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "x") {
		t.Errorf("written to %s, want %s", path, filepath.Join(dir, "x"))
	}
	b, err := os.ReadFile(filepath.Join(dir, "x"))
	if err != nil || string(b) != "data\n" {
		t.Errorf("content %q, %v", b, err)
	}
	if got := fileOwner(t, path); got != alice.UID {
		t.Errorf("owner %d, want alice %d", got, alice.UID)
	}
	// Overwrite truncates.
	if _, err := c.WriteFile(context.Background(), alice, dir, "x", []byte("z")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "z" {
		t.Errorf("after overwrite: %q", b)
	}
	if _, err := c.WriteFile(context.Background(), alice, dir, "..", []byte("z")); !errors.Is(err, ErrInvalidFileName) {
		t.Errorf("'..' err = %v", err)
	}
}

func TestRealExecutionDirChecks(t *testing.T) {
	c, alice := realSlurm(t, Options{})
	ctx := context.Background()
	if _, err := c.ResolveExecutionDir(ctx, alice, userDir(t, alice)); err != nil {
		t.Errorf("alice's own dir refused: %v", err)
	}
	rootOnly := t.TempDir() // 0700, root's
	readOnly, err := os.MkdirTemp("/tmp", "jbg-slurm-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(readOnly) })
	os.Chmod(readOnly, 0o755)
	for _, dir := range []string{rootOnly, readOnly, "/nonexistent/jbg-dir"} {
		_, err := c.ResolveExecutionDir(ctx, alice, dir)
		if !errors.Is(err, ErrDirNotUsable) || !strings.Contains(err.Error(), dir) {
			t.Errorf("ResolveExecutionDir(%s) = %v, want ErrDirNotUsable naming it", dir, err)
		}
	}
	if _, err := c.ResolveExecutionDir(ctx, alice, "relative/dir"); !errors.Is(err, ErrRelativeDir) {
		t.Errorf("relative dir err = %v", err)
	}
	_, err = c.WriteFile(ctx, alice, readOnly, "f", []byte("x"))
	var we *FileWriteError
	if !errors.As(err, &we) || !errors.Is(err, os.ErrPermission) {
		t.Errorf("WriteFile into a directory alice cannot write: %v, want a *FileWriteError for permission", err)
	}
	if entries, _ := os.ReadDir(readOnly); len(entries) != 0 {
		t.Errorf("files left in the read-only directory: %v", entries)
	}
}

func TestRealGroupsAreExactlyConfigured(t *testing.T) {
	grp, err := user.LookupGroup("jbgshared")
	testenv.Require(t, "slurm", err == nil, "no group jbgshared: "+startSlurm)
	shared, _ := strconv.Atoi(grp.Gid)
	for _, extra := range []bool{false, true} {
		t.Run(fmt.Sprintf("GetExtraGroups=%v", extra), func(t *testing.T) {
			c, alice := realSlurm(t, Options{GetExtraGroups: extra})
			out, err := c.RunAsUser(context.Background(), alice, "", nil, "id", "-G")
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, f := range strings.Fields(out) {
				g, _ := strconv.Atoi(f)
				got = append(got, g)
			}
			slices.Sort(got)
			want := []int{int(alice.GID)}
			if extra {
				want = append(want, shared)
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("id -G = %v, want %v", got, want)
			}
			if slices.Contains(got, 0) {
				t.Error("root's group reached the child")
			}
		})
	}
}

func TestRealChdirHappensAfterIdentitySwitch(t *testing.T) {
	c, alice := realSlurm(t, Options{})
	ctx := context.Background()
	own := userDir(t, alice)
	out, err := c.RunAsUser(ctx, alice, own, nil, "pwd")
	if err != nil || strings.TrimSpace(out) != own {
		t.Errorf("pwd in alice-only dir = %q, %v", out, err)
	}
	// Root can enter this directory and alice cannot: if the chdir happened before the
	// switch to alice it would succeed.
	rootOnly := t.TempDir()
	if _, err := c.RunAsUser(ctx, alice, rootOnly, nil, "pwd"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("chdir into a root-only dir as alice: err = %v, want permission denied", err)
	}
}

// TestRealConcurrentWritesLeaveWholeFiles: submissions that write the same file name into the
// same directory at the same time each leave a whole file (one of the versions), never a mix,
// and no temporary file behind.
func TestRealConcurrentWritesLeaveWholeFiles(t *testing.T) {
	c, alice := realSlurm(t, Options{})
	dir := userDir(t, alice)
	versions := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		content := strings.Repeat(fmt.Sprintf("line of version %d\n", i), 4000*(i+1))
		versions[content] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.WriteFile(context.Background(), alice, dir, "job.sh", []byte(content)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "job.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !versions[string(b)] {
		t.Fatalf("job.sh is not one whole version (%d bytes): a mix of concurrent writes", len(b))
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "job.sh" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// infoField returns a member of a job's job_info: jsonKey of the job object where records are
// JSON (23.02 and later; the first element of a list), pairsKey of the Key=Value object before.
func infoField(t testing.TB, c *Client, j JobData, jsonKey, pairsKey string) string {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal([]byte(j.JobInfo), &obj); err != nil {
		t.Fatalf("job_info is not a JSON object: %v", err)
	}
	key := pairsKey
	if c.jsonRecords(context.Background()) {
		key = jsonKey
	}
	switch v := obj[key].(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			return fmt.Sprint(v[0])
		}
	}
	return fmt.Sprint(obj[key])
}

// TestRealJobNamedAfterEntrypoint: a script read on stdin is named after its entrypoint file, as
// sbatch <file> names it, unless the script or the arguments name the job.
func TestRealJobNamedAfterEntrypoint(t *testing.T) {
	c, alice := realSlurm(t, Options{})
	dir := userDir(t, alice)
	for _, tt := range []struct {
		script string
		args   []string
		want   string
	}{
		{"#!/bin/sh\ntrue\n", nil, "run-me.sh"},
		{"#!/bin/sh\n#SBATCH -J from-script\ntrue\n", nil, "from-script"},
		{"#!/bin/sh\n#SBATCH --job-name \"from script\"\ntrue\n", nil, "from script"},
		{"#!/bin/sh\ntrue\n", []string{"--job-name=from-args"}, "from-args"},
	} {
		res, err := c.Submit(context.Background(), SubmitRequest{User: alice, Dir: dir, Script: []byte(tt.script),
			JobName: "run-me.sh", ExtraArgs: append([]string{"--hold", "--output=/dev/null"}, tt.args...)})
		if err != nil {
			t.Fatal(err)
		}
		cancelAtEnd(t, c, res.JobID)
		j, err := c.JobState(context.Background(), res.JobID)
		if err != nil {
			t.Fatal(err)
		}
		if got := infoField(t, c, j, "name", "JobName"); got != tt.want {
			t.Errorf("script %q args %q: job named %q, want %q", tt.script, tt.args, got, tt.want)
		}
	}
}
