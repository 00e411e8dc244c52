package telemetry

import (
	"context"
	"log/slog"
	"runtime/metrics"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
)

// allocSample is the runtime's cumulative count of bytes allocated on the heap.
const allocSample = "/gc/heap/allocs:bytes"

func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: allocSample}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// DebugMeasure logs, at debug level, how long each message took and how many bytes the process
// allocated meanwhile (the reference's measure-memory helper). With several handlers running at
// once the bytes include the others' allocations: it is an upper bound. When debug logging is
// off it costs one Enabled check.
func DebugMeasure(logger *slog.Logger, consumer string) consumers.Middleware {
	return func(next consumers.Handler) consumers.Handler {
		return consumers.HandlerFunc(func(ctx context.Context, msg *consumers.Message) consumers.Decision {
			if !logger.Enabled(ctx, slog.LevelDebug) {
				return next.Handle(ctx, msg)
			}
			start, before := time.Now(), heapAllocated()
			d := next.Handle(ctx, msg)
			logger.LogAttrs(ctx, slog.LevelDebug, "handler measured",
				slog.String("consumer", consumer),
				slog.String("submission_id", msg.SubmissionID()),
				slog.String("decision", d.String()),
				slog.Duration("elapsed", time.Since(start)),
				slog.Uint64("allocated_bytes", heapAllocated()-before))
			return d
		})
	}
}
