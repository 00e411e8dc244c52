package submit

import (
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// TestSbatchTransientDecidedBySlurmNotByUser: only sbatch's own "Batch job submission failed"
// line with one of Slurm's transient messages is retried; a submitter's text that says "try
// again" or "Socket timed out" (a partition or account name echoed by sbatch) is a rejection.
func TestSbatchTransientDecidedBySlurmNotByUser(t *testing.T) {
	for _, tt := range []struct {
		name      string
		exit      int
		stderr    string
		transient bool
	}{
		{"socket timeout", 1, "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n", true},
		{"controller down", 1, "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n", true},
		{"queue full", 1, "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying\nsbatch: error: Batch job submission failed: Resource temporarily unavailable\n", true},
		{"partition named try again", 1, "sbatch: error: invalid partition specified: try again\nsbatch: error: Batch job submission failed: Invalid partition name specified\n", false},
		{"account named like a timeout", 1, "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified\nsbatch: error: Socket timed out on send/recv operation\n", false},
		{"forged line, other exit status", 2, "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n", false},
		{"transient message with more text", 1, "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation (try again)\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reject := sbatchRejection(&slurm.CommandError{ExitCode: tt.exit, Stderr: tt.stderr}) != nil
			if reject == tt.transient {
				t.Errorf("rejected=%v for %q, want transient=%v", reject, tt.stderr, tt.transient)
			}
		})
	}
}
