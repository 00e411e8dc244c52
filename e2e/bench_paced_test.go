package e2e

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

const (
	// pacedRateEnv is the arrival rate of BenchmarkSubmitLatencyPaced in submissions per
	// second (default 20).
	pacedRateEnv = "JBG_E2E_BENCH_PACED_RATE"
	// pacedSeconds is how long BenchmarkSubmitLatencyPaced keeps creating submissions.
	pacedSeconds = 20
)

// BenchmarkSubmitLatencyPaced measures the agent's latency when it is not the bottleneck:
// submissions arrive one by one at a steady rate ($JBG_E2E_BENCH_PACED_RATE per second, 20 by
// default, well under what the agent sustains here) for 20 s, and each one's latency is measured
// from its own creation to SUBMITTED. With a burst (BenchmarkSubmitThroughput) the median
// submission waits behind half the burst, so its latency measures throughput; here it measures
// the path: the bridge's poll delay (uniform over BRIDGE_POLL_INTERVAL) plus one handler run.
func BenchmarkSubmitLatencyPaced(b *testing.B) {
	rate := 20
	if v := os.Getenv(pacedRateEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1000 {
			b.Fatalf("%s=%q: want an integer from 1 to 1000", pacedRateEnv, v)
		}
		rate = n
	}
	w := newWorld(b, "e2e-bench-paced")
	metricsAddr := freeLoopbackAddr(b)
	a := newAgent(b, "agent", w.agentEnv(b.TempDir(), "METRICS_LISTEN="+metricsAddr,
		"BRIDGE_POLL_INTERVAL="+benchPoll.String(), "LOG_LEVEL=warn",
		"TASK_JOBS_INTERVAL_SECONDS="+strconv.Itoa(benchJobsInterval)))
	a.start()
	waitReady(b, "http://"+metricsAddr+"/readyz")
	testenv.Eventually(b, time.Minute, func() bool {
		return w.api.Calls(http.MethodGet, "/jobbergate/job-submissions/agent/active") > 0
	}, "the bridge's first listing of active submissions")
	time.Sleep(2 * time.Second)

	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		created := map[int]time.Time{}
		tick := time.NewTicker(time.Second / time.Duration(rate))
		for range rate * pacedSeconds {
			<-tick.C
			id := w.addSubmissions(1, benchArgs)[0]
			created[id] = time.Now()
		}
		tick.Stop()
		testenv.Eventually(b, 5*time.Minute, func() bool {
			if ex := a.unexpectedExits(); len(ex) > 0 {
				b.Fatalf("agent exited: %v", ex)
			}
			for id := range created {
				s, _ := w.api.Submission(id)
				if s.Status == jobbergatetest.StatusRejected {
					b.Fatalf("submission %d rejected: %s", id, derefS(s.ReportMessage))
				}
				if s.Status != jobbergatetest.StatusSubmitted {
					return false
				}
			}
			return true
		}, "not every paced submission SUBMITTED")
		for id, at := range created {
			s, _ := w.api.Submission(id)
			lat = append(lat, submittedAt(s).Sub(at))
		}
		b.StopTimer()
		w.cancelJobs()
		b.StartTimer()
	}
	b.StopTimer()
	a.stop()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(pct(lat, 50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 95)), "p95-ms")
	b.ReportMetric(ms(pct(lat, 99)), "p99-ms")
	fmt.Printf("--- %s\n%d submissions arriving at %d/s for %d s, BRIDGE_POLL_INTERVAL=%s: latency from creation to SUBMITTED p50 %s, p95 %s, p99 %s, max %s (target p50 < %s)\n",
		b.Name(), len(lat), rate, pacedSeconds, benchPoll, pct(lat, 50).Round(time.Millisecond), pct(lat, 95).Round(time.Millisecond),
		pct(lat, 99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), benchPoll+time.Second)
}
