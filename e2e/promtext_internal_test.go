package e2e

import (
	"strings"
	"testing"
	"time"
)

func TestParsePromTextAndDeltas(t *testing.T) {
	before, err := parsePromText(strings.NewReader(`# HELP x y
# TYPE jobbergate_agent_sbatch_seconds histogram
jobbergate_agent_sbatch_seconds_bucket{result="ok",le="0.01"} 0
jobbergate_agent_sbatch_seconds_sum{result="ok"} 1.5
jobbergate_agent_sbatch_seconds_count{result="ok"} 10
go_goroutines 12
`))
	if err != nil {
		t.Fatal(err)
	}
	if before["go_goroutines"] != 12 || before[`jobbergate_agent_sbatch_seconds_count{result="ok"}`] != 10 {
		t.Fatalf("parsed %v", before)
	}
	after := promSamples{
		`jobbergate_agent_sbatch_seconds_sum{result="ok"}`:      4.5,
		`jobbergate_agent_sbatch_seconds_count{result="ok"}`:    40,
		`jobbergate_agent_sbatch_seconds_sum{result="error"}`:   0.5,
		`jobbergate_agent_sbatch_seconds_count{result="error"}`: 1,
	}
	got := histDeltas(before, after, "jobbergate_agent_sbatch_seconds")
	want := []histDelta{{`{result="ok"}`, 30, 3}, {`{result="error"}`, 1, 0.5}}
	if len(got) != len(want) {
		t.Fatalf("deltas %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("delta %d = %v, want %v", i, got[i], want[i])
		}
	}
	if m := got[0].mean(); m != 100*time.Millisecond {
		t.Errorf("mean %v, want 100ms", m)
	}
	if _, err := parsePromText(strings.NewReader("novalue\n")); err == nil {
		t.Error("a line without value parsed")
	}
}
