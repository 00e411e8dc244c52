package influx_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
)

// genStream produces one measurement's points for `series` series over `times` seconds, in
// time order, in batches like a chunked InfluxDB answer, without holding them.
type genStream struct {
	m                  int
	hosts, steps, task []string
	series, times      int
	next               int // next point index (time-major)
	buf                []influx.Point
}

func newGenStream(m, series, times, batch int) *genStream {
	g := &genStream{m: m, series: series, times: times, buf: make([]influx.Point, 0, batch)}
	for s := range series {
		g.hosts = append(g.hosts, "node-"+strconv.Itoa(s/8))
		g.steps = append(g.steps, strconv.Itoa(s%4-1)) // -1..2 (-1 is not special; fine)
		g.task = append(g.task, strconv.Itoa(s%8/4))
	}
	return g
}

func (g *genStream) Next() ([]influx.Point, error) {
	total := g.series * g.times
	if g.next >= total {
		return nil, io.EOF
	}
	g.buf = g.buf[:0]
	for g.next < total && len(g.buf) < cap(g.buf) {
		s, t := g.next%g.series, g.next/g.series
		g.buf = append(g.buf, influx.Point{Time: 1_700_000_000 + int64(t), Host: g.hosts[s], Step: g.steps[s],
			Task: g.task[s], Measurement: g.m, Value: float64(t)})
		g.next++
	}
	return g.buf, nil
}

func (g *genStream) Close() error { return nil }

// BenchmarkAggregate streams 10 million points (1,000 series x 10 measurements x 1,000 s; and a
// 1 million point run for comparison) through Merge and the Aggregator, as Sync does, and
// reports points/s and the peak heap above the starting point. The peak stays flat from 1M to
// 10M points: memory follows the rows open at the streams' current times, not the points read.
func BenchmarkAggregate(b *testing.B) {
	for _, total := range []int{1_000_000, 10_000_000} {
		const series = 1000
		times := total / series / len(influx.Measurements)
		b.Run(fmt.Sprintf("points=%d", total), func(b *testing.B) {
			var peak uint64
			var rows int
			var elapsed time.Duration
			for range b.N {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base := ms.HeapAlloc
				streams := make([]influx.Stream, len(influx.Measurements))
				for m := range streams {
					streams[m] = newGenStream(m, series, times, 10_000)
				}
				agg := influx.NewAggregator(nil, nil)
				rows = 0
				flushes := 0
				start := time.Now()
				err := influx.Merge(context.Background(), streams, agg, func(r []influx.Row) error {
					rows += len(r)
					if flushes++; flushes%64 == 0 {
						runtime.ReadMemStats(&ms)
						if ms.HeapAlloc > base {
							peak = max(peak, ms.HeapAlloc-base)
						}
					}
					return nil
				})
				elapsed += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if rows != series*times {
					b.Fatalf("%d rows, want %d", rows, series*times)
				}
			}
			b.ReportMetric(float64(total)*float64(b.N)/elapsed.Seconds(), "points/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(rows), "rows")
		})
	}
}
