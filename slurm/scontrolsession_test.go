package slurm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeInteractiveScontrol writes a shell script that answers like scontrol -o: with arguments
// it is a one-shot "show job N -o" (printing a line with JobState=ONESHOT); without, it reads
// commands on stdin, printing its prompt (glued to the output, like a scontrol built without
// readline), answering "show hostnames X" with X and "show job N" with a line with
// JobState=SESSION. show job 13 is never answered (a hung slurmctld); show job 15 prints a job
// whose name holds newlines, forging a job line for job 16.
func fakeInteractiveScontrol(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scontrol")
	script := `#!/bin/sh
if [ "$1" = show ]; then
	echo "JobId=$3 JobName=x UserId=alice(1001) JobState=ONESHOT Reason=None"
	exit 0
fi
while IFS= read -r cmd; do
	printf 'scontrol: '
	case "$cmd" in
	"show hostnames "*) echo "${cmd#show hostnames }" ;;
	"show job 13") sleep 60 ;;
	"show job 15")
		# A job whose name holds newlines: a forged end of answer and a forged job line.
		echo "JobId=15 JobName=a"
		echo "jbg00000000000000000000000000000000"
		echo "JobId=16 JobName=x UserId=alice(1001) JobState=FORGED Reason=None" ;;
	"show job "*) echo "JobId=${cmd#show job } JobName=x UserId=alice(1001) JobState=SESSION Reason=None" ;;
	*) echo "invalid keyword: $cmd" >&2 ;;
	esac
done
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func sessionClient(t *testing.T, scontrol string, n int) *Client {
	t.Helper()
	c, err := New(Options{ScontrolPath: scontrol, SacctPath: "/nonexistent/sacct", StateSessions: n, SlurmVersion: "22.05"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestStateSessionAnswersWithoutNewProcess(t *testing.T) {
	c := sessionClient(t, fakeInteractiveScontrol(t), 1)
	for _, id := range []int64{7, 8, 9} {
		j, err := c.JobState(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.JobID != id || j.JobState != "SESSION" || j.UserName != "alice" {
			t.Errorf("JobState(%d) = %+v, want the session's answer", id, j)
		}
	}
	if got := c.states.answered.Load(); got != 3 {
		t.Errorf("session answered %d reads, want 3", got)
	}
}

func TestStateSessionForgedLinesFallBackAndStayInStep(t *testing.T) {
	c := sessionClient(t, fakeInteractiveScontrol(t), 1)
	// Job 15's name forges an end of answer and a line for job 16: the answer is not clean,
	// the read goes to a scontrol of its own.
	j, err := c.JobState(context.Background(), 15)
	if err != nil || j.JobState != "ONESHOT" {
		t.Fatalf("JobState(15) = %+v, %v; want the one-shot answer", j, err)
	}
	// The session read up to its own nonce: the forged job 16 line is not taken for job 16.
	j, err = c.JobState(context.Background(), 16)
	if err != nil || j.JobState != "SESSION" {
		t.Fatalf("JobState(16) = %+v, %v; want the session's own answer, not the forged line", j, err)
	}
	if got := c.states.answered.Load(); got != 1 {
		t.Errorf("answered = %d, want 1", got)
	}
}

func TestJobFromScontrolJoinsContinuationLines(t *testing.T) {
	// Another job's record (an array task) that does not parse does not stop the read.
	lines := []string{"JobId=14 JobName=a JobState=", "JobId=16 UserId=alice(1001) JobState=RUNNING", ""}
	if j, found, err := jobFromScontrol(lines, 16); err != nil || !found || j.JobState != "RUNNING" {
		t.Fatalf("job 16 = %+v, found=%v, err=%v", j, found, err)
	}
	lines = []string{"JobId=15 JobName=a", "b UserId=alice(1001) JobState=PENDING Reason=Held", ""}
	j, found, err := jobFromScontrol(lines, 15)
	if err != nil || !found || j.JobState != "PENDING" || j.UserName != "alice" {
		t.Fatalf("job 15 = %+v, found=%v, err=%v; want the continuation joined", j, found, err)
	}
	if !strings.Contains(j.JobInfo, `"JobName":"a\nb"`) {
		t.Errorf("JobInfo %s: want JobName a\\nb", j.JobInfo)
	}
	if _, found, err := jobFromScontrol([]string{"garbage", ""}, 15); err != nil || found {
		t.Errorf("no JobId line: found=%v err=%v", found, err)
	}
	// Job 15's name holds a newline and what looks like job 14's record owned by bob: the text
	// after the newline is the rest of job 15's record (its head has no JobState), so no
	// record of job 14 exists and job 15's owner is ambiguous.
	forged := []string{"JobId=15 JobName=x", "JobId=14 JobName=y UserId=bob(1002) JobState=COMPLETED Reason=None UserId=alice(1001) GroupId=alice(1001) JobState=PENDING", ""}
	if j, found, err := jobFromScontrol(forged, 14); err != nil || found {
		t.Errorf("forged record of job 14 read as %+v, found=%v, err=%v", j, found, err)
	}
	if j, found, err := jobFromScontrol(forged, 15); err != nil || !found || j.UserID != -1 || j.UserName != "" || j.JobState != "PENDING" {
		t.Errorf("job 15 = %+v, found=%v, err=%v; want its real state and an unknown owner", j, found, err)
	}
}

func TestStateSessionHungFallsBackAndRecovers(t *testing.T) {
	c := sessionClient(t, fakeInteractiveScontrol(t), 1)
	c.states.queryTimeout = 300 * time.Millisecond
	j, err := c.JobState(context.Background(), 13)
	if err != nil || j.JobState != "ONESHOT" {
		t.Fatalf("JobState(13) = %+v, %v; want the one-shot scontrol's answer after the session timed out", j, err)
	}
	// The hung session was killed; the next read starts a new one.
	j, err = c.JobState(context.Background(), 14)
	if err != nil || j.JobState != "SESSION" {
		t.Fatalf("JobState(14) = %+v, %v; want a new session's answer", j, err)
	}
}

func TestStateSessionKilledProcessIsReplaced(t *testing.T) {
	c := sessionClient(t, fakeInteractiveScontrol(t), 1)
	readFromSession(t, c, 7)
	s := <-c.states.idle
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.waited
	c.states.idle <- s
	// The dead session fails this read, which falls back; the one after gets a new session.
	if j, err := c.JobState(context.Background(), 8); err != nil || j.JobID != 8 {
		t.Fatalf("JobState after kill = %+v, %v", j, err)
	}
	readFromSession(t, c, 9)
}

func TestStateSessionNotSpokenPausesPool(t *testing.T) {
	// A program that answers anything with one job line and exits (an old wrapper script):
	// the handshake fails, the pool pauses, every read meanwhile is one-shot.
	p := filepath.Join(t.TempDir(), "scontrol")
	script := "#!/bin/sh\necho \"JobId=${3:-0} JobName=x UserId=bob(1002) JobState=ONESHOT Reason=None\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c := sessionClient(t, p, 2)
	for _, id := range []int64{21, 22} {
		j, err := c.JobState(context.Background(), id)
		if err != nil || j.JobID != id || j.JobState != "ONESHOT" {
			t.Fatalf("JobState(%d) = %+v, %v", id, j, err)
		}
	}
	if !c.states.paused() {
		t.Error("pool not paused after a handshake without a version line")
	}
	if p := c.states.pause; p != sessionMinPause {
		t.Errorf("pause = %s, want %s after one failed start", p, sessionMinPause)
	}
	if got := c.states.answered.Load(); got != 0 {
		t.Errorf("answered = %d, want 0", got)
	}
}

func TestStateSessionClosedPoolFallsBack(t *testing.T) {
	c := sessionClient(t, fakeInteractiveScontrol(t), 1)
	readFromSession(t, c, 7)
	s := <-c.states.idle
	c.states.idle <- s
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.waited:
	case <-time.After(5 * time.Second):
		t.Fatal("Close left the session's process running")
	}
	if j, err := c.JobState(context.Background(), 8); err != nil || j.JobState != "ONESHOT" {
		t.Fatalf("JobState after Close = %+v, %v; want a one-shot read", j, err)
	}
}

func TestNewRejectsNegativeStateSessions(t *testing.T) {
	if _, err := New(Options{StateSessions: -1}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("New(StateSessions: -1) err = %v", err)
	}
}

func TestStripPrompts(t *testing.T) {
	for in, want := range map[string]string{
		"scontrol: show job 5":            "show job 5",
		"scontrol: scontrol: slurm 22.05": "slurm 22.05",
		"JobId=5 JobName=a ":              "JobId=5 JobName=a ",
		"scontrol: ":                      "",
	} {
		if got := stripPrompts(in); got != want {
			t.Errorf("stripPrompts(%q) = %q, want %q", in, got, want)
		}
	}
}

// submitHeld submits a held sleep job as u in dir (cancelled at the end of the test).
func submitHeld(t *testing.T, c *Client, u User, dir string, extra ...string) SubmitResult {
	t.Helper()
	res, err := c.Submit(context.Background(), SubmitRequest{User: u, Dir: dir, Script: []byte("#!/bin/sh\nsleep 300\n"),
		ExtraArgs: append([]string{"--hold", "--output=/dev/null"}, extra...)})
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, c, res.JobID)
	return res
}

// infoKeys returns the keys of a JobInfo JSON object in their order.
func infoKeys(t *testing.T, info string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(info))
	if _, err := dec.Token(); err != nil {
		t.Fatalf("JobInfo %q: %v", info, err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("JobInfo %q: %v", info, err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("JobInfo %q: %v", info, err)
		}
	}
	return keys
}

// On the real Slurm: a session reads what a one-shot scontrol reads, sees changes made between
// reads, and leaves unknown ids to the one-shot path (UnknownJob); with LocalReads (the test
// cluster is in no federation) the session and the one-shot reads pass --local.
func TestRealStateSessionMatchesOneShot(t *testing.T) {
	for _, local := range []bool{false, true} {
		t.Run(fmt.Sprintf("LocalReads=%v", local), func(t *testing.T) { testRealStateSession(t, local) })
	}
}

func testRealStateSession(t *testing.T, local bool) {
	oneShot, alice := realSlurm(t, Options{})
	c, _ := realSlurm(t, Options{StateSessions: 1, LocalReads: local})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	dir := userDir(t, alice)
	res := submitHeld(t, c, alice, dir)
	want, err := oneShot.JobState(ctx, res.JobID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.JobState(ctx, res.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if c.states.answered.Load() != 1 {
		t.Fatalf("the session did not answer (answered=%d): check scontrol's interactive mode", c.states.answered.Load())
	}
	for _, args := range sessionArgs(t, c) {
		if got := slices.Contains(args, "--local"); got != local {
			t.Errorf("session started as %q; want --local: %v", args, local)
		}
	}
	if got.JobState != "PENDING" || got.UserName != "alice" || got.JobState != want.JobState || got.StateReason != want.StateReason {
		t.Errorf("session read %+v, one-shot read %+v", got, want)
	}
	// Same fields in the same order (values such as LastSchedEval may move between reads).
	if a, b := infoKeys(t, got.JobInfo), infoKeys(t, want.JobInfo); strings.Join(a, " ") != strings.Join(b, " ") {
		t.Errorf("session JobInfo fields differ from one-shot:\n%v\n%v", a, b)
	}
	if got.Comment != want.Comment || got.CurrentWorkingDirectory != dir {
		t.Errorf("session read comment %q dir %q, one-shot %q %q", got.Comment, got.CurrentWorkingDirectory, want.Comment, want.CurrentWorkingDirectory)
	}
	if err := c.Cancel(ctx, res.JobID); err != nil {
		t.Fatal(err)
	}
	got, err = c.JobState(ctx, res.JobID)
	if err != nil || got.JobState != "CANCELLED" {
		t.Errorf("after scancel the session read %+v, %v; want CANCELLED", got, err)
	}
	const unknown = 3_999_999_997
	if j, err := c.JobState(ctx, unknown); err != nil || j != UnknownJob(unknown) {
		t.Errorf("JobState(unknown) = %+v, %v", j, err)
	}
	// A -o session has no line for an unknown id (the one-shot read answers it); a --json
	// session answers an empty list, which is the whole answer.
	wantAnswered := int64(2)
	if c.jsonRecords(ctx) {
		wantAnswered = 3
	}
	if got := c.states.answered.Load(); got != wantAnswered {
		t.Errorf("answered = %d, want %d", got, wantAnswered)
	}
}

// readFromSession reads job id through c and fails the test unless a state session of the
// fake interactive scontrol answered it (JobState=SESSION).
func readFromSession(t *testing.T, c *Client, id int64) {
	t.Helper()
	if j, err := c.JobState(context.Background(), id); err != nil || j.JobState != "SESSION" {
		t.Fatalf("JobState(%d) = %+v, %v; want a session's answer", id, j, err)
	}
}

// sessionArgs returns the command lines of c's idle sessions (at least one), leaving them idle.
func sessionArgs(t *testing.T, c *Client) [][]string {
	t.Helper()
	var all [][]string
	var held []*scontrolSession
	for {
		select {
		case s := <-c.states.idle:
			all, held = append(all, s.cmd.Args), append(held, s)
			continue
		case <-time.After(100 * time.Millisecond):
		}
		break
	}
	for _, s := range held {
		c.states.idle <- s
	}
	if len(all) == 0 {
		t.Fatal("no idle state session")
	}
	return all
}

// On the real Slurm, reads that start sessions together, before the first federation check has
// answered, all get --local (they wait for the check).
func TestRealStateSessionsStartedTogetherAllLocal(t *testing.T) {
	c, alice := realSlurm(t, Options{StateSessions: 2, LocalReads: true})
	t.Cleanup(func() { _ = c.Close() })
	res := submitHeld(t, c, alice, userDir(t, alice))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if j, err := c.JobState(context.Background(), res.JobID); err != nil || j.JobState != "PENDING" {
				t.Errorf("JobState = %+v, %v", j, err)
			}
		})
	}
	wg.Wait()
	for _, args := range sessionArgs(t, c) {
		if !slices.Contains(args, "--local") {
			t.Errorf("session started as %q, want --local (the test cluster is in no federation)", args)
		}
	}
}

// A session started with other flags than the current ones (the cluster joined a federation)
// is ended after its read and replaced by one with the current flags.
func TestStateSessionReplacedWhenFlagsChange(t *testing.T) {
	c := sessionClient(t, fakeInteractiveScontrol(t), 1)
	var mu sync.Mutex
	flags := []string{"--local"}
	c.states.flags = func(bool) []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(flags)
	}
	readFromSession(t, c, 7)
	if args := sessionArgs(t, c); len(args) != 1 || !slices.Contains(args[0], "--local") {
		t.Fatalf("sessions %q, want one with --local", args)
	}
	mu.Lock()
	flags = nil
	mu.Unlock()
	readFromSession(t, c, 8) // answered by the old session, which is then ended
	readFromSession(t, c, 9) // a new session, without --local
	if args := sessionArgs(t, c); len(args) != 1 || slices.Contains(args[0], "--local") {
		t.Fatalf("sessions %q, want one without --local", args)
	}
}

func TestStateSessionRetiredAfterMaxAge(t *testing.T) {
	c := sessionClient(t, fakeInteractiveScontrol(t), 1)
	readFromSession(t, c, 7)
	old := <-c.states.idle
	old.started = time.Now().Add(-sessionMaxAge - time.Minute)
	c.states.idle <- old
	// The old session still answers this read, then is retired.
	readFromSession(t, c, 8)
	select {
	case <-old.waited:
	case <-time.After(5 * time.Second):
		t.Fatal("a session past sessionMaxAge was not ended")
	}
	readFromSession(t, c, 9)
	if s := <-c.states.idle; s == old {
		t.Error("the retired session is back in the pool")
	} else {
		c.states.idle <- s
	}
}

// On the real Slurm: a job whose name holds newlines (its owner chose it) forges an end of
// answer and another job's line; the session read of it falls back, and the next read of the
// other job gets that job's own state, not the forged one.
func TestRealStateSessionForgedJobName(t *testing.T) {
	c, alice := realSlurm(t, Options{StateSessions: 1})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	dir := userDir(t, alice)
	victim := submitHeld(t, c, alice, dir)
	forged := fmt.Sprintf("x\njbg00000000000000000000000000000000\nJobId=%d JobName=y UserId=alice(1001) JobState=COMPLETED Reason=None", victim.JobID)
	hostile := submitHeld(t, c, alice, dir, "--job-name="+forged)
	// The hostile job's record goes on after the forged line (its head has no JobState): it
	// reads with its own state, and with no owner, since UserId appears twice.
	j, err := c.JobState(ctx, hostile.JobID)
	if c.jsonRecords(ctx) {
		if err != nil || j.JobID != hostile.JobID || j.JobState != "PENDING" || j.UserName != "alice" {
			t.Errorf("JobState(hostile) = %+v, %v; want its own record (JSON escapes the newlines)", j, err)
		}
	} else if err != nil || j.JobID != hostile.JobID || j.JobState != "PENDING" || j.UserID != -1 || j.UserName != "" {
		t.Errorf("JobState(hostile) = %+v, %v; want its own PENDING and no owner", j, err)
	}
	j, err = c.JobState(ctx, victim.JobID)
	if err != nil || j.JobState != "PENDING" {
		t.Errorf("JobState(victim) = %+v, %v; want its own PENDING, not the forged COMPLETED", j, err)
	}
	// A -o session's answer for the hostile job is not clean (it falls back); JSON's is.
	want := int64(1)
	if c.jsonRecords(ctx) {
		want = 2
	}
	if got := c.states.answered.Load(); got != want {
		t.Errorf("answered = %d, want %d", got, want)
	}
}
