package slurm

import (
	"context"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// BenchmarkResolveExecutionDir is the per-submission cost of the directory guard (realpath and
// find run as alice), to set against CheckExecutionDir's single test(1).
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
			if _, err := c.ResolveExecutionDir(ctx, alice, dir, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check-only", func(b *testing.B) {
		for b.Loop() {
			if err := c.CheckExecutionDir(ctx, alice, dir); err != nil {
				b.Fatal(err)
			}
		}
	})
}
