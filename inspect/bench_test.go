package inspect

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkListDead reads 5,000 dead letters (headers only, one temporary consumer per read) and
// reports letters read per second.
func BenchmarkListDead(b *testing.B) {
	br, topo := newBroker(b)
	ctx := context.Background()
	const n = 5000
	for i := range n {
		m := deadLetterMsg(topo.Submit.DeadSubject, topo.Submit.Stream, topo.Submit.Subject(strconv.Itoa(i)))
		if _, err := br.JS.PublishMsg(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		letters, err := ListDead(ctx, br.JS, topo, 0)
		if err != nil || len(letters) != n {
			b.Fatalf("read %d letters: %v", len(letters), err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "letters/s")
}

// BenchmarkCollect measures one status report over an idle deployment with 100 dead letters.
func BenchmarkCollect(b *testing.B) {
	br, topo := newBroker(b)
	ctx := context.Background()
	for i := range 100 {
		m := deadLetterMsg(topo.Submit.DeadSubject, topo.Submit.Stream, topo.Submit.Subject(strconv.Itoa(i)))
		if _, err := br.JS.PublishMsg(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		r, err := Collect(ctx, br.JS, topo)
		if err != nil || r.Dead.Total != 100 {
			b.Fatalf("collect: %v, %d dead", err, r.Dead.Total)
		}
	}
}
