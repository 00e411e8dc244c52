package submit

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// BenchmarkEndToEndSubmit pushes 100 held submissions per iteration through the whole submit
// path (bridge poller, SUBMIT stream, runner with 8 in flight, real sbatch, reports to the
// development API) and, for comparison, runs bare sbatch of the same script as the same user
// with the same concurrency. It reports submissions/s of both, their ratio, and the p50/p95
// latency from the submission's creation to SUBMITTED.
func BenchmarkEndToEndSubmit(b *testing.B) {
	const n, conc = 100, 8
	e := newE2E(b, nil)
	alice := e.users["alice"]
	dir := e.tempDir(alice.UID, alice.GID, 0o700)
	e.run(e.handler("bench/1"), conc)
	var agentDur, bareDur time.Duration
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		created := map[int]time.Time{}
		var ids []int
		for i := range n {
			id, _ := e.add("alice@example.com", &dir, heldArgs, entryScript(fmt.Sprintf("job-%d.sh", i), jobScript))
			ids = append(ids, id)
			created[id] = time.Now()
		}
		start := time.Now()
		if st := e.pollOnce(); st != n {
			b.Fatalf("published %d, want %d", st, n)
		}
		done := map[int]bool{}
		for len(done) < n {
			for _, id := range ids {
				if done[id] {
					continue
				}
				if s, ok := e.api.Submission(id); ok && s.Status != "CREATED" {
					done[id] = true
					lat = append(lat, time.Since(created[id]))
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		agentDur += time.Since(start)
		e.cancelJobs()

		// Bare sbatch, same script, same concurrency.
		start = time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, conc)
		var mu sync.Mutex
		var bare []int64
		for range n {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				res, err := e.sl.Submit(context.Background(), slurm.SubmitRequest{User: alice, Dir: dir,
					Script: []byte(jobScript), ExtraArgs: heldArgs})
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				bare = append(bare, res.JobID)
				mu.Unlock()
			})
		}
		wg.Wait()
		bareDur += time.Since(start)
		for _, id := range bare {
			_ = e.sl.Cancel(context.Background(), id)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	agentRate := float64(n*b.N) / agentDur.Seconds()
	bareRate := float64(n*b.N) / bareDur.Seconds()
	b.ReportMetric(agentRate, "agent-subs/s")
	b.ReportMetric(bareRate, "sbatch-subs/s")
	b.ReportMetric(agentRate/bareRate, "ratio")
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Milliseconds()), "p95-ms")
}

// pollOnce runs one bridge cycle and returns how many messages it published.
func (e *e2e) pollOnce() int {
	return e.poller.Cycle(context.Background()).Published
}
