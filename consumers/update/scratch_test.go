package update

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

func TestScratchParse(t *testing.T) {
	raw, _ := os.ReadFile("../../slurm/testdata/squeue-22.05.json")
	var top map[string]json.RawMessage
	json.Unmarshal(raw, &top)
	var jobs []map[string]any
	json.Unmarshal(top["jobs"], &jobs)
	tmpl := jobs[3]
	out := make([]map[string]any, 10000)
	for i := range out {
		m := map[string]any{}
		for k, v := range tmpl { m[k] = v }
		m["job_id"] = i + 1
		out[i] = m
	}
	top2 := map[string]any{"meta": json.RawMessage(top["meta"]), "errors": []any{}, "jobs": out}
	data, _ := json.MarshalIndent(top2, "", "   ")
	t.Logf("size %d", len(data))
	t0 := time.Now()
	want := map[int64]bool{}
	for i := 1; i <= 1000; i++ { want[int64(i)] = true }
	js, err := slurm.ParseJobsJSON(data, func(id int64) bool { return want[id] })
	t.Logf("1000 of 10000: %d %v %s", len(js), err, time.Since(t0))
	t0 = time.Now()
	js, err = slurm.ParseJobsJSON(data, nil)
	t.Logf("all: %d %v %s", len(js), err, time.Since(t0))
}
