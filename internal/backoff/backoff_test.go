package backoff

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		p    Policy
		want []time.Duration // Delay(0), Delay(1), Delay(2), ...
	}{
		{"doubles by default", Policy{Initial: 100 * ms}, []time.Duration{100 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms}},
		{"capped", Policy{Initial: time.Second, Max: 3 * time.Second}, []time.Duration{time.Second, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}},
		{"multiplier", Policy{Initial: ms, Multiplier: 3}, []time.Duration{ms, ms, 3 * ms, 9 * ms}},
		{"multiplier below 1 means 2", Policy{Initial: ms, Multiplier: 0.5}, []time.Duration{ms, ms, 2 * ms}},
		{"cap below initial", Policy{Initial: time.Second, Max: 500 * ms}, []time.Duration{500 * ms, 500 * ms, 500 * ms}},
		{"no initial", Policy{Max: time.Second}, []time.Duration{0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for n, want := range tc.want {
				if got := tc.p.Delay(n); got != want {
					t.Errorf("Delay(%d) = %s, want %s", n, got, want)
				}
			}
		})
	}
}

func TestDelayNeverOverflows(t *testing.T) {
	for _, p := range []Policy{
		{Initial: time.Second},
		{Initial: time.Second, Multiplier: 1000, Jitter: Spread(0.9)},
		{Initial: time.Second, Multiplier: 1, Max: time.Minute},
		{Initial: time.Duration(math.MaxInt64 / 4), Jitter: Equal},
	} {
		for _, n := range []int{64, 1000, math.MaxInt} {
			if d := p.Delay(n); d <= 0 {
				t.Errorf("%+v: Delay(%d) = %s", p, n, d)
			}
		}
	}
}

func TestJitterBounds(t *testing.T) {
	d := 10 * time.Second
	tests := []struct {
		name      string
		jitter    Jitter
		lo, hi    time.Duration
		minSpread time.Duration // the draws must differ by at least this much
	}{
		{"equal", Equal, d / 2, d, d / 4},
		{"spread 20%", Spread(0.2), 8 * time.Second, 12 * time.Second, time.Second},
		{"spread clamped to 90%", Spread(5), time.Second, 19 * time.Second, 5 * time.Second},
		{"spread 0", Spread(0), d, d, 0},
		{"spread negative", Spread(-1), d, d, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Policy{Initial: d, Jitter: tc.jitter}
			lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
			for range 2000 {
				got := p.Delay(1)
				if got < tc.lo || got > tc.hi {
					t.Fatalf("Delay = %s, outside [%s, %s]", got, tc.lo, tc.hi)
				}
				lo, hi = min(lo, got), max(hi, got)
			}
			if hi-lo < tc.minSpread {
				t.Errorf("draws span only [%s, %s]", lo, hi)
			}
		})
	}
	if got := Equal(0); got != 0 {
		t.Errorf("Equal(0) = %s", got)
	}
}

func TestWait(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		d       time.Duration
		want    error
		atLeast time.Duration
	}{
		{"sleeps", context.Background(), 20 * time.Millisecond, nil, 20 * time.Millisecond},
		{"zero returns at once", context.Background(), 0, nil, 0},
		{"cancelled context ends the wait", cancelled, time.Hour, context.Canceled, 0},
		{"cancelled context with no wait", cancelled, 0, context.Canceled, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := Wait(tc.ctx, tc.d)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Errorf("Wait = %v, want %v", err, tc.want)
			}
			if el := time.Since(start); el < tc.atLeast || el > tc.atLeast+5*time.Second {
				t.Errorf("Wait took %s", el)
			}
		})
	}
}
