package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

const (
	// clusterBenchEnv enables BenchmarkClusterCost; scripts/bench-cluster.sh sets it after
	// filling Slurm with other users' held jobs.
	clusterBenchEnv = "JBG_BENCH_CLUSTER"
	// clusterActive is the agent's active submissions (held jobs of alice and bob).
	clusterActive = 1000
	// clusterInterval is TASK_JOBS_INTERVAL_SECONDS: long enough for one cycle to end before
	// the next begins.
	clusterInterval = 15
	// clusterWarmCycles is how many cycles are measured after the first: with the default
	// UPDATE_REFRESH_CYCLES (10) the last ones include the refreshes (a tenth of the jobs read
	// and PUT again each cycle).
	clusterWarmCycles = 12
	// clusterReconciles is how many submissions one crash reconcile looks for at once.
	clusterReconciles = 8
	// samplePeriod is how often the descendants' RSS is sampled.
	samplePeriod = 5 * time.Millisecond
)

// BenchmarkClusterCost measures what the agent costs a login node and slurmctld on a cluster
// full of other users' jobs (scripts/bench-cluster.sh fills the real single-node Slurm with
// 10,000 then 50,000 held jobs of another user and runs this once for each). With 1,000 active
// submissions of its own it prints, per update cycle: wall time, the CPU of the agent and of
// the commands it ran, the peak RSS of each command (sampled every 5 ms) and of the agent,
// slurmctld's CPU and its RPC counts and time by type (sdiag); then the same for the reference
// agent's model (one scontrol show job process per active job) and for the previous design's
// single squeue --json of the whole queue; then one crash reconcile of 8 submissions
// (slurm.Client.FindMarkedJobs, 8 at once, as after a crash) next to the previous design's
// squeue --json per reconciled submission.
func BenchmarkClusterCost(b *testing.B) {
	if os.Getenv(clusterBenchEnv) == "" {
		b.Skip("run by scripts/bench-cluster.sh (make bench-cluster), which fills Slurm with other users' jobs first")
	}
	others := countJobs(b)
	w := newWorld(b, "e2e-bench-cluster")
	ids := w.addSubmissions(clusterActive, crashArgs)
	metricsAddr := freeLoopbackAddr(b)
	a := newAgent(b, "agent", w.agentEnv(b.TempDir(), "METRICS_LISTEN="+metricsAddr, "SUBMIT_CONCURRENCY=8",
		"TASK_JOBS_INTERVAL_SECONDS="+strconv.Itoa(clusterInterval), "BRIDGE_POLL_INTERVAL=5s", "LOG_LEVEL=warn"))
	a.start()
	waitReady(b, "http://"+metricsAddr+"/readyz")
	metrics := "http://" + metricsAddr + "/metrics"
	testenv.Eventually(b, 10*time.Minute, func() bool {
		return w.statusCounts(ids)[jobbergatetest.StatusSubmitted] == len(ids)
	}, "%d submissions SUBMITTED: %v", len(ids), testenv.Lazy(func() string { return fmtCounts(w.statusCounts(ids)) }))
	report("slurm holds %d other jobs; the agent's %d submissions are SUBMITTED (held jobs)", others, len(ids))

	sampler := startProcSampler(a.pid(), samplePeriod)
	defer sampler.end()
	b.ResetTimer()
	for range b.N {
		// The first cycle after the submissions PUTs every job (their state changed from the
		// SUBMITTED report); the next ones find nothing changed.
		var warm []cycleCost
		for c := range 1 + clusterWarmCycles {
			r := measureUpdateCycle(b, w, a, metrics, sampler)
			report("update cycle %d (%d active, %d other jobs): %s", c+1, clusterActive, others, r)
			if c > 0 {
				warm = append(warm, r)
			}
		}
		report("warm cycles (%d active, %d other jobs): %s", clusterActive, others, summarize(warm))
	}
	b.StopTimer()
	report("agent idle (between cycles): %.3f s CPU per second", idleCPU(a, 5*time.Second).Seconds())
	jobIDs := make([]int64, 0, len(ids))
	for _, id := range ids {
		if s, ok := w.api.Submission(id); ok && s.SlurmJobID != nil {
			jobIDs = append(jobIDs, int64(*s.SlurmJobID))
		}
	}
	a.stop()
	report("reference model (one scontrol show job process per active job, one after another): %s", measureCommands(b, jobIDs, func(id int64) []string {
		return []string{"scontrol", "show", "job", strconv.FormatInt(id, 10)}
	}))
	report("previous design (one squeue --json --states=all per cycle): %s", measureCommands(b, jobIDs[:1], func(int64) []string {
		return []string{"squeue", "--json", "--states=all"}
	}))
	report("crash reconcile of %d submissions at once: %s", clusterReconciles, measureReconcile(b, w, ids[:clusterReconciles]))
	report("previous design's reconcile: one squeue --json --states=all per reconciled submission, %d times the line above", clusterReconciles)
}

// report prints one line of the benchmark's figures on the standard output (a benchmark's own
// log is cut after ten lines).
func report(format string, args ...any) {
	fmt.Printf("cluster: "+format+"\n", args...)
}

// cycleCost is one measured update cycle.
type cycleCost struct {
	wall        time.Duration
	agent, cmds time.Duration
	ctld        time.Duration // slurmctld and munged
	agentRSS    int64
	peaks       []commandPeak
	rpcs        map[string]rpcStat
	handled     float64
}

func (c cycleCost) String() string {
	return fmt.Sprintf("%.0f messages in %.2f s wall; CPU agent %.3f s + commands %.3f s = %.3f s; agent RSS %.1f MB; commands: %s; slurmctld+munged CPU %.3f s, RPCs %s (%.3f s in RPCs)",
		c.handled, c.wall.Seconds(), c.agent.Seconds(), c.cmds.Seconds(), (c.agent + c.cmds).Seconds(), float64(c.agentRSS)/1e6,
		formatPeaks(c.peaks), c.ctld.Seconds(), formatRPCs(c.rpcs), rpcSeconds(c.rpcs))
}

// summarize prints the mean and the largest of the cycles' figures.
func summarize(cs []cycleCost) string {
	var cpu, rpc, maxCPU, maxRPC time.Duration
	var maxRSS int64
	reads := 0
	for _, c := range cs {
		t := c.agent + c.cmds
		r := time.Duration(rpcSeconds(c.rpcs) * float64(time.Second))
		cpu, rpc = cpu+t, rpc+r
		maxCPU, maxRPC = max(maxCPU, t), max(maxRPC, r)
		maxRSS = max(maxRSS, c.agentRSS)
		for _, p := range c.peaks {
			maxRSS = max(maxRSS, p.maxRSS)
		}
		reads += int(c.rpcs["REQUEST_JOB_INFO_SINGLE"].count)
	}
	n := time.Duration(max(len(cs), 1))
	return fmt.Sprintf("CPU agent+commands mean %.3f s, max %.3f s; slurmctld in RPCs mean %.3f s, max %.3f s; single-job reads %d in %d cycles; largest RSS of any process %.1f MB",
		(cpu / n).Seconds(), maxCPU.Seconds(), (rpc / n).Seconds(), maxRPC.Seconds(), reads, len(cs), float64(maxRSS)/1e6)
}

// measureUpdateCycle measures the next update cycle: from the bridge's listing of active
// submissions (seen in the development API, in this process) to the moment the update consumer
// has handled one message per active submission. The agent's metrics are scraped only after the
// cycle began, every 250 ms (each scrape costs the agent a little CPU: counted in the cycle,
// and the wall time is rounded up to the scrape).
func measureUpdateCycle(b *testing.B, w *world, a *agentProc, metrics string, sampler *procSampler) cycleCost {
	b.Helper()
	handled := func() float64 {
		m, err := scrapeMetrics(metrics)
		if err != nil {
			b.Fatal(err)
		}
		var n float64
		for k, v := range m {
			if strings.HasPrefix(k, "jobbergate_agent_messages_total{") && strings.Contains(k, `consumer="update"`) {
				n += v
			}
		}
		return n
	}
	last := handled()
	lists := func() int { return w.api.Calls(http.MethodGet, "/jobbergate/job-submissions/agent/active") }
	listed := lists()
	resetSdiag(b)
	testenv.Eventually(b, 2*clusterInterval*time.Second, func() bool { return lists() > listed }, "the next update cycle")
	c0 := takeCPU(a.pid())
	start := time.Now()
	sampler.reset()
	var now float64
	for now = handled(); now < last+clusterActive; now = handled() {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("update cycle: %v of %d messages handled after 5 min", now-last, clusterActive)
		}
		time.Sleep(250 * time.Millisecond)
	}
	wall := time.Since(start)
	time.Sleep(100 * time.Millisecond) // the last acks
	u := cpuBetween(c0, takeCPU(a.pid()))
	r := cycleCost{wall: wall, agent: u.agentSelf, cmds: u.commands, ctld: u.slurm,
		peaks: sampler.peaks(), rpcs: readSdiag(b), handled: now - last}
	r.agentRSS, _ = vmRSS(a.pid())
	return r
}

// idleCPU returns the agent's CPU per second over d with nothing to do (heartbeats, the
// bridge's polls): the floor every cycle figure includes.
func idleCPU(a *agentProc, d time.Duration) time.Duration {
	c0 := takeCPU(a.pid())
	time.Sleep(d)
	u := cpuBetween(c0, takeCPU(a.pid()))
	return (u.agentSelf + u.commands) * time.Second / d
}

// measureCommands runs one command per id, one after another, as root (as the reference agent
// does its reads) and returns their CPU, peak RSS and slurmctld's side.
func measureCommands(b *testing.B, ids []int64, argv func(int64) []string) string {
	b.Helper()
	resetSdiag(b)
	ctld0 := daemonCPU("slurmctld", "munged")
	var cpu time.Duration
	var maxRSS int64
	start := time.Now()
	for _, id := range ids {
		args := argv(id)
		cmd := exec.Command(args[0], args[1:]...)
		if err := cmd.Run(); err != nil {
			b.Fatalf("%q: %v", args, err)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		maxRSS = max(maxRSS, ru.Maxrss*1024)
	}
	wall := time.Since(start)
	rpcs := readSdiag(b)
	return fmt.Sprintf("%d processes in %.2f s wall; CPU %.3f s; peak RSS of one %.1f MB; slurmctld+munged CPU %.3f s, RPCs %s (%.3f s in RPCs)",
		len(ids), wall.Seconds(), cpu.Seconds(), float64(maxRSS)/1e6, (daemonCPU("slurmctld", "munged") - ctld0).Seconds(), formatRPCs(rpcs), rpcSeconds(rpcs))
}

// measureReconcile runs FindMarkedJobs for the submissions at once with a client set up as the
// agent's, and returns what it cost.
func measureReconcile(b *testing.B, w *world, subs []int) string {
	b.Helper()
	c, err := slurm.New(slurm.Options{StateSessions: 2, LocalReads: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	type target struct {
		sub int
		id  slurm.Identity
		job int64
	}
	var targets []target
	for _, sub := range subs {
		s, _ := w.api.Submission(sub)
		jobs, err := c.JobStates(ctx, []int64{int64(*s.SlurmJobID)})
		if err != nil {
			b.Fatal(err)
		}
		j := jobs[int64(*s.SlurmJobID)]
		markers := slurm.MarkersOf(j.Comment, int64(sub))
		if len(markers) != 1 {
			b.Fatalf("submission %d: job %d has markers %q", sub, j.JobID, markers)
		}
		owner := w.users[w.ownerOf(s)]
		targets = append(targets, target{sub: sub, job: j.JobID,
			id: slurm.Identity{Owner: owner, Marker: markers[0], Since: j.SubmitTime.Add(-time.Minute)}})
	}
	sampler := startProcSampler(os.Getpid(), samplePeriod)
	resetSdiag(b)
	c0 := takeCPU(0)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(targets))
	for i, t := range targets {
		wg.Go(func() {
			found, err := c.FindMarkedJobs(ctx, int64(t.sub), t.id)
			if err == nil && (len(found.Jobs) != 1 || found.Jobs[0].JobID != t.job) {
				err = fmt.Errorf("submission %d: found %+v, want job %d", t.sub, found, t.job)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	wall := time.Since(start)
	u := cpuBetween(c0, takeCPU(0))
	u.commands += liveChildrenCPU(os.Getpid())
	sampler.end()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	rpcs := readSdiag(b)
	return fmt.Sprintf("%.2f s wall; CPU of the commands %.3f s; commands: %s; slurmctld+munged CPU %.3f s, RPCs %s (%.3f s in RPCs)",
		wall.Seconds(), u.commands.Seconds(), formatPeaks(sampler.peaks()), u.slurm.Seconds(), formatRPCs(rpcs), rpcSeconds(rpcs))
}

// countJobs returns how many jobs slurmctld holds (a cheap listing).
func countJobs(b *testing.B) int {
	b.Helper()
	out, err := exec.Command("squeue", "-h", "--states=all", "--format=%i").Output()
	if err != nil {
		b.Fatalf("squeue: %v", err)
	}
	return len(strings.Fields(string(out)))
}

// rpcStat is one line of sdiag's RPC statistics by message type.
type rpcStat struct {
	count, totalMicros int64
}

var sdiagRPC = regexp.MustCompile(`^\s*([A-Z_]+)\s+\(\s*\d+\)\s+count:(\d+)\s+ave_time:\d+\s+total_time:(\d+)`)

// resetSdiag resets slurmctld's statistics (sdiag -r, as root).
func resetSdiag(b *testing.B) {
	b.Helper()
	if out, err := exec.Command("sdiag", "-r").CombinedOutput(); err != nil {
		b.Fatalf("sdiag -r: %v: %s", err, out)
	}
}

// readSdiag returns slurmctld's RPC counts and times by message type since the last reset.
func readSdiag(b *testing.B) map[string]rpcStat {
	b.Helper()
	out, err := exec.Command("sdiag").Output()
	if err != nil {
		b.Fatalf("sdiag: %v", err)
	}
	res := map[string]rpcStat{}
	in := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.Contains(line, "by message type"):
			in = true
			continue
		case strings.Contains(line, "by user"), strings.Contains(line, "Pending RPC"):
			in = false
		}
		if m := sdiagRPC.FindStringSubmatch(line); in && m != nil {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			t, _ := strconv.ParseInt(m[3], 10, 64)
			res[m[1]] = rpcStat{count: n, totalMicros: t}
		}
	}
	return res
}

// rpcSeconds is slurmctld's time in the RPCs, the sdiag calls themselves left out.
func rpcSeconds(rpcs map[string]rpcStat) float64 {
	var micros int64
	for k, s := range rpcs {
		if k != "REQUEST_STATS_INFO" {
			micros += s.totalMicros
		}
	}
	return float64(micros) / 1e6
}

// formatRPCs prints "TYPE count (ms), ..." largest time first, the sdiag calls themselves left
// out.
func formatRPCs(rpcs map[string]rpcStat) string {
	type kv struct {
		k string
		v rpcStat
	}
	var list []kv
	for k, v := range rpcs {
		if k == "REQUEST_STATS_INFO" {
			continue
		}
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v.totalMicros > list[j].v.totalMicros })
	var parts []string
	for _, e := range list {
		parts = append(parts, fmt.Sprintf("%s %d (%.1f ms)", e.k, e.v.count, float64(e.v.totalMicros)/1e3))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
