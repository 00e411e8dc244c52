package influx_test

import (
	"context"
	"errors"
	"io"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
)

func m(name string) int {
	i, ok := influx.MeasurementIndex(name)
	if !ok {
		panic(name)
	}
	return i
}

func vals(kv ...any) [10]float64 {
	var v [10]float64
	for i := 0; i < len(kv); i += 2 {
		v[m(kv[i].(string))] = kv[i+1].(float64)
	}
	return v
}

// TestAggregate follows the reference agent's test_compute cases: points grouped by (time,
// host, step, task), summed per measurement in the API's column order, missing measurements 0,
// rows sorted by time then host, step, task; empty in, empty out.
func TestAggregate(t *testing.T) {
	tests := []struct {
		name   string
		points []influx.Point
		want   []influx.Row
	}{
		{"empty", nil, []influx.Row{}},
		{
			"one series, several measurements",
			[]influx.Point{
				{Time: 1, Host: "h1", Step: "1", Task: "1", Measurement: m("CPUFrequency"), Value: 10},
				{Time: 1, Host: "h1", Step: "1", Task: "1", Measurement: m("CPUTime"), Value: 20},
				{Time: 1, Host: "h1", Step: "1", Task: "1", Measurement: m("WriteMB"), Value: 5.5},
			},
			[]influx.Row{{Time: 1, Host: "h1", Step: 1, Task: 1, Values: vals("CPUFrequency", 10.0, "CPUTime", 20.0, "WriteMB", 5.5)}},
		},
		{
			"same key summed, unordered input sorted",
			[]influx.Point{
				{Time: 2, Host: "h2", Step: "0", Task: "0", Measurement: m("RSS"), Value: 100},
				{Time: 1, Host: "h2", Step: "0", Task: "0", Measurement: m("RSS"), Value: 7},
				{Time: 2, Host: "h1", Step: "0", Task: "0", Measurement: m("RSS"), Value: 1},
				{Time: 2, Host: "h2", Step: "0", Task: "0", Measurement: m("RSS"), Value: 50},
				{Time: 2, Host: "h1", Step: "-5", Task: "0", Measurement: m("GPUMemMB"), Value: 3},
				{Time: 2, Host: "h1", Step: "-5", Task: "0", Measurement: m("GPUMemMB"), Value: 4},
			},
			[]influx.Row{
				{Time: 1, Host: "h2", Step: 0, Task: 0, Values: vals("RSS", 7.0)},
				{Time: 2, Host: "h1", Step: -5, Task: 0, Values: vals("GPUMemMB", 7.0)},
				{Time: 2, Host: "h1", Step: 0, Task: 0, Values: vals("RSS", 1.0)},
				{Time: 2, Host: "h2", Step: 0, Task: 0, Values: vals("RSS", 150.0)},
			},
		},
		{
			"overflow and special steps",
			[]influx.Point{
				{Time: 5, Host: "h", Step: "batch", Task: "0", Measurement: m("VMSize"), Value: math.MaxInt64},
				{Time: 5, Host: "h", Step: "batch", Task: "0", Measurement: m("Pages"), Value: 9.2e18},
				{Time: 5, Host: "h", Step: "4294967292", Task: "0", Measurement: m("Pages"), Value: 1},
				{Time: 5, Host: "h", Step: "nope", Task: "0", Measurement: m("Pages"), Value: 1},
				{Time: 5, Host: "h", Step: "0", Task: "0", Measurement: 10, Value: 1},
			},
			[]influx.Row{
				{Time: 5, Host: "h", Step: -5, Task: 0, Values: vals("Pages", 9.2e18)},
				{Time: 5, Host: "h", Step: -4, Task: 0, Values: vals("Pages", 1.0)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := influx.Aggregate(tt.points)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseStep(t *testing.T) {
	tests := []struct {
		tag  string
		want int
		ok   bool
	}{
		{"-5", -5, true}, {"-4", -4, true}, {"0", 0, true}, {"12", 12, true},
		{"batch", -5, true}, {"extern", -4, true}, {"interactive", -6, true},
		{"4294967291", -5, true}, {"4294967292", -4, true},
		{"", 0, false}, {"Batch", 0, false}, {"1.0", 0, false}, {"99999999999", 0, false}, {"0x1", 0, false},
	}
	for _, tt := range tests {
		got, ok := influx.ParseStep(tt.tag)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseStep(%q) = %d, %v; want %d, %v", tt.tag, got, ok, tt.want, tt.ok)
		}
	}
	for tag, ok := range map[string]bool{"0": true, "3": true, "-1": false, "a": false, "": false} {
		if _, got := influx.ParseTask(tag); got != ok {
			t.Errorf("ParseTask(%q) ok = %v, want %v", tag, got, ok)
		}
	}
}

// sliceStream yields fixed batches and records how far it was read.
type sliceStream struct {
	batches [][]influx.Point
	read    int
	closed  bool
}

func (s *sliceStream) Next() ([]influx.Point, error) {
	if s.read >= len(s.batches) {
		return nil, io.EOF
	}
	b := s.batches[s.read]
	s.read++
	return b, nil
}

func (s *sliceStream) Close() error { s.closed = true; return nil }

func pts(meas string, host string, times ...int64) []influx.Point {
	out := make([]influx.Point, len(times))
	for i, t := range times {
		out[i] = influx.Point{Time: t, Host: host, Step: "0", Task: "0", Measurement: m(meas), Value: 1}
	}
	return out
}

// TestMergeStreams: rows are emitted while the streams are read (as soon as every stream has
// moved past their time), complete (both measurements summed), oldest first; every stream is
// closed.
func TestMergeStreams(t *testing.T) {
	a := &sliceStream{batches: [][]influx.Point{pts("CPUTime", "h", 1, 2), pts("CPUTime", "h", 3, 4), pts("CPUTime", "h", 5)}}
	b := &sliceStream{batches: [][]influx.Point{pts("RSS", "h", 1, 2, 3), pts("RSS", "h", 4, 5)}}
	agg := influx.NewAggregator(nil, nil)
	var times []int64
	var pendingAtEmit []int
	var readAtFirstEmit int
	err := influx.Merge(context.Background(), []influx.Stream{a, b}, agg, func(rows []influx.Row) error {
		if len(times) == 0 {
			readAtFirstEmit = a.read + b.read
		}
		for _, r := range rows {
			if r.Values != vals("CPUTime", 1.0, "RSS", 1.0) {
				t.Errorf("row %+v incomplete", r)
			}
			times = append(times, r.Time)
		}
		pendingAtEmit = append(pendingAtEmit, agg.Pending())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(times, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("times %v", times)
	}
	if readAtFirstEmit >= 5 {
		t.Fatalf("first rows emitted only after %d of 5 batches: not streaming", readAtFirstEmit)
	}
	if slices.Max(pendingAtEmit) > 3 {
		t.Fatalf("held up to %d rows while merging: %v", slices.Max(pendingAtEmit), pendingAtEmit)
	}
	if !a.closed || !b.closed {
		t.Fatal("streams not closed")
	}
	if read, kept := agg.Points(); read != 10 || kept != 10 {
		t.Fatalf("points %d/%d", read, kept)
	}
}

func TestMergeErrors(t *testing.T) {
	t.Run("unordered", func(t *testing.T) {
		s := &sliceStream{batches: [][]influx.Point{pts("RSS", "h", 5, 6), pts("RSS", "h", 4)}}
		err := influx.Merge(context.Background(), []influx.Stream{s}, influx.NewAggregator(nil, nil), func([]influx.Row) error { return nil })
		if !errors.Is(err, influx.ErrUnordered) || !s.closed {
			t.Fatalf("err %v, closed %v", err, s.closed)
		}
	})
	t.Run("emit error stops", func(t *testing.T) {
		boom := errors.New("boom")
		s := &sliceStream{batches: [][]influx.Point{pts("RSS", "h", 1), pts("RSS", "h", 2), pts("RSS", "h", 3)}}
		err := influx.Merge(context.Background(), []influx.Stream{s}, influx.NewAggregator(nil, nil), func([]influx.Row) error { return boom })
		if !errors.Is(err, boom) || s.read == 3 || !s.closed {
			t.Fatalf("err %v, read %d, closed %v", err, s.read, s.closed)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s := &sliceStream{batches: [][]influx.Point{pts("RSS", "h", 1)}}
		err := influx.Merge(ctx, []influx.Stream{s}, influx.NewAggregator(nil, nil), func([]influx.Row) error { return nil })
		if !errors.Is(err, context.Canceled) || !s.closed {
			t.Fatalf("err %v", err)
		}
	})
}
