package bridge

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPerCyclePollsOncePerCycleAndRetriesFailures(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	fail := true
	var cycles []int64
	src := PerCycle("t", time.Minute, func() time.Time { return now }, func(_ context.Context, cycle int64) ([]Outgoing, error) {
		cycles = append(cycles, cycle)
		if fail {
			return nil, errors.New("api down")
		}
		return []Outgoing{{Subject: "s", MsgID: "m"}}, nil
	})
	if _, err := src.Poll(context.Background()); err == nil {
		t.Fatal("the poll's error must come through")
	}
	fail = false
	if out, err := src.Poll(context.Background()); err != nil || len(out) != 1 {
		t.Fatalf("a failed cycle is polled again: %v %v", out, err)
	}
	if out, _ := src.Poll(context.Background()); len(out) != 0 {
		t.Fatalf("a second poll in the same cycle must return nothing, got %v", out)
	}
	now = now.Add(time.Minute)
	if out, _ := src.Poll(context.Background()); len(out) != 1 {
		t.Fatal("the next cycle polls again")
	}
	want := []int64{Cycle(time.Unix(1_000_000, 0), time.Minute), Cycle(time.Unix(1_000_000, 0), time.Minute), Cycle(now, time.Minute)}
	if len(cycles) != 3 || cycles[0] != want[0] || cycles[1] != want[1] || cycles[2] != want[2] {
		t.Errorf("polled cycles %v, want %v", cycles, want)
	}
	if src.Name() != "t" {
		t.Errorf("Name() = %q", src.Name())
	}
}
