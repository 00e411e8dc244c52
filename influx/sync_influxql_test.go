package influx_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

var fastRetry = jobbergate.RetryPolicy{MaxAttempts: 1}

func newInfluxQL(t *testing.T, db *influxDB) *influx.InfluxQL {
	t.Helper()
	src, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: db.dsn(), Timeout: 30 * time.Second, ChunkSize: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// TestSyncIncremental: 3 hosts x 2 steps x 2 tasks x 10 measurements synced with the right
// sums; a second cycle reads and uploads only the new points; a third one uploads nothing; a
// host and a step that appear later, with times older than the stored max times, are uploaded
// (the reference agent misses them).
func TestSyncIncremental(t *testing.T) {
	db := newInfluxDB(t, requireInfluxV1(t))
	api := newDevAPI(t, 4242, fastRetry)
	syncer := influx.NewSyncer(newInfluxQL(t, db), api.client, nil, influx.SyncOptions{})
	ctx := context.Background()
	hosts, steps, tasks := []string{"node-a", "node-b", "node-c"}, []string{"-5", "0"}, []string{"0", "1"}

	// Noise: another job on the same hosts must never leak in.
	db.write(gen("4243", hosts, steps, tasks, seq(1000, 5)).lines)

	d := gen("4242", hosts, steps, tasks, seq(1000, 5))
	db.write(d.lines)
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
	db.write(next.lines)
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
	db.write(late.lines)
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
	db := newInfluxDB(t, requireInfluxV1(t))
	api := newDevAPI(t, 77, fastRetry)
	d := dataset{want: map[rowKey][10]float64{}}
	// 10 hosts x 1,000 seconds, CPUTime and RSS only (100,000 lines would be slow to write).
	for h := range 10 {
		host := "n" + string(rune('0'+h))
		for tm := int64(0); tm < 1000; tm++ {
			t0 := 50_000 + tm
			d.lines = append(d.lines, line("CPUTime", "77", "0", "0", host, 1, t0), line("RSS", "77", "0", "0", host, float64(h), t0))
			var v [10]float64
			v[1], v[6] = 1, float64(h)
			d.want[rowKey{t0, host, 0, 0}] = v
		}
	}
	db.write(d.lines)
	var sizes []int
	var firsts []int64
	rec := &recordingAPI{MetricsAPI: api.client, put: func(rows []jobbergate.MetricRow) {
		sizes = append(sizes, len(rows))
		firsts = append(firsts, rows[0].Time)
	}}
	res, err := influx.NewSyncer(newInfluxQL(t, db), rec, nil, influx.SyncOptions{}).Sync(context.Background(), api.subID, 77)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 10_000 || res.Chunks != 5 || api.puts() != 5 {
		t.Fatalf("result %+v, %d PUTs", res, api.puts())
	}
	if want := []int{2340, 2340, 2340, 2340, 640}; !equalInts(sizes, want) {
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
	db := newInfluxDB(t, requireInfluxV1(t))
	api := newDevAPI(t, 9, fastRetry)
	db.write([]string{
		line("RSS", "9", "-5", "0", "vm", 9.3e18, 100),
		line("VMSize", "9", "-5", "0", "vm", 9223372036854775807, 100),
		line("ReadMB", "9", "-5", "0", "vm", 9.2e18, 100),
		line("CPUTime", "9", "-5", "0", "vm", 1e308, 101),
		line("CPUTime", "9", "batch", "0", "old", 2, 100),
		line("CPUTime", "9", "extern", "0", "old", 3, 100),
		line("CPUTime", "9", "weird", "0", "old", 4, 100),
		line("CPUTime", "9", "0", "x", "old", 5, 100),
	})
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	res, err := influx.NewSyncer(newInfluxQL(t, db), api.client, logger, influx.SyncOptions{}).Sync(context.Background(), api.subID, 9)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"step=weird", "task=x"}; !equalStrings(res.Skipped, want) {
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

// TestInfluxQLBindParameters: the job id goes as a bind parameter, so quotes in it are data,
// not InfluxQL: an injection attempt matches nothing instead of every job.
func TestInfluxQLBindParameters(t *testing.T) {
	db := newInfluxDB(t, requireInfluxV1(t))
	db.write([]string{line("CPUTime", "1", "0", "0", "vm", 1, 100), line("CPUTime", "2", "0", "0", "vm", 2, 100)})
	src := newInfluxQL(t, db)
	ctx := context.Background()
	if v, err := src.Ping(ctx); err != nil || !strings.HasPrefix(v, "1.") {
		t.Fatalf("ping: %q %v", v, err)
	}
	count := func(job string) int {
		st, err := src.Query(ctx, job, 1, influx.All)
		if err != nil {
			t.Fatalf("query %q: %v", job, err)
		}
		defer st.Close()
		n := 0
		for {
			b, err := st.Next()
			n += len(b)
			if err != nil {
				return n
			}
		}
	}
	if n := count("1"); n != 1 {
		t.Fatalf("job 1: %d points, want 1", n)
	}
	for _, evil := range []string{`1' OR '1'='1`, `1' OR job='2`, `x' OR "job" =~ /.*/ --`, `1"; DROP DATABASE ` + db.name + `; --`} {
		if n := count(evil); n != 0 {
			t.Errorf("job %q matched %d points", evil, n)
		}
		spans, err := src.Series(ctx, evil)
		if err != nil || len(spans) != 0 {
			t.Errorf("series of %q: %v %v", evil, spans, err)
		}
	}
	if n := count("2"); n != 1 {
		t.Fatalf("job 2 after the attempts: %d points, want 1 (database intact)", n)
	}
}

// TestSyncInfluxDown: an unreachable InfluxDB gives the reference's error texts.
func TestSyncInfluxDown(t *testing.T) {
	api := newDevAPI(t, 5, fastRetry)
	src, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: "influxdb://u:hunter2@127.0.0.1:1/slurm", Timeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = influx.NewSyncer(src, api.client, nil, influx.SyncOptions{}).Sync(context.Background(), api.subID, 5)
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
	influx.MetricsAPI
	put func([]jobbergate.MetricRow)
}

func (r *recordingAPI) PutMetrics(ctx context.Context, id int, rows []jobbergate.MetricRow) error {
	r.put(rows)
	return r.MetricsAPI.PutMetrics(ctx, id, rows)
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
