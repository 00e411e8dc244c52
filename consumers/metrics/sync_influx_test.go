package metrics

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/influx/influxtest"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// TestSyncIncremental: 3 hosts x 2 steps x 2 tasks x 10 measurements synced with the right
// sums; a second cycle reads and uploads only the new points; a third one uploads nothing; a
// host and a step that appear later, with times older than the stored max times, are uploaded
// (the reference agent misses them).
func TestSyncIncremental(t *testing.T) {
	db := influxtest.NewDB(t, influxtest.RequireV1(t))
	api := newDevAPI(t, 4242, fastRetry)
	syncer := NewSyncer(newInfluxQL(t, db), api.client, nil, SyncOptions{})
	ctx := context.Background()
	hosts, steps, tasks := []string{"node-a", "node-b", "node-c"}, []string{"-5", "0"}, []string{"0", "1"}

	// Noise: another job on the same hosts must never leak in.
	db.Write(gen("4243", hosts, steps, tasks, seq(1000, 5)).lines)

	d := gen("4242", hosts, steps, tasks, seq(1000, 5))
	db.Write(d.lines)
	res, err := syncer.Sync(ctx, api.subID, 4242)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 60 || res.Chunks != 1 || res.Series != 12 || res.NewSeries != 12 || res.PointsRead != 60*12 {
		t.Fatalf("first sync: %+v", res)
	}
	sameRows(t, storedRows(t, api.srv.Metrics(api.subID)), d.want)

	// Second cycle: 3 new times for every series.
	next := gen("4242", hosts, steps, tasks, seq(1005, 3))
	db.Write(next.lines)
	res, err = syncer.Sync(ctx, api.subID, 4242)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 36 || res.Chunks != 1 || res.NewSeries != 0 || res.PointsRead != 36*12 {
		t.Fatalf("second sync: %+v (only the 36 new rows, 432 new points, must be read and sent)", res)
	}
	d.add("4242", hosts, steps, tasks, seq(1005, 3))
	sameRows(t, storedRows(t, api.srv.Metrics(api.subID)), d.want)

	// Nothing new: no upload at all.
	puts := api.puts()
	res, err = syncer.Sync(ctx, api.subID, 4242)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 0 || res.Chunks != 0 || res.Queries != 0 || api.puts() != puts {
		t.Fatalf("idle sync: %+v, PUTs %d -> %d", res, puts, api.puts())
	}

	// A new host and a new step appear, their samples older than every stored max time.
	late := gen("4242", []string{"node-d"}, []string{"-5"}, []string{"0"}, seq(1000, 4))
	late.add("4242", []string{"node-a"}, []string{"1"}, []string{"0"}, seq(1002, 2))
	db.Write(late.lines)
	res, err = syncer.Sync(ctx, api.subID, 4242)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 6 || res.NewSeries != 2 || res.ActiveSeries != 2 {
		t.Fatalf("late series sync: %+v", res)
	}
	d.add("4242", []string{"node-d"}, []string{"-5"}, []string{"0"}, seq(1000, 4))
	d.add("4242", []string{"node-a"}, []string{"1"}, []string{"0"}, seq(1002, 2))
	sameRows(t, storedRows(t, api.srv.Metrics(api.subID)), d.want)
}

// TestSyncChunks: 10,000 new rows go up as 5 chunks (4 x 2,340 + 640), oldest first, and the
// development API (which enforces the 2,340-row limit) accepts them all.
func TestSyncChunks(t *testing.T) {
	db := influxtest.NewDB(t, influxtest.RequireV1(t))
	api := newDevAPI(t, 77, fastRetry)
	d := dataset{want: map[rowKey][10]float64{}}
	// 10 hosts x 1,000 seconds, CPUTime and RSS only (100,000 lines would be slow to write).
	for h := range 10 {
		host := "n" + string(rune('0'+h))
		for tm := int64(0); tm < 1000; tm++ {
			t0 := 50_000 + tm
			d.lines = append(d.lines, influxtest.Line("CPUTime", "77", "0", "0", host, 1, t0), influxtest.Line("RSS", "77", "0", "0", host, float64(h), t0))
			var v [10]float64
			v[1], v[6] = 1, float64(h)
			d.want[rowKey{t0, host, 0, 0}] = v
		}
	}
	db.Write(d.lines)
	var sizes []int
	var firsts []int64
	rec := &recordingAPI{API: api.client, put: func(rows []jobbergate.MetricRow) {
		sizes = append(sizes, len(rows))
		firsts = append(firsts, rows[0].Time)
	}}
	res, err := NewSyncer(newInfluxQL(t, db), rec, nil, SyncOptions{}).Sync(context.Background(), api.subID, 77)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 10_000 || res.Chunks != 5 || api.puts() != 5 {
		t.Fatalf("result %+v, %d PUTs", res, api.puts())
	}
	if want := []int{2340, 2340, 2340, 2340, 640}; !slices.Equal(sizes, want) {
		t.Fatalf("chunk sizes %v, want %v", sizes, want)
	}
	for i := 1; i < len(firsts); i++ {
		if firsts[i] < firsts[i-1] {
			t.Fatalf("chunks not oldest first: %v", firsts)
		}
	}
	sameRows(t, storedRows(t, api.srv.Metrics(api.subID)), d.want)
}

// TestSyncOverflowAndStepTags: values at or above 2^63-1 become 0; "batch" and "extern" step
// tags become -5 and -4; a step tag with no id is skipped (reported in Result.Skipped) and
// never sent, so the API accepts the upload.
func TestSyncOverflowAndStepTags(t *testing.T) {
	db := influxtest.NewDB(t, influxtest.RequireV1(t))
	api := newDevAPI(t, 9, fastRetry)
	db.Write([]string{
		influxtest.Line("RSS", "9", "-5", "0", "vm", 9.3e18, 100),
		influxtest.Line("VMSize", "9", "-5", "0", "vm", 9223372036854775807, 100),
		influxtest.Line("ReadMB", "9", "-5", "0", "vm", 9.2e18, 100),
		influxtest.Line("CPUTime", "9", "-5", "0", "vm", 1e308, 101),
		influxtest.Line("CPUTime", "9", "batch", "0", "old", 2, 100),
		influxtest.Line("CPUTime", "9", "extern", "0", "old", 3, 100),
		influxtest.Line("CPUTime", "9", "weird", "0", "old", 4, 100),
		influxtest.Line("CPUTime", "9", "0", "x", "old", 5, 100),
	})
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	res, err := NewSyncer(newInfluxQL(t, db), api.client, logger, SyncOptions{}).Sync(context.Background(), api.subID, 9)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"step=weird", "task=x"}; !slices.Equal(res.Skipped, want) {
		t.Fatalf("skipped %v, want %v", res.Skipped, want)
	}
	if n := strings.Count(logs.String(), "metric series skipped"); n != 1 {
		t.Fatalf("%d skip warnings, want 1:\n%s", n, logs.String())
	}
	var big, cpu [10]float64
	big[7] = 9.2e18 // ReadMB kept, RSS and VMSize zeroed
	var batch, extern [10]float64
	batch[1], extern[1] = 2, 3
	want := map[rowKey][10]float64{
		{100, "vm", -5, 0}:  big,
		{101, "vm", -5, 0}:  cpu,
		{100, "old", -5, 0}: batch,
		{100, "old", -4, 0}: extern,
	}
	sameRows(t, storedRows(t, api.srv.Metrics(api.subID)), want)
}

// TestSyncInfluxDown: an unreachable InfluxDB gives the reference's error texts.
func TestSyncInfluxDown(t *testing.T) {
	api := newDevAPI(t, 5, fastRetry)
	src, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: "influxdb://u:hunter2@127.0.0.1:1/slurm", Timeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewSyncer(src, api.client, nil, SyncOptions{}).Sync(context.Background(), api.subID, 5)
	if err == nil || !strings.HasPrefix(err.Error(), "Could not update job metrics for slurm job 5 via the API -- Failed to fetch measures from InfluxDB -- ") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("password leaked: %v", err)
	}
	if api.puts() != 0 {
		t.Fatal("uploaded despite the failure")
	}
}

type recordingAPI struct {
	API
	put func([]jobbergate.MetricRow)
}

func (r *recordingAPI) PutMetrics(ctx context.Context, id int, rows []jobbergate.MetricRow) error {
	r.put(rows)
	return r.API.PutMetrics(ctx, id, rows)
}

// TestFluxSync runs the incremental scenario through the Flux backend against InfluxDB 1.8.10
// and checks that InfluxQL on the same server yields exactly the same rows.
func TestFluxSync(t *testing.T) {
	base := influxtest.RequireFlux(t)
	db := influxtest.NewDB(t, base)
	ctx := context.Background()
	flux := newFlux(t, base, db)
	if v, err := flux.Ping(ctx); err != nil || v != "1.8.10" {
		t.Fatalf("ping: %q %v", v, err)
	}
	hosts, steps, tasks := []string{"node-a", "node-b", "node-c"}, []string{"-5", "0"}, []string{"0", "1"}
	d := gen("31", hosts, steps, tasks, seq(2000, 4))
	d.lines = append(d.lines, gen("32", hosts, steps, tasks, seq(2000, 4)).lines...) // another job
	db.Write(d.lines)

	api := newDevAPI(t, 31, fastRetry)
	syncer := NewSyncer(flux, api.client, nil, SyncOptions{})
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
	db.Write(more.lines)
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
	if _, err := NewSyncer(newInfluxQL(t, db), api2.client, nil, SyncOptions{}).Sync(ctx, api2.subID, 31); err != nil {
		t.Fatal(err)
	}
	sameRows(t, storedRows(t, api2.srv.Metrics(api2.subID)), d.want)
}
