package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

const (
	crashSubmissions = 300
	crashKills       = 6
	// crashMinKills is how many kills TestCrash requires; the remaining ones are made when
	// the work lasts long enough.
	crashMinKills = 5
	// crashTimeout bounds one scenario. A killed process's in-flight messages come back after
	// the SUBMIT consumer's AckWait (60 s); their claims are then reconciled at once, since the
	// holder ran on this host and is gone with no sbatch left (submit.LocalHolderGone), so the
	// last submissions a kill strands finish about a minute after it; the kills themselves
	// come later when the machine is loaded (about 20 s alone, 90 s under load seen).
	crashTimeout = 6 * time.Minute
)

// crashPace and crashDownloadDelay slow the agent down so that the work outlasts the kills
// with or without the race detector: two sbatch at a time, each job script 200 ms away
// (without them 300 submissions take a few seconds, less than five kill-and-restart cycles).
var crashPace = []string{"SUBMIT_CONCURRENCY=2"}

const crashDownloadDelay = 200 * time.Millisecond

// submitDone is what the agent logs when it settled a submit message.
const submitDone = "submit message done"

// reconciled is what the agent logs when a claim without job id had its job in Slurm.
const reconciled = "claim reconciled: slurm job found by marker"

// crashArgs keep the jobs held (pending) so that Slurm is not flooded.
var crashArgs = []string{"--hold", "--job-name=jbg-e2e-crash"}

// TestCrash submits 300 held jobs for alice and bob through the real agent binary while the
// agent is killed with SIGKILL at random moments (at least 5 times, each time after it made
// progress again) and restarted, and then checks that every submission is SUBMITTED with the id
// of the one Slurm job carrying its marker, owned by its user: none missing, none duplicated.
// The two scenarios run in parallel.
func TestCrash(t *testing.T) {
	t.Run("embedded-nats", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, "e2e-crash-embedded")
		// One CACHE_DIR for every restart: the embedded JetStream store carries the state.
		a := newAgent(t, "agent", w.agentEnv(t.TempDir(), crashPace...))
		ids := w.addSubmissions(crashSubmissions, crashArgs)
		w.api.DelayNext(http.MethodGet, "/jobbergate/job-scripts/", crashDownloadDelay, 10*crashSubmissions)
		a.start()
		killWhileWorking(t, w, ids, a, []*agentProc{a}, crashKills, crashMinKills)
		a.stop()
		checkExactlyOneJob(t, w, ids)
	})

	t.Run("shared-nats", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, "e2e-crash-shared")
		natsURL := startNATS(t)
		// Two agent processes, as on two login nodes, both clients of one NATS server; the first
		// (started first, so most likely the bridge leader) is killed repeatedly.
		a := newAgent(t, "agent-a", w.agentEnv(t.TempDir(), append(crashPace, "NATS_URL="+natsURL)...))
		b := newAgent(t, "agent-b", w.agentEnv(t.TempDir(), append(crashPace, "NATS_URL="+natsURL)...))
		// agent-b starts once agent-a has provisioned the streams and consumers: two agents
		// provisioning one server at the same moment meet a data race inside nats-server's file
		// store (stream update against consumer create, v2.15.2), which -race reports here
		// since this test runs that server in its own process.
		a.start()
		testenv.Eventually(t, 60*time.Second, func() bool { return a.currentLogCount("agent started") > 0 }, "agent-a started")
		b.start()
		// Twice the work: agent-b goes on while agent-a restarts, and without the race
		// detector's slowdown it would finish 300 before agent-a has been killed 5 times.
		ids := w.addSubmissions(2*crashSubmissions, crashArgs)
		w.api.DelayNext(http.MethodGet, "/jobbergate/job-scripts/", crashDownloadDelay, 20*crashSubmissions)
		killWhileWorking(t, w, ids, a, []*agentProc{a, b}, crashKills, crashMinKills)
		a.stop()
		b.stop()
		checkExactlyOneJob(t, w, ids)
	})
}

// startNATS starts an in-process NATS server with JetStream on a random loopback port and a
// store in t.TempDir(), shut down when the test ends, and returns its client URL.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, NoLog: true, ServerName: "e2e",
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats server not ready within 10s")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	u, err := url.Parse(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

// killThresholds returns n distinct progress counts (submissions out of CREATED) in ascending
// order, drawn at random between 3 % and 50 % of total: the agent is killed soon after each is
// reached. Past the last one half the work is left for the kills that come late (each waits
// for the restarted process to finish a submission).
func killThresholds(total, n int) []int {
	lo, hi := total*3/100+1, total*50/100
	seen := map[int]bool{}
	var out []int
	for len(out) < n {
		v := lo + rand.IntN(hi-lo+1)
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// killWhileWorking waits until no submission of ids is CREATED any more, killing victim with
// SIGKILL and restarting it at n random moments, each once progress passed the next random
// threshold and the restarted process itself finished a submission (so the process killed is
// working), plus a random delay of up to 700 ms. It fails the test when fewer than atLeast kills
// were made or any agent exited on its own.
func killWhileWorking(t *testing.T, w *world, ids []int, victim *agentProc, all []*agentProc, n, atLeast int) {
	t.Helper()
	thresholds := killThresholds(len(ids), n)
	t.Logf("kill thresholds (submissions out of CREATED): %v", thresholds)
	start := time.Now()
	var killAt time.Time // zero: no kill scheduled
	doneAtStart := -1    // progress when the victim was last (re)started by this loop
	var killLog []string
	lastLog := time.Now()
	var lastCheck time.Time // the API is read every 50 ms, not at every 10 ms poll
	testenv.Eventually(t, crashTimeout, func() bool {
		for _, a := range all {
			if ex := a.unexpectedExits(); len(ex) > 0 {
				t.Fatalf("%s exited on its own: %v", a.name, ex)
			}
		}
		if time.Since(lastCheck) < 50*time.Millisecond {
			return false
		}
		lastCheck = time.Now()
		c := w.statusCounts(ids)
		done := len(ids) - c[jobbergatetest.StatusCreated] - c["missing"]
		if time.Since(lastLog) > 15*time.Second {
			t.Logf("%s: %v", time.Since(start).Round(time.Second), c)
			lastLog = time.Now()
		}
		_, kills := victim.counts()
		switch {
		case kills < len(thresholds) && killAt.IsZero() && done >= thresholds[kills] && done > doneAtStart &&
			victim.currentLogCount(submitDone) > 0:
			killAt = time.Now().Add(time.Duration(rand.Int64N(int64(700 * time.Millisecond))))
		case !killAt.IsZero() && !time.Now().Before(killAt):
			victim.kill()
			killLog = append(killLog, fmt.Sprintf("%s at %d/%d", time.Since(start).Round(100*time.Millisecond), done, len(ids)))
			victim.start()
			killAt, doneAtStart = time.Time{}, done
		}
		return done == len(ids)
	}, "submissions still CREATED (status counts and kills: %v)", testenv.Lazy(func() string {
		return fmt.Sprint(w.statusCounts(ids), " ", killLog)
	}))
	starts, kills := victim.counts()
	t.Logf("all %d submissions out of CREATED after %s; %s killed %d times (%d starts): %s",
		len(ids), time.Since(start).Round(100*time.Millisecond), victim.name, kills, starts, strings.Join(killLog, ", "))
	for _, a := range all {
		t.Logf("%s: %d submissions reconciled from a marked job left by a killed process", a.name,
			a.countInLogs(reconciled, 1, a.startCount()))
	}
	if kills < atLeast {
		t.Errorf("%s killed %d times while working, want at least %d", victim.name, kills, atLeast)
	}
}

// checkExactlyOneJob checks that every submission is SUBMITTED and that Slurm holds exactly one
// job per submission carrying its marker, the one reported, owned by the submission's user, and
// no other job with a marker of these ids.
func checkExactlyOneJob(t *testing.T, w *world, ids []int) {
	t.Helper()
	marked, err := w.markedJobs(ids)
	if err != nil {
		t.Fatal(err)
	}
	total, missing, dup, bad := 0, 0, 0, 0
	for _, id := range ids {
		s, _ := w.api.Submission(id)
		jobs := marked[id]
		total += len(jobs)
		switch {
		case s.Status != jobbergatetest.StatusSubmitted || s.SlurmJobID == nil:
			bad++
			t.Errorf("submission %d: status %s, slurm id %v, message %q", id, s.Status, deref(s.SlurmJobID), derefS(s.ReportMessage))
		case len(jobs) == 0:
			missing++
			t.Errorf("submission %d: SUBMITTED as job %d but no job carries its marker", id, *s.SlurmJobID)
		case len(jobs) > 1:
			dup++
			var jids []int64
			for _, j := range jobs {
				jids = append(jids, j.JobID)
			}
			t.Errorf("submission %d: %d jobs carry its marker: %v (reported %d)", id, len(jobs), jids, *s.SlurmJobID)
		case jobs[0].JobID != int64(*s.SlurmJobID):
			bad++
			t.Errorf("submission %d: reported job %d, but the marked job is %d", id, *s.SlurmJobID, jobs[0].JobID)
		case jobs[0].UserName != w.ownerOf(s):
			bad++
			t.Errorf("submission %d: job %d owned by %q, want %q", id, jobs[0].JobID, jobs[0].UserName, w.ownerOf(s))
		}
	}
	t.Logf("slurm holds %d marked jobs for %d submissions: %d missing, %d duplicated, %d wrong", total, len(ids), missing, dup, bad)
	if total != len(ids) {
		t.Errorf("slurm holds %d jobs with this run's markers, want exactly %d", total, len(ids))
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func derefS(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
