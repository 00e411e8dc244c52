package influx

import (
	"context"
	"errors"
	"math"
	"regexp"
)

// Sentinel errors.
var (
	// ErrUnordered: a backend returned the points of one measurement out of time order, which
	// the streaming merge cannot aggregate correctly.
	ErrUnordered = errors.New("points out of time order")
	// ErrInvalidJobID: a job id that is not a decimal number (the Flux backend refuses to
	// interpolate it).
	ErrInvalidJobID = errors.New("invalid job id")
	// ErrInvalidDSN: INFLUX_DSN cannot be parsed or has an unsupported scheme.
	ErrInvalidDSN = errors.New("invalid InfluxDB DSN")
	// ErrInvalidOptions: backend options that cannot work (missing URL, bucket, database...).
	ErrInvalidOptions = errors.New("invalid InfluxDB options")
)

// All, as the after argument of Source.Query, asks for every point of the job.
const All int64 = math.MinInt64

// SeriesSpan is one (measurement, host, step, task) series of a job with the times (epoch s)
// of its first and last point. The tags are as stored (unparsed).
type SeriesSpan struct {
	Measurement      int
	Host, Step, Task string
	First, Last      int64
}

// Source reads a job's samples from InfluxDB. Implementations are safe for concurrent use.
type Source interface {
	// Series lists every series of the job (tag job = job) in the measurements of
	// Measurements, with its first and last time.
	Series(ctx context.Context, job string) ([]SeriesSpan, error)
	// Query streams the points of one measurement of the job whose time is strictly after
	// after (epoch s; All for every point), in non-decreasing time order. The caller closes
	// the stream.
	Query(ctx context.Context, job string, measurement int, after int64) (Stream, error)
	// Ping checks that the server answers and returns its version.
	Ping(ctx context.Context) (string, error)
	// Close releases idle connections.
	Close() error
}

// Stream is a cursor over a query's answer. It is not safe for concurrent use.
type Stream interface {
	// Next returns the next batch of points (in time order across batches) or io.EOF after
	// the last one. The batch is only valid until the next call.
	Next() ([]Point, error)
	// Close ends the query and releases its connection. It may be called more than once.
	Close() error
}

var jobIDPattern = regexp.MustCompile(`^[0-9]{1,20}$`)
