package influx_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/influx/influxtest"
)

func newInfluxQL(t *testing.T, db *influxtest.DB) *influx.InfluxQL {
	t.Helper()
	src, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: db.DSN(), Timeout: 30 * time.Second, ChunkSize: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// TestInfluxQLBindParameters: the job id goes as a bind parameter, so quotes in it are data,
// not InfluxQL: an injection attempt matches nothing instead of every job.
func TestInfluxQLBindParameters(t *testing.T) {
	db := influxtest.NewDB(t, influxtest.RequireV1(t))
	db.Write([]string{influxtest.Line("CPUTime", "1", "0", "0", "vm", 1, 100), influxtest.Line("CPUTime", "2", "0", "0", "vm", 2, 100)})
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
	for _, evil := range []string{`1' OR '1'='1`, `1' OR job='2`, `x' OR "job" =~ /.*/ --`, `1"; DROP DATABASE ` + db.Name + `; --`} {
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
