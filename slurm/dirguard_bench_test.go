package slurm

import (
	"context"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// BenchmarkResolveExecutionDir is the per-submission cost of the directory guard and of one file
// write, both with alice's file-system identity inside the agent, next to the cost of starting
// one process as alice (what each step cost when it ran realpath, find, tee and mv).
func BenchmarkResolveExecutionDir(b *testing.B) {
	testenv.Require(b, "root", testenv.IsRoot(), "runs commands as alice: run as root")
	c, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	alice, err := c.LookupUser("alice")
	testenv.Require(b, "users", err == nil, "no local user alice: "+startSlurm)
	dir := userDir(b, alice)
	ctx := context.Background()
	b.Run("resolve", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.ResolveExecutionDir(ctx, alice, dir); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write-file", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.WriteFile(ctx, alice, dir, "bench.sh", []byte("#!/bin/sh\ntrue\n")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-process-as-user", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.RunAsUser(ctx, alice, dir, nil, "true"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
