package influx_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/influx/influxtest"
)

func newFlux(t *testing.T, base string, db *influxtest.DB) *influx.Flux {
	t.Helper()
	src, err := influx.NewFlux(influx.FluxOptions{URL: base, Token: ":", Bucket: db.Name + "/autogen",
		Timeout: 30 * time.Second, BatchSize: 500}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// TestFluxRefusesNonNumericJob: with no bind parameters in Flux on 1.8, a job id that is not
// a number is refused before any query is built.
func TestFluxRefusesNonNumericJob(t *testing.T) {
	src, err := influx.NewFlux(influx.FluxOptions{URL: "http://127.0.0.1:1", Bucket: `x"y/autogen`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, job := range []string{`1" or r.job != "`, "", "1 ", "-1", "1e3"} {
		if _, err := src.Query(context.Background(), job, 0, influx.All); !errors.Is(err, influx.ErrInvalidJobID) {
			t.Errorf("Query(%q): %v, want ErrInvalidJobID", job, err)
		}
		if _, err := src.Series(context.Background(), job); !errors.Is(err, influx.ErrInvalidJobID) {
			t.Errorf("Series(%q): %v, want ErrInvalidJobID", job, err)
		}
	}
}

// TestFluxBucketEscaped: a bucket name with quotes and ${ is data, not Flux.
func TestFluxBucketEscaped(t *testing.T) {
	base := influxtest.RequireFlux(t)
	db := influxtest.NewDB(t, base)
	db.Write([]string{influxtest.Line("CPUTime", "1", "0", "0", "vm", 1, 100)})
	src, err := influx.NewFlux(influx.FluxOptions{URL: base, Token: ":", Bucket: db.Name + `/autogen") |> yield() //${x}`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := src.Series(context.Background(), "1")
	if err == nil && len(spans) != 0 {
		t.Fatalf("escaped bucket matched data: %v", spans)
	}
	if good := newFlux(t, base, db); good != nil {
		spans, err := good.Series(context.Background(), "1")
		if err != nil || len(spans) != 1 || spans[0].First != 100 || spans[0].Last != 100 {
			t.Fatalf("series on the real bucket: %+v %v", spans, err)
		}
	}
}
