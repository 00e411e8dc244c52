package consumers

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// BenchmarkRunner measures publish + consume + DoubleAck through the runner with a no-op handler
// on the embedded server (file storage, sync_interval always), reporting msgs/s end to end.
func BenchmarkRunner(b *testing.B) {
	for _, conc := range []int{1, 16, 64} {
		b.Run("concurrency="+strconv.Itoa(conc), func(b *testing.B) {
			bk, topo := newBroker(b, func(l *broker.Limits) { l.MaxAckPending = 10_000 })
			var handled atomic.Int64
			r := NewRunner(bk.JS, ConfigFor(topo, topo.Metrics, conc), HandlerFunc(func(ctx context.Context, m *Message) Decision {
				handled.Add(1)
				return Ack()
			}), testenv.Logger(b))
			stop := runRunner(b, r)
			ctx := context.Background()
			payload := make([]byte, 100)
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if _, err := bk.JS.PublishAsync(topo.Metrics.Subject(strconv.Itoa(i)), payload); err != nil {
					b.Fatal(err)
				}
				if i%1000 == 999 || i == b.N-1 {
					select {
					case <-bk.JS.PublishAsyncComplete():
					case <-time.After(time.Minute):
						b.Fatal("publishes not acknowledged")
					}
				}
			}
			for handled.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			// Wait for the acks to reach the server: the queue is empty.
			s, _ := bk.JS.Stream(ctx, topo.Metrics.Stream)
			for {
				info, err := s.Info(ctx)
				if err == nil && info.State.Msgs == 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			stop()
		})
	}
}
