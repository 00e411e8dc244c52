package slurm

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/slurmtest"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkJobState compares reading the state of 1,000 jobs with JobStates (each job read
// singly, here without state sessions: one scontrol process per job) against one scontrol show
// job <id> per job run directly (the reference agent's way). Setup
// submits 1,000 held jobs as alice and cancels them at the end. Each iteration does both reads;
// the metrics are the milliseconds of each and their ratio.
func BenchmarkJobState(b *testing.B) {
	c, alice := realSlurm(b, Options{})
	ctx := context.Background()
	const n = 1000
	dir := userDir(b, alice)

	setup := time.Now()
	ids := make([]int64, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				res, err := c.Submit(ctx, SubmitRequest{User: alice, Dir: dir, Script: []byte("#!/bin/sh\ntrue\n"),
					ExtraArgs: []string{"--hold", "--output=/dev/null", "--job-name=jbg-bench"}})
				if err != nil {
					errs <- err
					continue
				}
				ids[i] = res.JobID
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	b.Cleanup(func() {
		args := make([]string, 0, n)
		for _, id := range ids {
			if id != 0 {
				args = append(args, strconv.FormatInt(id, 10))
			}
		}
		if out, err := exec.Command("scancel", args...).CombinedOutput(); err != nil {
			b.Logf("scancel: %v: %s", err, out)
		}
	})
	if err := <-errs; err != nil {
		b.Fatalf("submitting held jobs: %v", err)
	}
	b.Logf("setup: %d held jobs submitted in %s", n, time.Since(setup).Round(time.Millisecond))

	var batchedTotal, perJobTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		got, err := c.JobStates(ctx, ids)
		if err != nil {
			b.Fatal(err)
		}
		batchedTotal += time.Since(t0)
		for _, id := range ids {
			if got[id].JobState != "PENDING" {
				b.Fatalf("job %d is %q, want PENDING (held)", id, got[id].JobState)
			}
		}

		t1 := time.Now()
		for _, id := range ids {
			j, err := c.JobState(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if j.JobState != "PENDING" {
				b.Fatalf("scontrol: job %d is %q", id, j.JobState)
			}
		}
		perJobTotal += time.Since(t1)
	}
	b.StopTimer()
	batched := float64(batchedTotal.Microseconds()) / 1000 / float64(b.N)
	perJob := float64(perJobTotal.Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(batched, "batched-ms/1000jobs")
	b.ReportMetric(perJob, "scontrol-per-job-ms/1000jobs")
	b.ReportMetric(perJob/batched, "speedup")
	b.Logf("1000 jobs: batched squeue --json %.1f ms, one scontrol per job %.1f ms, ratio %.1fx", batched, perJob, perJob/batched)
}

// BenchmarkListingMemory reads a 100,000-job answer of squeue (an owner with that many jobs, in
// the form OwnerStates and FindMarkedJobs ask for) and prints the peak Go heap growth during each
// read next to the size of the answer, with the collector set to run at 10 % growth so that the
// peak is what the read holds, not garbage waiting for a collection: both listings stream
// squeue's output, so neither holds the answer (OwnerStates keeps a map entry per job).
func BenchmarkListingMemory(b *testing.B) {
	const n = 100_000
	for _, tt := range []struct {
		name string
		line func(i int) string
		read func(c *Client) error
	}{
		{"OwnerStates", func(i int) string { return fmt.Sprintf("%d|PENDING|JobHeldUser\n", 1_000_000+i) }, func(c *Client) error {
			got, err := c.OwnerStates(context.Background(), 1001)
			if err == nil && len(got) != n {
				err = fmt.Errorf("listed %d jobs, want %d", len(got), n)
			}
			return err
		}},
		{"FindMarkedJobs listing", func(i int) string { // a 200-byte comment each
			return fmt.Sprintf("%d|%s\n", 1_000_000+i, strings.Repeat("c", 200))
		}, func(c *Client) error {
			_, _, err := c.listMarked(context.Background(), 1001, 7, "jobbergate-submission:7:00")
			return err
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var answer strings.Builder
			for i := range n {
				answer.WriteString(tt.line(i))
			}
			size := answer.Len()
			squeue := slurmtest.New(b, "squeue", slurmtest.Response{Stdout: answer.String()})
			answer.Reset()
			c, err := New(Options{SqueuePath: squeue.Path, SlurmVersion: "24.11"})
			if err != nil {
				b.Fatal(err)
			}
			defer debug.SetGCPercent(debug.SetGCPercent(10))
			var peak uint64
			for range b.N {
				runtime.GC()
				base := heapBytes()
				stop := sampleHeap(&peak)
				err := tt.read(c)
				stop()
				if err != nil {
					b.Fatal(err)
				}
				peak -= min(peak, base)
			}
			b.ReportMetric(float64(size)/1e6, "answer_MB")
			b.ReportMetric(float64(peak)/1e6, "peak_heap_growth_MB")
		})
	}
}

// heapBytes is the Go heap in use (live and not yet swept objects).
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap records the largest heapBytes seen every 200 µs into peak until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	*peak = heapBytes()
	wg.Go(func() {
		for !done.Load() {
			*peak = max(*peak, heapBytes())
			time.Sleep(200 * time.Microsecond)
		}
	})
	return func() { done.Store(true); wg.Wait(); *peak = max(*peak, heapBytes()) }
}
