package update

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// BenchmarkUpdateCycle refreshes 10,000 active submissions in one cycle: the bridge lists them
// from the development API (100 pages) and publishes 10,000 messages; the batch runner (batches
// of up to 1,000) reads each job from Slurm (an in-memory Slurm: the cost of real reads is
// measured by scripts/bench-cluster.sh) and PUTs. Each iteration runs a cold cycle (nothing
// remembered: every job is PUT) and a warm one (nothing changed: no PUT). Reported per cycle:
// seconds, job reads, API calls, next to the reference agent's model (one scontrol process and
// one PUT per job, plus the list pages).
func BenchmarkUpdateCycle(b *testing.B) {
	const n = 10_000
	sc := newFakeSlurm()
	for i := 1; i <= n; i++ {
		sc.set(runningJob(int64(i)))
	}
	sync := time.Duration(0)
	if v := os.Getenv("JBG_BENCH_SYNC_INTERVAL"); v != "" {
		var err error
		if sync, err = time.ParseDuration(v); err != nil {
			b.Fatal(err)
		}
	}
	e := newEnvSync(b, sc, nil, sync)
	for i := 1; i <= n; i++ {
		e.api.AddSubmission(jobbergatetest.Submission{Name: "bench", OwnerEmail: "alice@example.com",
			ClientID: testClientID, Status: "SUBMITTED", SlurmJobID: ptr2(i)})
	}
	e.start(b)

	run := func(cold bool) (secs float64, procs, calls, puts int) {
		if cold {
			e.handler.tracker = newTracker(e.handler.opts.RefreshCycles, e.handler.opts.ForgetAfter)
		}
		calls0, st0 := e.api.Calls("", "/jobbergate/"), e.handler.Stats()
		t0 := time.Now()
		if st := e.cycle(b); st.Published != n {
			b.Fatalf("cycle published %+v, want %d", st, n)
		}
		b.Logf("cold=%v: bridge listed and published %d in %s", cold, n, time.Since(t0).Round(time.Millisecond))
		testenv.Eventually(b, 5*time.Minute, func() bool {
			st := e.handler.Stats()
			return st.Puts+st.Skipped-st0.Puts-st0.Skipped >= n
		}, "%d submissions handled", n)
		e.drain(b)
		secs = time.Since(t0).Seconds()
		st := e.handler.Stats()
		return secs, int(st.SlurmReads - st0.SlurmReads), e.api.Calls("", "/jobbergate/") - calls0, int(st.Puts - st0.Puts)
	}

	var coldS, warmS float64
	var coldProcs, warmProcs, coldCalls, warmCalls, coldPuts, warmPuts int
	b.ResetTimer()
	for range b.N {
		s, p, c, u := run(true)
		coldS, coldProcs, coldCalls, coldPuts = coldS+s, coldProcs+p, coldCalls+c, coldPuts+u
		s, p, c, u = run(false)
		warmS, warmProcs, warmCalls, warmPuts = warmS+s, warmProcs+p, warmCalls+c, warmPuts+u
	}
	b.StopTimer()
	N := float64(b.N)
	b.ReportMetric(coldS/N, "cold_s/cycle")
	b.ReportMetric(float64(coldProcs)/N, "cold_job_reads/cycle")
	b.ReportMetric(float64(coldCalls)/N, "cold_api_calls/cycle")
	b.ReportMetric(float64(coldPuts)/N, "cold_puts/cycle")
	b.ReportMetric(warmS/N, "warm_s/cycle")
	b.ReportMetric(float64(warmProcs)/N, "warm_job_reads/cycle")
	b.ReportMetric(float64(warmCalls)/N, "warm_api_calls/cycle")
	b.ReportMetric(n, "ref_slurm_procs/cycle")
	b.ReportMetric(n+n/100, "ref_api_calls/cycle")
	if puts := e.api.Calls(http.MethodPut, agentPath); puts < coldPuts {
		b.Fatalf("API saw %d PUTs, handler counted %d", puts, coldPuts)
	}
	b.Logf("reference model per cycle: %d scontrol processes, %d PUTs + %d list pages (and only 500 jobs per cycle with MAX_PAGES_PER_CYCLE=5)", n, n, n/100)
}
