package influx_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
)

// FuzzParseStepTask checks the tag parsers: an accepted step is a 32-bit Slurm step id and an
// accepted task a non-negative 32-bit rank, and both print back to a tag that parses the same.
func FuzzParseStepTask(f *testing.F) {
	for _, s := range []string{"0", "12", "-5", "4294967291", "4294967292", "batch", "extern", "interactive", "pending",
		"", "+1", "01", "2147483648", "4294967296", "-2147483649", "1e3", " 1", "Batch"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		if step, ok := influx.ParseStep(tag); ok {
			if step < math.MinInt32 || step > math.MaxInt32 {
				t.Fatalf("ParseStep(%q) = %d, outside 32 bits", tag, step)
			}
			if again, ok := influx.ParseStep(strconv.Itoa(step)); !ok || again != step {
				t.Fatalf("step %d from %q does not print back: %d, %v", step, tag, again, ok)
			}
		}
		if task, ok := influx.ParseTask(tag); ok {
			if task < 0 || task > math.MaxInt32 {
				t.Fatalf("ParseTask(%q) = %d", tag, task)
			}
			if again, ok := influx.ParseTask(strconv.Itoa(task)); !ok || again != task {
				t.Fatalf("task %d from %q does not print back", task, tag)
			}
		}
	})
}

// fuzzServer answers every request with the body last stored in it.
func fuzzServer(f *testing.F, ctype string) (*httptest.Server, *atomic.Pointer[[]byte]) {
	var body atomic.Pointer[[]byte]
	empty := []byte{}
	body.Store(&empty)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Influxdb-Version", "1.8.10")
		if r.URL.Path == "/ping" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", ctype)
		_, _ = w.Write(*body.Load())
	}))
	f.Cleanup(srv.Close)
	return srv, &body
}

// drain reads a stream to its end (or first error) and checks each point: the queried
// measurement, and no more points than the answer has bytes.
func drain(t *testing.T, st influx.Stream, m int, size int) []influx.Point {
	t.Helper()
	defer st.Close()
	var all []influx.Point
	for {
		pts, err := st.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && err.Error() == "" {
				t.Fatal("empty error message")
			}
			break
		}
		if len(pts) == 0 {
			t.Fatal("Next returned an empty batch without io.EOF")
		}
		for _, p := range pts {
			if p.Measurement != m {
				t.Fatalf("point of measurement %d from a query of %d", p.Measurement, m)
			}
		}
		all = append(all, pts...)
		if len(all) > size {
			t.Fatalf("%d points from an answer of %d bytes", len(all), size)
		}
	}
	return all
}

// checkSpans asserts what Series promises: known measurements and one span per series.
func checkSpans(t *testing.T, spans []influx.SeriesSpan) {
	t.Helper()
	seen := map[influx.SeriesSpan]bool{}
	for _, s := range spans {
		if s.Measurement < 0 || s.Measurement >= len(influx.Measurements) {
			t.Fatalf("span of measurement %d", s.Measurement)
		}
		k := influx.SeriesSpan{Measurement: s.Measurement, Host: s.Host, Step: s.Step, Task: s.Task}
		if seen[k] {
			t.Fatalf("series %+v listed twice", k)
		}
		seen[k] = true
	}
}

// checkAggregate sums the points as the metrics consumer does: rows come out in time, host,
// step, task order, one per key, with finite values (NaN, ±Inf and values the API cannot store
// become 0), and never more rows than points.
func checkAggregate(t *testing.T, pts []influx.Point) {
	t.Helper()
	rows := influx.Aggregate(pts)
	if len(rows) > len(pts) {
		t.Fatalf("%d rows from %d points", len(rows), len(pts))
	}
	for i, r := range rows {
		for j, v := range r.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("row %d %s = %v", i, influx.Measurements[j], v)
			}
		}
		if i > 0 {
			p := rows[i-1]
			c := cmpRow(p, r)
			if c >= 0 {
				t.Fatalf("rows %d and %d out of order or duplicated: %+v, %+v", i-1, i, p, r)
			}
		}
	}
}

func cmpRow(a, b influx.Row) int {
	if a.Time != b.Time {
		return cmpInt(a.Time, b.Time)
	}
	if c := strings.Compare(a.Host, b.Host); c != 0 {
		return c
	}
	if a.Step != b.Step {
		return cmpInt(int64(a.Step), int64(b.Step))
	}
	return cmpInt(int64(a.Task), int64(b.Task))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// FuzzInfluxQLAnswers serves a fuzzed answer body to the InfluxQL backend on a loopback server
// and reads it as both a Series answer and a Query stream (the captured 1.6.7 and 1.8.10 answers
// are the seeds). Nothing may panic, points belong to the queried measurement and are bounded by
// the answer's size, and their aggregation keeps its invariants.
func FuzzInfluxQLAnswers(f *testing.F) {
	for _, s := range []string{influxQLQuery16, influxQLSeries16, influxQLQuery18, influxQLError16,
		`{"results":[{"statement_id":0,"series":[{"name":"CPUTime","columns":["time","value","host","step","task"],"values":[[1]]}]}]}`,
		`{"results":[{"statement_id":0,"series":[{"name":"CPUTime","columns":["time","value","host","step","task"],"values":[[1e300,1e400,null,"0",0]]}]}]}`,
		`{"results":[{"statement_id":0,"series":[{"name":"RSS","tags":{"host":"vm"},"columns":["time","last"],"values":[[]]}]}]}`,
		`{"results":[{"statement_id":0,"error":"database not found: slurm"}]}`,
	} {
		f.Add([]byte(s), uint8(1))
	}
	srv, body := fuzzServer(f, "application/json")
	q, err := influx.NewInfluxQL(influx.InfluxQLOptions{
		DSN: "influxdb://" + strings.TrimPrefix(srv.URL, "http://") + "/slurm", Timeout: 10 * time.Second,
	}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = q.Close() })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte, m uint8) {
		body.Store(&data)
		if spans, err := q.Series(ctx, "42"); err == nil {
			checkSpans(t, spans)
		}
		mi := int(m) % len(influx.Measurements)
		st, err := q.Query(ctx, "42", mi, influx.All)
		if err != nil {
			return
		}
		checkAggregate(t, drain(t, st, mi, len(data)))
	})
}

// FuzzFluxAnswers does the same for the Flux backend with annotated CSV answers (captured from
// InfluxDB 1.8.10), read through influxdb-client-go's CSV parser.
func FuzzFluxAnswers(f *testing.F) {
	for _, s := range []string{fluxQuery18, fluxSeries18, fluxError18,
		"#datatype,string,long,dateTime:RFC3339,double,string,string,string\r\n,result,table,_time,_value,host,step,task\r\n,,0,not-a-time,NaN,vm,0,0\r\n",
		"#datatype,string,long,dateTime:RFC3339\r\n,result,table,_time,_value,host\r\n,,0\r\n",
		"#datatype,string,long,dateTime:RFC3339,unsignedLong,string,string,string\r\n#group,false,false,false,false,false,false,false\r\n#default,_result,,,,,,\r\n,result,table,_time,_value,host,step,task\r\n,,0,2024-05-01T10:00:00Z,18446744073709551615,vm,0,0\r\n",
	} {
		f.Add([]byte(s), uint8(1))
	}
	srv, body := fuzzServer(f, "text/csv; charset=utf-8")
	fl, err := influx.NewFlux(influx.FluxOptions{URL: srv.URL, Token: ":", Bucket: "slurm/autogen", Timeout: 10 * time.Second}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = fl.Close() })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte, m uint8) {
		body.Store(&data)
		if spans, err := fl.Series(ctx, "42"); err == nil {
			checkSpans(t, spans)
		}
		mi := int(m) % len(influx.Measurements)
		st, err := fl.Query(ctx, "42", mi, influx.All)
		if err != nil {
			return
		}
		checkAggregate(t, drain(t, st, mi, len(data)))
	})
}
