package metrics

import (
	"fmt"
	"maps"
	"strconv"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/influx/influxtest"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

type rowKey struct {
	t          int64
	host       string
	step, task int
}

// dataset is line protocol for a job and the rows the API must end up holding for it.
type dataset struct {
	lines []string
	want  map[rowKey][10]float64
}

// gen writes every measurement for each host x step x task x time. The GPU measurements get
// two series per (host, step, task) (an extra gpu tag), which the aggregation must sum. Values
// are whole numbers (CPUTime has a quarter) because the API stores several columns as ints.
func gen(job string, hosts, steps, tasks []string, times []int64) dataset {
	d := dataset{want: map[rowKey][10]float64{}}
	d.add(job, hosts, steps, tasks, times)
	return d
}

func (d *dataset) add(job string, hosts, steps, tasks []string, times []int64) {
	for hi, h := range hosts {
		for si, s := range steps {
			step, ok := influx.ParseStep(s)
			if !ok {
				panic("bad step in dataset: " + s)
			}
			for ki, k := range tasks {
				task, _ := strconv.Atoi(k)
				for _, t := range times {
					key := rowKey{t, h, step, task}
					vals := d.want[key]
					for mi, m := range influx.Measurements {
						v := float64((mi+1)*1000+hi*100+si*10+ki) + float64(t%7)
						if m == "CPUTime" {
							v += 0.25
						}
						if m == "GPUMemMB" || m == "GPUUtilization" {
							d.lines = append(d.lines,
								fmt.Sprintf("%s,job=%s,step=%s,task=%s,host=%s,gpu=0 value=%v %d", m, job, s, k, h, v, t),
								fmt.Sprintf("%s,job=%s,step=%s,task=%s,host=%s,gpu=1 value=%v %d", m, job, s, k, h, v+1, t))
							vals[mi] += 2*v + 1
							continue
						}
						d.lines = append(d.lines, influxtest.Line(m, job, s, k, h, v, t))
						vals[mi] += v
					}
					d.want[key] = vals
				}
			}
		}
	}
}

func seq(from, n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = from + int64(i)
	}
	return out
}

// storedRows indexes what the development API holds, failing on duplicates.
func storedRows(t *testing.T, rows []jobbergatetest.MetricRow) map[rowKey][10]float64 {
	t.Helper()
	out := make(map[rowKey][10]float64, len(rows))
	for _, r := range rows {
		k := rowKey{r.Time, r.NodeHost, r.Step, r.Task}
		if _, dup := out[k]; dup {
			t.Fatalf("row %+v stored twice", k)
		}
		out[k] = r.Values
	}
	return out
}

func sameRows(t *testing.T, got, want map[rowKey][10]float64) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	n := 0
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("row %+v: got %v (present %v), want %v", k, g, ok, w)
			if n++; n > 5 {
				break
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected row %+v", k)
			if n++; n > 10 {
				break
			}
		}
	}
	t.Fatalf("stored %d rows, want %d", len(got), len(want))
}
