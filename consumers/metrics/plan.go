package metrics

import (
	"math"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
)

// queryPlan says which measurements to query and from when.
type queryPlan struct {
	after                     [len(influx.Measurements)]int64
	query                     [len(influx.Measurements)]bool
	series, newSeries, active int
	bad                       []string
}

// planQueries keeps the series with points newer than the API's max time (all points of the
// series the API does not know) and, per measurement, queries from the oldest of their bounds.
// Finished series (a step that ended long ago) thus never hold the queries back.
func planQueries(spans []influx.SeriesSpan, maxTimes map[influx.SeriesKey]int64) queryPlan {
	var p queryPlan
	for i := range p.after {
		p.after[i] = math.MaxInt64
	}
	seen := map[influx.SeriesKey]bool{}
	newSeen := map[influx.SeriesKey]bool{}
	activeSeen := map[influx.SeriesKey]bool{}
	bad := map[string]bool{}
	for _, sp := range spans {
		step, okStep := influx.ParseStep(sp.Step)
		task, okTask := influx.ParseTask(sp.Task)
		if !okStep {
			bad["step="+sp.Step] = true
			continue
		}
		if !okTask {
			bad["task="+sp.Task] = true
			continue
		}
		k := influx.SeriesKey{Host: sp.Host, Step: step, Task: task}
		seen[k] = true
		bound, known := maxTimes[k]
		if !known {
			newSeen[k] = true
			bound = sp.First - 1
		}
		if sp.Last <= bound {
			continue
		}
		activeSeen[k] = true
		p.query[sp.Measurement] = true
		p.after[sp.Measurement] = min(p.after[sp.Measurement], bound)
	}
	p.series, p.newSeries, p.active = len(seen), len(newSeen), len(activeSeen)
	p.bad = sortedKeys(bad)
	return p
}
