package update

import (
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

func TestStableDigestIgnoresOnlyVolatileFields(t *testing.T) {
	data := func(info string) jobbergate.SlurmJobData {
		return jobbergate.SlurmJobData{JobState: jobbergate.SlurmJobState("RUNNING"), JobInfo: info}
	}
	base := `{"job_id":1,"priority":5,"nodes":"n1","start_time":{"set":true,"number":10}}`
	for _, tc := range []struct {
		name, info string
		same       bool
	}{
		{"identical", base, true},
		{"volatile fields changed", `{"job_id":1,"priority":6,"nodes":"n1","start_time":{"set":true,"number":99}}`, true},
		{"volatile field gone", `{"job_id":1,"nodes":"n1"}`, true},
		{"a real field changed", `{"job_id":1,"priority":5,"nodes":"n2","start_time":{"set":true,"number":10}}`, false},
		{"a field added", `{"job_id":1,"priority":5,"nodes":"n1","start_time":{"set":true,"number":10},"x":1}`, false},
		{"not an object", `[1]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stableDigest(data(tc.info)) == stableDigest(data(base)); got != tc.same {
				t.Errorf("same digest = %v, want %v", got, tc.same)
			}
		})
	}
	first, second := stableDigest(data("not json")), stableDigest(data("not json"))
	if first != second {
		t.Error("digest of a non-JSON job_info is not deterministic")
	}
	if stableDigest(data("not json")) == stableDigest(data("not json!")) {
		t.Error("different non-JSON job_info texts share a digest")
	}
}
