package influx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
)

// mergeStream is one measurement's cursor inside Merge.
type mergeStream struct {
	s    Stream
	last int64 // time of the last point read; future points are at or after it
	done bool
}

// Merge reads the streams (each time-ordered, typically one per measurement) into agg and hands
// finished rows to emit, oldest first, while it reads: it always pulls the next batch from the
// stream that is furthest behind and flushes the rows older than every stream's position, so
// only the rows at the streams' current times are held. It closes every stream before
// returning. A stream going back in time is an ErrUnordered error; an emit error stops the
// merge and is returned as is.
func Merge(ctx context.Context, streams []Stream, agg *Aggregator, emit func([]Row) error) (err error) {
	ms := make([]*mergeStream, len(streams))
	for i, s := range streams {
		ms[i] = &mergeStream{s: s, last: math.MinInt64}
	}
	defer func() {
		for _, m := range ms {
			if cerr := m.s.Close(); cerr != nil && err == nil && !m.done {
				err = cerr
			}
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The stream furthest behind; the others cannot hold anything older than it.
		var next *mergeStream
		for _, m := range ms {
			if !m.done && (next == nil || m.last < next.last) {
				next = m
			}
		}
		if next == nil {
			return agg.Flush(math.MaxInt64, emit)
		}
		batch, rerr := next.s.Next()
		for _, p := range batch {
			if p.Time < next.last {
				return fmt.Errorf("%w: %s at %d after %d", ErrUnordered,
					measurementName(p.Measurement), p.Time, next.last)
			}
			next.last = p.Time
			agg.Add(p)
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				return rerr
			}
			next.done = true
		}
		watermark := int64(math.MaxInt64)
		for _, m := range ms {
			if !m.done {
				watermark = min(watermark, m.last)
			}
		}
		if err := agg.Flush(watermark, emit); err != nil {
			return err
		}
	}
}

func measurementName(i int) string {
	if i >= 0 && i < len(Measurements) {
		return Measurements[i]
	}
	return fmt.Sprintf("measurement#%d", i)
}
