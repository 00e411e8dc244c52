package influx

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
)

// SeriesKey identifies one (host, step, task) series of a job, with parsed step and task.
type SeriesKey struct {
	Host string
	Step int
	Task int
}

func compareSeries(a, b SeriesKey) int {
	if c := cmp.Compare(a.Host, b.Host); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Step, b.Step); c != 0 {
		return c
	}
	return cmp.Compare(a.Task, b.Task)
}

// rawSeries is a series as its tags read, before parsing.
type rawSeries struct{ host, step, task string }

type seriesInfo struct {
	key SeriesKey
	// skip: the tags do not parse; every point of the series is dropped.
	skip bool
	// after: points at or before this time (epoch s) are dropped.
	after int64
}

// bucket holds the rows of one time, one per series.
type bucket struct {
	rows []Row
	sids []int32 // series id of each row
	// pos[id] is 1 + the position of series id's row in rows, 0 when absent. It is a slice
	// rather than a map because it is the hottest lookup; it only grows to the largest series
	// id seen at this time, and only the entries of sids are reset when the bucket is reused.
	pos []int32
}

// SkipFunc is told once per series whose tags cannot be sent to the API (a step or task tag
// that is not a number and has no known id). tag names the offending tag ("step" or "task").
type SkipFunc func(tag, value string, series SeriesKey)

// AfterFunc returns, for a series, the time (epoch s) at or before which its points are
// already stored and must be dropped; math.MinInt64 keeps them all.
type AfterFunc func(SeriesKey) int64

// Aggregator sums points per (time, host, step, task) into metric rows whose 10 values follow
// Measurements. Values at or above 2^63-1 count as 0. It holds only the rows not yet
// flushed: fed with time-ordered input and flushed behind a watermark (see Merge), its memory
// grows with the number of series at the open times, never with the points read.
// An Aggregator is not safe for concurrent use.
type Aggregator struct {
	after AfterFunc
	skip  SkipFunc

	ids    map[rawSeries]int32
	series []seriesInfo

	buckets map[int64]*bucket
	times   timeHeap
	free    []*bucket

	lastTime   int64
	lastBucket *bucket

	points, kept int64
}

// NewAggregator returns an empty Aggregator. after (nil: keep everything) filters points
// already stored; skip (nil: ignore) is told about series that cannot be sent.
func NewAggregator(after AfterFunc, skip SkipFunc) *Aggregator {
	return &Aggregator{
		after:    after,
		skip:     skip,
		ids:      make(map[rawSeries]int32),
		buckets:  make(map[int64]*bucket),
		lastTime: math.MinInt64,
	}
}

// Points returns how many points were added, and how many of them went into rows (not
// filtered as already stored nor skipped for bad tags).
func (a *Aggregator) Points() (read, kept int64) { return a.points, a.kept }

// Pending returns the number of rows held (added and not flushed yet).
func (a *Aggregator) Pending() int {
	n := 0
	for _, b := range a.buckets {
		n += len(b.rows)
	}
	return n
}

func (a *Aggregator) seriesID(host, step, task string) int32 {
	raw := rawSeries{host, step, task}
	if id, ok := a.ids[raw]; ok {
		return id
	}
	info := seriesInfo{after: math.MinInt64}
	info.key.Host = host
	var ok bool
	if info.key.Step, ok = ParseStep(step); !ok {
		info.skip = true
		if a.skip != nil {
			a.skip("step", step, info.key)
		}
	} else if info.key.Task, ok = ParseTask(task); !ok {
		info.skip = true
		if a.skip != nil {
			a.skip("task", task, info.key)
		}
	}
	if !info.skip && a.after != nil {
		info.after = a.after(info.key)
	}
	id := int32(len(a.series))
	a.series = append(a.series, info)
	a.ids[raw] = id
	return id
}

// Add sums one point into its row. The measurement index must be within
// Measurements (others are ignored).
func (a *Aggregator) Add(p Point) {
	a.points++
	if p.Measurement < 0 || p.Measurement >= len(Measurements) {
		return
	}
	id := a.seriesID(p.Host, p.Step, p.Task)
	info := &a.series[id]
	if info.skip || p.Time <= info.after {
		return
	}
	a.kept++
	b := a.lastBucket
	if p.Time != a.lastTime || b == nil {
		b = a.buckets[p.Time]
		if b == nil {
			b = a.newBucket()
			a.buckets[p.Time] = b
			heap.Push(&a.times, p.Time)
		}
		a.lastTime, a.lastBucket = p.Time, b
	}
	if int(id) >= len(b.pos) {
		b.pos = append(b.pos, make([]int32, int(id)+1-len(b.pos))...)
	}
	pos := b.pos[id] - 1
	if pos < 0 {
		pos = int32(len(b.rows))
		b.rows = append(b.rows, Row{
			Time: p.Time, Host: info.key.Host, Step: info.key.Step, Task: info.key.Task,
		})
		b.sids = append(b.sids, id)
		b.pos[id] = pos + 1
	}
	b.rows[pos].Values[p.Measurement] += clampValue(p.Value)
}

func (a *Aggregator) newBucket() *bucket {
	if n := len(a.free); n > 0 {
		b := a.free[n-1]
		a.free = a.free[:n-1]
		return b
	}
	return &bucket{}
}

// Flush hands every row older than watermark (time < watermark) to emit, oldest time first
// and, within a time, ordered by host, step and task; then forgets them. The slice passed to
// emit is only valid during the call. An error from emit stops the flush and is returned; the
// rows of that time are dropped.
func (a *Aggregator) Flush(watermark int64, emit func([]Row) error) error {
	for len(a.times) > 0 && a.times[0] < watermark {
		t := heap.Pop(&a.times).(int64)
		b := a.buckets[t]
		delete(a.buckets, t)
		if a.lastBucket == b {
			a.lastBucket, a.lastTime = nil, math.MinInt64
		}
		slices.SortFunc(b.rows, func(x, y Row) int {
			return compareSeries(SeriesKey{x.Host, x.Step, x.Task}, SeriesKey{y.Host, y.Step, y.Task})
		})
		err := emit(b.rows)
		for _, id := range b.sids {
			b.pos[id] = 0
		}
		b.rows, b.sids = b.rows[:0], b.sids[:0]
		a.free = append(a.free, b)
		if err != nil {
			return err
		}
	}
	return nil
}

// Aggregate is the whole-input form: it sums points given in any order and returns the rows
// sorted by time, host, step and task (an empty, non-nil slice for no points).
func Aggregate(points []Point) []Row {
	a := NewAggregator(nil, nil)
	for _, p := range points {
		a.Add(p)
	}
	out := []Row{}
	_ = a.Flush(math.MaxInt64, func(rows []Row) error {
		out = append(out, rows...)
		return nil
	})
	return out
}

// timeHeap is a min-heap of the open times.
type timeHeap []int64

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *timeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
