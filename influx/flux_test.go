package influx_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
)

func newFlux(t *testing.T, base string, db *influxDB) *influx.Flux {
	t.Helper()
	src, err := influx.NewFlux(influx.FluxOptions{URL: base, Token: ":", Bucket: db.name + "/autogen",
		Timeout: 30 * time.Second, BatchSize: 500}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// TestFluxSync runs the incremental scenario through the Flux backend against InfluxDB 1.8.10
// and checks that InfluxQL on the same server yields exactly the same rows.
func TestFluxSync(t *testing.T) {
	base := requireInfluxFlux(t)
	db := newInfluxDB(t, base)
	ctx := context.Background()
	flux := newFlux(t, base, db)
	if v, err := flux.Ping(ctx); err != nil || v != "1.8.10" {
		t.Fatalf("ping: %q %v", v, err)
	}
	hosts, steps, tasks := []string{"node-a", "node-b", "node-c"}, []string{"-5", "0"}, []string{"0", "1"}
	d := gen("31", hosts, steps, tasks, seq(2000, 4))
	d.lines = append(d.lines, gen("32", hosts, steps, tasks, seq(2000, 4)).lines...) // another job
	db.write(d.lines)

	api := newDevAPI(t, 31, fastRetry)
	syncer := influx.NewSyncer(flux, api.client, nil, influx.SyncOptions{})
	res, err := syncer.Sync(ctx, api.subID, 31)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 48 || res.Series != 12 || res.PointsRead != 48*12 {
		t.Fatalf("first sync: %+v", res)
	}
	d = gen("31", hosts, steps, tasks, seq(2000, 4))
	sameRows(t, storedRows(t, api.srv.Metrics(api.subID)), d.want)

	// Incremental: new times plus a new host with old times.
	more := gen("31", hosts, steps, tasks, seq(2004, 2))
	more.add("31", []string{"node-z"}, []string{"0"}, []string{"0"}, seq(2000, 3))
	db.write(more.lines)
	res, err = syncer.Sync(ctx, api.subID, 31)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 27 || res.NewSeries != 1 {
		t.Fatalf("second sync: %+v", res)
	}
	d.add("31", hosts, steps, tasks, seq(2004, 2))
	d.add("31", []string{"node-z"}, []string{"0"}, []string{"0"}, seq(2000, 3))
	sameRows(t, storedRows(t, api.srv.Metrics(api.subID)), d.want)

	// The same data through InfluxQL on the same 1.8.10 server.
	api2 := newDevAPI(t, 31, fastRetry)
	if _, err := influx.NewSyncer(newInfluxQL(t, db), api2.client, nil, influx.SyncOptions{}).Sync(ctx, api2.subID, 31); err != nil {
		t.Fatal(err)
	}
	sameRows(t, storedRows(t, api2.srv.Metrics(api2.subID)), d.want)
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
	base := requireInfluxFlux(t)
	db := newInfluxDB(t, base)
	db.write([]string{line("CPUTime", "1", "0", "0", "vm", 1, 100)})
	src, err := influx.NewFlux(influx.FluxOptions{URL: base, Token: ":", Bucket: db.name + `/autogen") |> yield() //${x}`}, nil)
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
