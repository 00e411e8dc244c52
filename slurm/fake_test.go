package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/slurmtest"
)

// fakeClient returns a client whose programs are the given fakes (nil ones point nowhere; sacct
// always points nowhere, so accounting is off: see sacct_test.go for fakes of it).
func fakeClient(t *testing.T, sbatch, squeue, scontrol, scancel *slurmtest.Fake) *Client {
	t.Helper()
	path := func(f *slurmtest.Fake) string {
		if f == nil {
			return "/nonexistent/slurm-program"
		}
		return f.Path
	}
	c, err := New(Options{SbatchPath: path(sbatch), SqueuePath: path(squeue), ScontrolPath: path(scontrol), ScancelPath: path(scancel),
		SacctPath: path(nil), SlurmVersion: "24.11"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nobody returns the unprivileged "nobody" user; switching to it needs root.
func nobody(t *testing.T) User {
	t.Helper()
	testenv.Require(t, "root", testenv.IsRoot(), "switching to another user needs root: run the tests as root")
	u, err := LookupUser("nobody", UserOptions{})
	if err != nil {
		t.Fatalf("user nobody: %v", err)
	}
	return u
}

func TestSubmitWithFakeSbatch(t *testing.T) {
	u := nobody(t)
	t.Setenv("JBG_AGENT_MARKER", "agent-secret")
	t.Setenv("SBATCH_PARTITION", "nosuch")
	sbatch := slurmtest.New(t, "sbatch", slurmtest.Response{Stdout: "12;fed-cluster\n"})
	c := fakeClient(t, sbatch, nil, nil, nil)
	script := "#!/bin/sh\n#SBATCH --comment=\"first words\"\n#SBATCH --comment \"my run\" # why\necho hi\n#SBATCH --comment=after-the-first-command\n"
	const marker = "jobbergate-submission:55:00112233445566778899aabbccddeeff"

	res, err := c.Submit(context.Background(), SubmitRequest{User: u, Dir: "/tmp", Script: []byte(script), SubmissionID: 55, Marker: marker})
	if err != nil {
		t.Fatal(err)
	}
	if res.JobID != 12 || res.Cluster != "fed-cluster" {
		t.Errorf("result = %+v, want 12 on fed-cluster", res)
	}
	calls := sbatch.Calls(t)
	if len(calls) != 1 {
		t.Fatalf("sbatch called %d times", len(calls))
	}
	call := calls[0]
	if want := []string{"--parsable", "--comment=my run " + marker}; !slices.Equal(call.Args, want) {
		t.Errorf("argv = %q, want %q", call.Args, want)
	}
	if call.Stdin != script {
		t.Errorf("stdin = %q, want the script", call.Stdin)
	}
	if call.UID != int(u.UID) || !slices.Equal(call.Groups, []int{int(u.GID)}) {
		t.Errorf("uid %d groups %v, want %d [%d]", call.UID, call.Groups, u.UID, u.GID)
	}
	if call.Dir != "/tmp" {
		t.Errorf("dir = %q", call.Dir)
	}
	for _, kv := range call.Env {
		k, _, _ := strings.Cut(kv, "=")
		if k != "PATH" && k != "PWD" { // PWD is set by the fake's own /bin/sh
			t.Errorf("unexpected variable in sbatch's environment: %s", kv)
		}
	}
	if p, _ := call.Getenv("PATH"); p != "/usr/bin:/bin" {
		t.Errorf("PATH = %q", p)
	}
}

func TestSubmitScriptPathAndExtraArgs(t *testing.T) {
	u := nobody(t)
	sbatch := slurmtest.New(t, "sbatch", slurmtest.Response{Stdout: "7\n"})
	c := fakeClient(t, sbatch, nil, nil, nil)
	res, err := c.Submit(context.Background(), SubmitRequest{User: u, Dir: "/tmp", ScriptPath: "/tmp/job.sh", ExtraArgs: []string{"--hold"}})
	if err != nil || res.JobID != 7 || res.Cluster != "" {
		t.Fatalf("Submit = %+v, %v", res, err)
	}
	if got := sbatch.Calls(t)[0].Args; !slices.Equal(got, []string{"--parsable", "--hold", "/tmp/job.sh"}) {
		t.Errorf("argv = %q", got)
	}
}

func TestSubmitFailureKeepsStderr(t *testing.T) {
	u := nobody(t)
	stderr := "sbatch: error: invalid partition specified: nosuch\nsbatch: error: Batch job submission failed: Invalid partition name specified\n"
	sbatch := slurmtest.New(t, "sbatch", slurmtest.Response{Stderr: stderr, ExitCode: 1})
	c := fakeClient(t, sbatch, nil, nil, nil)
	_, err := c.Submit(context.Background(), SubmitRequest{User: u, Dir: "/tmp", Script: []byte("#!/bin/sh\n")})
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitCode != 1 || ce.Stderr != stderr {
		t.Fatalf("err = %v, want CommandError code 1 with stderr", err)
	}
	if !strings.Contains(err.Error(), "Failed to run command with code 1: "+strings.TrimRight(stderr, "\n")) {
		t.Errorf("message = %q", err.Error())
	}

	sbatch.SetResponse(t, slurmtest.Response{Stdout: "Submitted batch job 5\n"})
	_, err = c.Submit(context.Background(), SubmitRequest{User: u, Dir: "/tmp", Script: []byte("#!/bin/sh\n")})
	if !errors.Is(err, ErrUnparsableJobID) {
		t.Errorf("unparsable output: err = %v", err)
	}
}

// scontrolJobsJSON returns a fake scontrol holding the jobs of a squeue/scontrol --json document:
// "show job <id>" prints the job alone in a document, as scontrol show job --json does; an id the
// document does not hold gets scontrol's "Invalid job id specified".
func scontrolJobsJSON(t *testing.T, doc string) *slurmtest.Fake {
	t.Helper()
	var top struct {
		Jobs []json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(doc), &top); err != nil {
		t.Fatal(err)
	}
	jobs := map[int64]string{}
	for _, raw := range top.Jobs {
		var id struct {
			JobID int64 `json:"job_id"`
		}
		if err := json.Unmarshal(raw, &id); err != nil {
			t.Fatal(err)
		}
		jobs[id.JobID] = `{"jobs":[` + string(raw) + "]}\n"
	}
	f := slurmtest.New(t, "scontrol", slurmtest.Response{Stderr: "unexpected scontrol call\n", ExitCode: 1})
	f.SetJobs(t, jobs)
	return f
}

// JobStates reads each job singly, never the whole queue: three ids, three scontrol reads, no
// squeue; an id slurmctld does not hold is UNKNOWN (accounting off).
func TestJobStatesReadsEachJobSingly(t *testing.T) {
	t.Setenv("SLURM_CONF", "/etc/slurm/slurm.conf")
	squeue := slurmtest.New(t, "squeue", slurmtest.Response{Stdout: string(readTestdata(t, "squeue-24.05.json"))})
	scontrol := scontrolJobsJSON(t, string(readTestdata(t, "squeue-24.05.json")))
	c := fakeClient(t, nil, squeue, scontrol, nil)
	got, err := c.JobStates(context.Background(), []int64{101, 104, 999, 101})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[101].JobState != "PENDING" || got[104].JobState != "FAILED" || got[104].UserName != "bob" {
		t.Errorf("states = %+v", got)
	}
	if got[999] != UnknownJob(999) {
		t.Errorf("999 = %+v, want UnknownJob", got[999])
	}
	if calls := squeue.Calls(t); len(calls) != 0 {
		t.Errorf("squeue ran %d times, want never", len(calls))
	}
	calls := scontrol.Calls(t)
	var args []string
	for _, c := range calls {
		args = append(args, strings.Join(c.Args, " "))
		if v, _ := c.Getenv("SLURM_CONF"); v != "/etc/slurm/slurm.conf" {
			t.Errorf("SLURM_CONF = %q, want it kept", v)
		}
	}
	slices.Sort(args)
	if want := []string{"--json show job 101", "--json show job 104", "--json show job 999"}; !slices.Equal(args, want) {
		t.Errorf("scontrol calls = %q, want %q", args, want)
	}
}

func TestJobStatesScontrolForm(t *testing.T) {
	// Slurm 22.05: records in scontrol's -o form.
	lines := strings.Split(string(readTestdata(t, "scontrol-22.05.txt")), "\n")
	scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{ExitCode: 1})
	scontrol.SetJobs(t, map[int64]string{4: lines[0] + "\n"})
	c := fakeClient(t, nil, nil, scontrol, nil)
	c.opts.SlurmVersion = "22.05"
	got, err := c.JobStates(context.Background(), []int64{4})
	if err != nil {
		t.Fatal(err)
	}
	if got[4].JobState != "RUNNING" {
		t.Errorf("job 4 = %+v", got[4])
	}
	if calls := scontrol.Calls(t); len(calls) != 1 || !slices.Equal(calls[0].Args, []string{"show", "job", "4", "-o"}) {
		t.Errorf("scontrol calls = %+v", calls)
	}
}

// A read that fails leaves its job out (never UNKNOWN) and says why.
func TestJobStatesSlurmDown(t *testing.T) {
	scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stderr: "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n", ExitCode: 1})
	c := fakeClient(t, nil, nil, scontrol, nil)
	got, err := c.JobStates(context.Background(), []int64{1})
	if err == nil || !strings.Contains(err.Error(), "Unable to contact slurm controller") || len(got) != 0 {
		t.Errorf("JobStates = %+v, %v; want no job and the controller error", got, err)
	}
}

func TestJobStateUnknownWithFakeScontrol(t *testing.T) {
	scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stderr: "slurm_load_jobs error: Invalid job id specified\n", ExitCode: 1})
	c := fakeClient(t, nil, nil, scontrol, nil)
	j, err := c.JobState(context.Background(), 31)
	if err != nil || j != UnknownJob(31) {
		t.Errorf("JobState = %+v, %v", j, err)
	}
}

func TestFindMarkedJobsWithFake(t *testing.T) {
	const (
		marker = "jobbergate-submission:8:0123456789abcdef0123456789abcdef"
		// Job 102 is the claim's; 103 carries an earlier claim's marker.
		listing = "103|jobbergate-submission:8:ffffffffffffffffffffffffffffffff\n102|my words " + marker + "\n77|unrelated\n"
	)
	alice := User{Name: "alice", UID: 1001}
	job := func(id int64, user string) string {
		return "JobId=" + strconv.FormatInt(id, 10) + " JobName=x UserId=" + user + " GroupId=alice(1001) JobState=PENDING Reason=JobHeldUser SubmitTime=2026-12-06T00:46:42 Comment=my words " + marker + "  StdOut=/dev/null\n"
	}
	squeue := slurmtest.New(t, "squeue", slurmtest.Response{Stdout: listing})
	scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stdout: job(102, "alice(1001)")})
	c := fakeClient(t, nil, squeue, scontrol, nil)
	c.opts.SlurmVersion = "22.05" // records read with -o (the real-Slurm tests read both forms)
	since := time.Date(2026, 12, 6, 0, 46, 0, 0, time.Local)

	got, err := c.FindMarkedJobs(context.Background(), 8, Identity{Owner: alice, Marker: marker, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Jobs) != 1 || got.Jobs[0].JobID != 102 || !slices.Equal(got.Earlier, []int64{103}) || len(got.Refused) != 0 {
		t.Errorf("FindMarkedJobs = %+v", got)
	}
	if call := squeue.Calls(t)[0]; !slices.Equal(call.Args, []string{"-h", "--states=all", "--user=1001", "--format=%i|%k"}) {
		t.Errorf("squeue argv = %q", call.Args)
	}

	t.Run("another owner", func(t *testing.T) {
		// A line forged by a comment lists job 102 with the marker; read singly it is bob's.
		scontrol.SetResponse(t, slurmtest.Response{Stdout: job(102, "bob(1002)")})
		got, err := c.FindMarkedJobs(context.Background(), 8, Identity{Owner: alice, Marker: marker, Since: since})
		if len(got.Jobs) != 0 || len(got.Refused) != 1 || !errors.Is(got.Refused[0], ErrForeignJob) {
			t.Errorf("FindMarkedJobs = %+v, %v; want job 102 refused", got, err)
		}
	})
	t.Run("submitted before the claim", func(t *testing.T) {
		scontrol.SetResponse(t, slurmtest.Response{Stdout: job(102, "alice(1001)")})
		got, err := c.FindMarkedJobs(context.Background(), 8, Identity{Owner: alice, Marker: marker, Since: since.Add(time.Hour)})
		if len(got.Jobs) != 0 || len(got.Refused) != 1 {
			t.Errorf("FindMarkedJobs = %+v, %v; want the earlier job refused", got, err)
		}
	})
	t.Run("none held, claim younger than MinJobAge", func(t *testing.T) {
		squeue.SetResponse(t, slurmtest.Response{Stdout: "77|unrelated\n"})
		scontrol.SetResponse(t, slurmtest.Response{Stdout: "Configuration data as of x\nMinJobAge               = 300 sec\n"})
		got, err := c.FindMarkedJobs(context.Background(), 8, Identity{Owner: alice, Marker: marker, Since: time.Now().Add(-time.Minute)})
		if err != nil || len(got.Jobs) != 0 {
			t.Errorf("FindMarkedJobs = %+v, %v; want none, sure", got, err)
		}
	})
	t.Run("none held, claim older than MinJobAge, no accounting", func(t *testing.T) {
		_, err := c.FindMarkedJobs(context.Background(), 8, Identity{Owner: alice, Marker: marker, Since: time.Now().Add(-time.Hour)})
		if !errors.Is(err, ErrNotSure) {
			t.Errorf("err = %v, want ErrNotSure", err)
		}
	})
}

func TestCancelWithFake(t *testing.T) {
	scancel := slurmtest.New(t, "scancel", slurmtest.Response{})
	c := fakeClient(t, nil, nil, nil, scancel)
	if err := c.Cancel(context.Background(), 42); err != nil {
		t.Fatal(err)
	}
	if calls := scancel.Calls(t); len(calls) != 1 || !slices.Equal(calls[0].Args, []string{"42"}) || calls[0].UID != os.Geteuid() {
		t.Errorf("scancel calls = %+v", calls)
	}
	scancel.SetResponse(t, slurmtest.Response{Stderr: "scancel: error: Kill job error on job id 43: Access/permission denied\n", ExitCode: 1})
	err := c.Cancel(context.Background(), 43)
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "scancel job 43") || !strings.Contains(err.Error(), "Access/permission denied") {
		t.Errorf("err = %v", err)
	}
}

func TestVersionWithFake(t *testing.T) {
	sbatch := slurmtest.New(t, "sbatch", slurmtest.Response{Stdout: "slurm 24.11.1\n"})
	c := fakeClient(t, sbatch, nil, nil, nil)
	v, err := c.Version(context.Background())
	if err != nil || v.Major != 24 || v.Minor != 11 || !v.JobStateIsList() {
		t.Errorf("Version = %+v, %v", v, err)
	}
}

func TestRootIsRefused(t *testing.T) {
	if _, err := LookupUser("root", UserOptions{}); !errors.Is(err, ErrRootUser) {
		t.Errorf("LookupUser(root) err = %v, want ErrRootUser", err)
	}
	if u, err := LookupUser("root", UserOptions{AllowRoot: true}); err != nil || u.UID != 0 {
		t.Errorf("LookupUser(root, AllowRoot) = %+v, %v", u, err)
	}
	c := fakeClient(t, nil, nil, nil, nil)
	_, err := c.RunAsUser(context.Background(), User{Name: "root"}, "", nil, "true")
	if !errors.Is(err, ErrRootUser) {
		t.Errorf("RunAsUser(uid 0) err = %v, want ErrRootUser", err)
	}
	_, err = c.Submit(context.Background(), SubmitRequest{User: User{Name: "root"}, Dir: "/tmp", Script: []byte("x")})
	if !errors.Is(err, ErrRootUser) {
		t.Errorf("Submit(uid 0) err = %v, want ErrRootUser", err)
	}
}

func TestLookupUnknownUser(t *testing.T) {
	if _, err := LookupUser("no-such-user-jbg", UserOptions{}); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("err = %v, want ErrUnknownUser", err)
	}
}

func TestNewRejectsRelativePaths(t *testing.T) {
	if _, err := New(Options{SbatchPath: "sbatch"}); err == nil {
		t.Error("relative sbatch path accepted")
	}
}

func TestJobStatesBadJobIsReportedNotUnknown(t *testing.T) {
	scontrol := scontrolJobsJSON(t, `{"jobs": [{"job_id": 1, "job_state": ["RUNNING"]}, {"job_id": 2, "job_state": []}]}`)
	c := fakeClient(t, nil, nil, scontrol, nil)
	got, err := c.JobStates(context.Background(), []int64{1, 2, 3})
	var pe *JobParseError
	if !errors.As(err, &pe) || pe.JobID != 2 {
		t.Fatalf("err = %v, want JobParseError for 2", err)
	}
	if got[1].JobState != "RUNNING" || got[3] != UnknownJob(3) {
		t.Errorf("states = %+v", got)
	}
	if _, ok := got[2]; ok {
		t.Errorf("unreadable job 2 reported as %+v; it must not become UNKNOWN", got[2])
	}
}

func TestSubmitRequiresAbsoluteDir(t *testing.T) {
	c := fakeClient(t, nil, nil, nil, nil)
	_, err := c.Submit(context.Background(), SubmitRequest{User: User{Name: "x", UID: 1000}, Dir: "rel", Script: []byte("x")})
	if !errors.Is(err, ErrRelativeDir) {
		t.Errorf("err = %v, want ErrRelativeDir", err)
	}
}

// scancel of a job that ended or that slurmctld no longer holds is not an error, whether
// scancel exits 0 or 1 with Slurm's own message for it.
func TestCancelEndedJobIsNotAnError(t *testing.T) {
	for _, msg := range []string{"scancel: error: Kill job error on job id 5: Invalid job id specified\n",
		"scancel: error: Kill job error on job id 5: Job/step already completing or completed\n"} {
		scancel := slurmtest.New(t, "scancel", slurmtest.Response{ExitCode: 1, Stderr: msg})
		c := fakeClient(t, nil, nil, nil, scancel)
		if err := c.Cancel(context.Background(), 5); err != nil {
			t.Errorf("Cancel after %q: %v", msg, err)
		}
	}
	scancel := slurmtest.New(t, "scancel", slurmtest.Response{ExitCode: 1, Stderr: "scancel: error: Kill job error on job id 5: Access/permission denied\n"})
	if err := fakeClient(t, nil, nil, nil, scancel).Cancel(context.Background(), 5); err == nil {
		t.Error("a refused scancel is not an error")
	}
}

// However many reconciles run at once, at most maxConcurrentListings owner listings run
// together: the fake squeue counts the listings running beside it.
func TestFindMarkedJobsListingsBounded(t *testing.T) {
	dir := t.TempDir()
	squeue := filepath.Join(dir, "squeue")
	script := fmt.Sprintf(`#!/bin/sh
mkdir %[1]q/run.$$
ls -d %[1]q/run.* | wc -l >> %[1]q/seen
sleep 0.3
rmdir %[1]q/run.$$
`, dir)
	if err := os.WriteFile(squeue, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{SqueuePath: squeue, ScontrolPath: "/nonexistent/scontrol", SacctPath: "/nonexistent/sacct", SlurmVersion: "24.11"})
	if err != nil {
		t.Fatal(err)
	}
	alice := User{Name: "alice", UID: 1001}
	var wg sync.WaitGroup
	for i := range 6 {
		marker, err := NewMarker(int64(i))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			// No job listed: each ends at the MinJobAge probe, which fails here (no scontrol).
			_, _ = c.FindMarkedJobs(context.Background(), int64(i), Identity{Owner: alice, Marker: marker, Since: time.Now()})
		})
	}
	wg.Wait()
	seen, err := os.ReadFile(filepath.Join(dir, "seen"))
	if err != nil {
		t.Fatal(err)
	}
	counts := strings.Fields(string(seen))
	most := 0
	for _, v := range counts {
		n, _ := strconv.Atoi(v)
		most = max(most, n)
	}
	if len(counts) != 6 || most != maxConcurrentListings {
		t.Errorf("listings %d, most at once %d (%q); want 6 listings, at most %d at once", len(counts), most, counts, maxConcurrentListings)
	}
}

// A single job's record larger than maxAgentOutput is not held: the read fails with
// ErrOutputTooLarge (the job is then neither reported nor taken for gone).
func TestJobStateOutputBounded(t *testing.T) {
	huge := "JobId=5 JobName=x JobState=PENDING Comment=" + strings.Repeat("x", maxAgentOutput) + "\n"
	scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{ExitCode: 1})
	scontrol.SetJobs(t, map[int64]string{5: huge})
	c := fakeClient(t, nil, nil, scontrol, nil)
	c.opts.SlurmVersion = "22.05"
	got, err := c.JobStates(context.Background(), []int64{5})
	if !errors.Is(err, ErrOutputTooLarge) || len(got) != 0 {
		t.Fatalf("JobStates = %d jobs (%.200v), %v; want none and ErrOutputTooLarge", len(got), fmt.Sprint(got), err)
	}
}

// What a command run as a user prints is kept up to maxUserOutput bytes, however much it prints.
func TestUserCommandOutputBounded(t *testing.T) {
	u := nobody(t)
	c := fakeClient(t, nil, nil, nil, nil)
	out, err := c.RunAsUser(context.Background(), u, "/tmp", nil, "/usr/bin/head", "-c", "1048576", "/dev/zero")
	if err != nil || len(out) != maxUserOutput {
		t.Fatalf("RunAsUser kept %d bytes (%v), want %d", len(out), err, maxUserOutput)
	}
}
