package slurm

import (
	"context"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkJobState compares reading the state of 1,000 jobs with one batched squeue --json call
// (JobStates) against one scontrol show job <id> per job (the reference agent's way). Setup
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
