package e2e

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// BenchmarkDownloadMemory measures the agent's peak RSS while 32 submissions, each with a
// supporting file of MAX_FILE_BYTES (16 MiB), are prepared at once (SUBMIT_CONCURRENCY=8 lets 32
// deliveries download, write and report at the same time) and every download is held back
// 300 ms by the API so that they overlap. Without a bound the files alone would take 512 MiB;
// the download budget (8 files of MAX_FILE_BYTES) holds it to 128 MiB. It prints the agent's
// peak RSS before the burst and after it, and their difference.
func BenchmarkDownloadMemory(b *testing.B) {
	const (
		n        = 32
		fileSize = 16 << 20
	)
	w := newWorld(b, "e2e-bench-memory")
	big := bytes.Repeat([]byte("0123456789abcde\n"), fileSize/16)
	scripts := map[string]int{}
	for _, name := range owners {
		scripts[name] = w.api.AddJobScript(jobbergatetest.JobScript{Name: "e2e-memory-" + name, OwnerEmail: email(name),
			Files: []jobbergatetest.File{
				{Filename: "job.sh", FileType: jobbergatetest.FileTypeEntrypoint, Content: []byte(jobScript)},
				{Filename: "data.txt", FileType: jobbergatetest.FileTypeSupport, Content: big},
			}})
	}
	a := newAgent(b, "agent", w.agentEnv(b.TempDir(), "SUBMIT_CONCURRENCY=8", "LOG_LEVEL=warn"))
	a.start()
	testenv.Eventually(b, time.Minute, func() bool {
		return w.api.Calls(http.MethodGet, "/jobbergate/job-submissions/agent/pending") > 0
	}, "the agent's first poll")
	time.Sleep(time.Second)
	before, _ := vmHWM(a.pid())

	b.ResetTimer()
	for range b.N {
		w.api.DelayNext(http.MethodGet, "/jobbergate/job-scripts/", 300*time.Millisecond, 2*n)
		ids := w.addSubmissionsOf(n, crashArgs, scripts)
		testenv.Eventually(b, 5*time.Minute, func() bool {
			return w.statusCounts(ids)[jobbergatetest.StatusSubmitted] == n
		}, "%d submissions SUBMITTED: %v", n, testenv.Lazy(func() string { return fmtCounts(w.statusCounts(ids)) }))
	}
	b.StopTimer()
	after, _ := vmHWM(a.pid())
	a.stop()
	b.ReportMetric(float64(before)/1e6, "rss_peak_before_MB")
	b.ReportMetric(float64(after)/1e6, "rss_peak_after_MB")
	b.ReportMetric(float64(after-before)/1e6, "rss_peak_growth_MB")
	b.Logf("%d submissions with a %d MiB file each (%d MiB in all): agent peak RSS %.1f MB before, %.1f MB after",
		n, fileSize>>20, n*fileSize>>20, float64(before)/1e6, float64(after)/1e6)
}
