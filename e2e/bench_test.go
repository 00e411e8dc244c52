package e2e

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/submit"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

const (
	// benchNEnv picks the sub-benchmark sizes, comma separated (default "500,2000").
	benchNEnv = "JBG_E2E_BENCH_N"
	// benchConcEnv is the agent's SUBMIT_CONCURRENCY and bare sbatch's concurrency (default 8).
	benchConcEnv = "JBG_E2E_BENCH_CONCURRENCY"
	// benchAgentEnv adds agent settings for experiments, e.g. "NATS_SYNC_ALWAYS=false"
	// (comma separated, without the JOBBERGATE_AGENT_ prefix).
	benchAgentEnv = "JBG_E2E_BENCH_AGENT_ENV"
	// benchAPIDelayEnv delays every agent request to the development API (a duration such as
	// "50ms"), as the round trip to a Jobbergate API in another data centre would; only the
	// answers are delayed, not connection set-up (TCP and TLS handshakes). Default none.
	benchAPIDelayEnv = "JBG_E2E_BENCH_API_DELAY"
	// benchPoll is the agent's BRIDGE_POLL_INTERVAL in the benchmark.
	benchPoll = time.Second
	// benchJobsInterval is the agent's TASK_JOBS_INTERVAL_SECONDS in the benchmark: the default.
	benchJobsInterval = 60
)

var benchArgs = []string{"--hold", "--job-name=jbg-e2e-bench"}

// BenchmarkSubmitThroughput creates N held submissions at once (N=500 and N=2,000, or
// $JBG_E2E_BENCH_N) for alice and bob in the development API and measures how the real agent
// binary (embedded NATS, BRIDGE_POLL_INTERVAL=1s, SUBMIT_CONCURRENCY=8 or $JBG_E2E_BENCH_CONCURRENCY)
// turns them into SUBMITTED, next to bare sbatch of the same script as the same users at the same
// concurrency on the same Slurm. It reports submissions/s of both and their ratio, the latency
// from creation to SUBMITTED (p50, p95, p99) of both, and prints where the agent's time went
// from its /metrics histograms (handler, sbatch, API calls). All jobs are cancelled afterwards.
func BenchmarkSubmitThroughput(b *testing.B) {
	sizes := []int{500, 2000}
	if v := os.Getenv(benchNEnv); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("%s=%q: want positive integers, comma separated", benchNEnv, v)
			}
			sizes = append(sizes, n)
		}
	}
	conc := 8
	if v := os.Getenv(benchConcEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive integer", benchConcEnv, v)
		}
		conc = n
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchSubmit(b, n, conc) })
	}
}

// benchRun is the outcome of one agent run and one bare sbatch run of n submissions.
type benchRun struct {
	agentWall, bareWall time.Duration
	agentLat, bareLat   []time.Duration
	firstSubmitted      time.Duration // creation to the first SUBMITTED (bridge poll delay)
	agentSteady         time.Duration // first to last SUBMITTED
	agentCPU, bareCPU   cpuUse
	before, after       promSamples
	steps               []stepCost // measured alone after the agent's run
}

func benchSubmit(b *testing.B, n, conc int) {
	w := newWorld(b, "e2e-bench")
	delay := benchAPIDelay(b, w)
	metricsAddr := freeLoopbackAddr(b)
	// The update path at its default interval, as on a login node (the e2e world's 10 s would
	// put a squeue --json of the whole queue in the burst every 10 s).
	settings := []string{"METRICS_LISTEN=" + metricsAddr, "BRIDGE_POLL_INTERVAL=" + benchPoll.String(),
		"SUBMIT_CONCURRENCY=" + strconv.Itoa(conc), "LOG_LEVEL=warn", "TASK_JOBS_INTERVAL_SECONDS=" + strconv.Itoa(benchJobsInterval)}
	if v := os.Getenv(benchAgentEnv); v != "" {
		settings = append(settings, strings.Split(v, ",")...)
	}
	a := newAgent(b, "agent", w.agentEnv(b.TempDir(), settings...))
	a.start()
	waitReady(b, "http://"+metricsAddr+"/readyz")
	metricsURL := "http://" + metricsAddr + "/metrics"
	// The bridge's first poll lists the active submissions at once (the update path's start-up
	// cycle, which reads the whole Slurm queue); let it pass so the runs measure steady state.
	testenv.Eventually(b, time.Minute, func() bool {
		return w.api.Calls(http.MethodGet, "/jobbergate/job-submissions/agent/active") > 0
	}, "the bridge's first listing of active submissions")
	time.Sleep(2 * time.Second)

	// The agent is stopped while bare sbatch runs (below); a failure there must not leave it
	// stopped for its own clean-up.
	b.Cleanup(func() {
		if pid := a.pid(); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})

	var runs []benchRun
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		before, err := scrapeMetrics(metricsURL)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		r := benchRun{before: before}
		c0 := takeCPU(a.pid())
		r.agentWall, r.agentLat, r.firstSubmitted = benchAgent(b, w, a, n)
		r.agentCPU = cpuBetween(c0, takeCPU(a.pid()))
		r.agentSteady = r.agentLat[len(r.agentLat)-1] - r.agentLat[0]
		b.StopTimer()
		if r.after, err = scrapeMetrics(metricsURL); err != nil {
			b.Fatal(err)
		}
		if last, ok := w.api.Submission(w.ids[len(w.ids)-1]); ok && last.SlurmJobID != nil {
			r.steps = measureSteps(w, int64(*last.SlurmJobID), 20)
		}
		w.cancelJobs()
		// The agent is stopped (SIGSTOP) while bare sbatch runs: its update cycle would
		// otherwise read the whole queue and report the cancelled jobs meanwhile, taking CPU
		// from bare sbatch.
		pid := a.pid()
		if pid <= 0 {
			b.Fatal("agent not running")
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			b.Fatalf("pause the agent: %v", err)
		}
		b.StartTimer()
		c0 = takeCPU(0)
		r.bareWall, r.bareLat = benchBare(b, w, n, conc)
		r.bareCPU = cpuBetween(c0, takeCPU(0))
		b.StopTimer()
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			b.Fatalf("resume the agent: %v", err)
		}
		w.cancelJobs()
		runs = append(runs, r)
		b.StartTimer()
	}
	b.StopTimer()
	a.stop()
	reportBench(b, n, conc, delay, runs)
}

// benchAPIDelay applies $JBG_E2E_BENCH_API_DELAY to every request of the agent to w's API and
// returns it (0 when unset).
func benchAPIDelay(b *testing.B, w *world) time.Duration {
	v := os.Getenv(benchAPIDelayEnv)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		b.Fatalf("%s=%q: want a duration such as 50ms", benchAPIDelayEnv, v)
	}
	w.api.DelayNext("", "/", d, math.MaxInt32)
	return d
}

// benchAgent creates n submissions at once and waits until all are SUBMITTED. It returns the
// wall time from creation to the last SUBMITTED, each submission's latency from its creation to
// SUBMITTED (the development API's progress time) and the latency of the first one.
func benchAgent(b *testing.B, w *world, a *agentProc, n int) (time.Duration, []time.Duration, time.Duration) {
	start := time.Now()
	ids := w.addSubmissions(n, benchArgs)
	// Checked every 200 ms, only the submissions still CREATED: reading submissions holds the
	// development API's lock, which the agent's calls need too. The figures come from the
	// API's progress times, not from when this loop notices.
	pending := slices.Clone(ids)
	var lastCheck time.Time
	testenv.Eventually(b, 20*time.Minute, func() bool {
		if ex := a.unexpectedExits(); len(ex) > 0 {
			b.Fatalf("agent exited: %v", ex)
		}
		if time.Since(lastCheck) < 200*time.Millisecond {
			return false
		}
		lastCheck = time.Now()
		pending = slices.DeleteFunc(pending, func(id int) bool {
			s, _ := w.api.Submission(id)
			if s.Status == jobbergatetest.StatusRejected {
				b.Fatalf("submission %d rejected: %s", id, derefS(s.ReportMessage))
			}
			return s.Status == jobbergatetest.StatusSubmitted
		})
		return len(pending) == 0
	}, "not every submission SUBMITTED")
	var lat []time.Duration
	var last time.Time
	for _, id := range ids {
		s, _ := w.api.Submission(id)
		at := submittedAt(s)
		if at.IsZero() {
			b.Fatalf("submission %d: no SUBMITTED progress entry", id)
		}
		// Creation is spread over the loop that added them; measure each from the start
		// of that loop, as "created at once".
		lat = append(lat, at.Sub(start))
		if at.After(last) {
			last = at
		}
	}
	slices.Sort(lat)
	return last.Sub(start), lat, lat[0]
}

func submittedAt(s jobbergatetest.Submission) time.Time {
	for _, p := range s.Progress {
		if p.Status == jobbergatetest.StatusSubmitted {
			return p.Time
		}
	}
	return time.Time{}
}

// benchBare runs sbatch --parsable --hold of the same script, as alice and bob in turn in their
// execution directories, conc at a time, through the same run-as-user code the agent uses. It
// returns the wall time and each job's latency from the start.
func benchBare(b *testing.B, w *world, n, conc int) (time.Duration, []time.Duration) {
	ids := allocIDs(n) // markers, so that stray jobs are found and cancelled like the agent's
	w.mu.Lock()
	w.ids = append(w.ids, ids...)
	w.mu.Unlock()
	lat := make([]time.Duration, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	start := time.Now()
	for i, id := range ids {
		u := owners[i%len(owners)]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := w.sl.Submit(context.Background(), slurm.SubmitRequest{User: w.users[u], Dir: w.dirs[u],
				Script: []byte(jobScript), SubmissionID: int64(id), ExtraArgs: benchArgs})
			lat[i] = time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			w.extraJb = append(w.extraJb, res.JobID)
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if len(errs) > 0 {
		b.Fatalf("%d of %d bare sbatch calls failed, first: %v", len(errs), n, errs[0])
	}
	slices.Sort(lat)
	return wall, lat
}

func reportBench(b *testing.B, n, conc int, delay time.Duration, runs []benchRun) {
	var agentWall, bareWall, steady, bareSteady time.Duration
	var agentLat, bareLat []time.Duration
	var first time.Duration
	var agentCPU, bareCPU cpuUse
	for _, r := range runs {
		agentWall += r.agentWall
		bareWall += r.bareWall
		steady += r.agentSteady
		bareSteady += r.bareLat[len(r.bareLat)-1] - r.bareLat[0]
		agentLat = append(agentLat, r.agentLat...)
		bareLat = append(bareLat, r.bareLat...)
		first += r.firstSubmitted
		agentCPU = agentCPU.plus(r.agentCPU)
		bareCPU = bareCPU.plus(r.bareCPU)
	}
	slices.Sort(agentLat)
	slices.Sort(bareLat)
	total := float64(n * len(runs))
	agentRate, bareRate := total/agentWall.Seconds(), total/bareWall.Seconds()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(agentRate, "agent-subs/s")
	b.ReportMetric(bareRate, "sbatch-subs/s")
	b.ReportMetric(agentRate/bareRate, "ratio")
	steadyRate := float64(n*len(runs)-len(runs)) / steady.Seconds()
	bareSteadyRate := float64(n*len(runs)-len(runs)) / bareSteady.Seconds()
	b.ReportMetric(steadyRate/bareSteadyRate, "steady-ratio")
	b.ReportMetric(ms(pct(agentLat, 50)), "p50-ms")
	b.ReportMetric(ms(pct(agentLat, 95)), "p95-ms")
	b.ReportMetric(ms(pct(agentLat, 99)), "p99-ms")
	b.ReportMetric(ms(pct(bareLat, 50)), "sbatch-p50-ms")
	b.ReportMetric(ms(pct(bareLat, 99)), "sbatch-p99-ms")

	var sb strings.Builder
	fmt.Fprintf(&sb, "N=%d, concurrency %d, BRIDGE_POLL_INTERVAL=%s, TASK_JOBS_INTERVAL_SECONDS=%d, %d run(s), extra agent settings %q, API delay %s\n",
		n, conc, benchPoll, benchJobsInterval, len(runs), os.Getenv(benchAgentEnv), delay)
	fmt.Fprintf(&sb, "%-12s %10s %10s %10s %10s %10s\n", "", "subs/s", "wall", "p50", "p95", "p99")
	row := func(name string, rate float64, wall time.Duration, lat []time.Duration) {
		fmt.Fprintf(&sb, "%-12s %10.1f %10s %10s %10s %10s\n", name, rate, wall.Round(time.Millisecond),
			pct(lat, 50).Round(time.Millisecond), pct(lat, 95).Round(time.Millisecond), pct(lat, 99).Round(time.Millisecond))
	}
	row("agent", agentRate, agentWall, agentLat)
	row("bare sbatch", bareRate, bareWall, bareLat)
	fmt.Fprintf(&sb, "ratio agent/bare %.2f (target >= 0.9); p50 %s (target < %s)\n", agentRate/bareRate,
		pct(agentLat, 50).Round(time.Millisecond), benchPoll+time.Second)
	fmt.Fprintf(&sb, "first SUBMITTED after %s (bridge poll delay)\n", (first / time.Duration(len(runs))).Round(time.Millisecond))
	fmt.Fprintf(&sb, "steady state (first to last completion): agent %.1f/s, bare sbatch %.1f/s, ratio %.2f\n",
		steadyRate, bareSteadyRate, steadyRate/bareSteadyRate)
	per := func(d time.Duration) string {
		return (d / time.Duration(n*len(runs))).Round(10 * time.Microsecond).String()
	}
	agentPer := agentCPU.agentSelf + agentCPU.commands + agentCPU.slurm + agentCPU.test
	barePer := bareCPU.commands + bareCPU.slurm + bareCPU.test
	fmt.Fprintf(&sb, "CPU per submission: agent %s (its own process %s, the commands it ran %s, slurmctld+munged %s, development API and test %s)\n",
		per(agentPer), per(agentCPU.agentSelf), per(agentCPU.commands), per(agentCPU.slurm), per(agentCPU.test))
	fmt.Fprintf(&sb, "                    bare sbatch %s (sbatch processes %s, slurmctld+munged %s, test %s)\n",
		per(barePer), per(bareCPU.commands), per(bareCPU.slurm), per(bareCPU.test))
	// When both phases keep every CPU busy, each one's throughput is the machine's CPU divided
	// by its CPU per submission, and the ratio cannot exceed the ratio of those.
	if agentPer > 0 {
		fmt.Fprintf(&sb, "machine CPU busy (%d CPUs, every process): agent phase %.0f%% (from creation, the wait for the bridge's poll included), bare phase %.0f%%; with both near 100%% the ratio is bounded by bare/agent CPU per submission = %.2f\n",
			runtime.NumCPU(), 100*agentCPU.busyShare(), 100*bareCPU.busyShare(), float64(barePer)/float64(agentPer))
	}
	// Where the agent's time went: the slot time is SUBMIT_CONCURRENCY (the Slurm slots) x
	// wall; each histogram's sum is time spent in that step over all deliveries. Up to
	// submit.InFlight deliveries are handled at once, so the submit handler's time includes
	// waiting for a Slurm slot and may exceed the slot time.
	slot := float64(conc) * agentWall.Seconds()
	fmt.Fprintf(&sb, "agent time by step (%d Slurm slots x wall = %.1f slot-s; up to %d deliveries in flight, so handler time includes waiting for a slot):\n",
		conc, slot, submit.InFlight(conc))
	sums := map[string]float64{} // by step and series
	for _, h := range []struct{ name, metric string }{
		{"handler", "jobbergate_agent_handler_seconds"},
		{"sbatch", "jobbergate_agent_sbatch_seconds"},
		{"step", "jobbergate_agent_submit_step_seconds"},
		{"api", "jobbergate_agent_api_request_seconds"},
	} {
		agg := map[string]histDelta{}
		for _, r := range runs {
			for _, d := range histDeltas(r.before, r.after, h.metric) {
				a := agg[d.series]
				a.series, a.count, a.sum = d.series, a.count+d.count, a.sum+d.sum
				agg[d.series] = a
			}
		}
		keys := make([]string, 0, len(agg))
		for k := range agg {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y string) int { return int(agg[y].sum*1e6 - agg[x].sum*1e6) })
		for _, k := range keys {
			d := agg[k]
			sums[h.name+k] = d.sum
			fmt.Fprintf(&sb, "  %-8s %-55s n=%-6.0f mean=%-9s sum=%7.1fs (%4.1f%% of slot time)\n", h.name, d.series,
				d.count, d.mean().Round(100*time.Microsecond), d.sum, 100*d.sum/slot)
		}
	}
	// What the submit handler spends outside sbatch, its own API calls (file download,
	// SUBMITTED report) and the wait for a Slurm slot: user mapping, directory check, file
	// writes as the user, KV claim and record, the job state read.
	submitSum := sums[`handler{consumer="submit"}`]
	inPath := sums[`sbatch{result="ok"}`] + sums[`sbatch{result="error"}`] + sums[`step{step="slurm_slot_wait"}`]
	for k, v := range sums {
		if strings.HasPrefix(k, `api{call="file"`) || strings.HasPrefix(k, `api{call="submitted"`) || strings.HasPrefix(k, `api{call="rejected"`) {
			inPath += v
		}
	}
	if submitSum > 0 {
		fmt.Fprintf(&sb, "submit handler outside sbatch, its API calls and the wait for a Slurm slot: %.1fs (%.0f%% of handler time, mean %s per submission)\n",
			submitSum-inPath, 100*(submitSum-inPath)/submitSum,
			time.Duration((submitSum-inPath)/total*float64(time.Second)).Round(time.Millisecond))
	}
	if len(runs) > 0 && len(runs[0].steps) > 0 {
		fmt.Fprintf(&sb, "handler steps measured alone (serial, 20 calls each, idle agent):\n")
		for _, c := range runs[0].steps {
			fmt.Fprintf(&sb, "  %-32s mean %s", c.name, c.mean.Round(100*time.Microsecond))
			if c.err != nil {
				fmt.Fprintf(&sb, " (error: %v)", c.err)
			}
			sb.WriteString("\n")
		}
	}
	// Printed, not logged: the testing package cuts a benchmark's log to 10 lines without -v.
	fmt.Printf("--- %s\n%s", b.Name(), sb.String())
}

// pct returns the p-th percentile of sorted durations (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// freeLoopbackAddr returns a loopback address with a port that was free a moment ago.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitReady polls url until it answers 200.
func waitReady(t testing.TB, url string) {
	t.Helper()
	c := http.Client{Timeout: time.Second}
	testenv.Eventually(t, 2*time.Minute, func() bool {
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "agent not ready at %s", url)
}

// stepCost is the mean time of one step of the submit handler measured alone.
type stepCost struct {
	name string
	mean time.Duration
	err  error
}

// measureSteps times, one call after another (k each), the steps the submit handler runs
// besides sbatch and the API: the command mapper, the execution directory check and the file
// write as the user, and the job state read (scontrol show job) of job.
func measureSteps(w *world, job int64, k int) []stepCost {
	ctx := context.Background()
	u, dir := w.users["alice"], w.dirs["alice"]
	session, err := slurm.New(slurm.Options{StateSessions: 1})
	if err != nil {
		return []stepCost{{name: "state session client", err: err}}
	}
	defer session.Close()
	_, _ = session.JobState(ctx, job) // starts the session: the steps below time reads only
	steps := []struct {
		name string
		fn   func() error
	}{
		{"command mapper (fork+sh)", func() error { return exec.Command(w.mapper, email("alice")).Run() }},
		{"execution dir check as user", func() error { _, err := w.sl.ResolveExecutionDir(ctx, u, dir); return err }},
		{"file write as user", func() error {
			_, err := w.sl.WriteFile(ctx, u, dir, "step-cost.sh", []byte(jobScript))
			return err
		}},
		{"job state (scontrol show job)", func() error { _, err := w.sl.JobState(ctx, job); return err }},
		{"job state (scontrol session)", func() error { _, err := session.JobState(ctx, job); return err }},
	}
	var out []stepCost
	for _, s := range steps {
		c := stepCost{name: s.name}
		start := time.Now()
		for range k {
			if err := s.fn(); err != nil && c.err == nil {
				c.err = err
			}
		}
		c.mean = time.Since(start) / time.Duration(k)
		out = append(out, c)
	}
	return out
}
