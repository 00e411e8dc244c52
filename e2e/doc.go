// Package e2e holds end-to-end tests and benchmarks of the real jobbergate-agent binary: the
// development Jobbergate API runs in the test process, the agent is built once per test run and
// started as a child process (embedded NATS or a client of a test NATS server), and real Slurm
// runs the jobs.
//
// The crash tests kill the agent with SIGKILL at random moments and check that every submission
// ends SUBMITTED with the one Slurm job carrying its marker: none missing, none duplicated.
// BenchmarkSubmitThroughput measures the submit path against bare sbatch on the same Slurm.
//
// Every test needs root and a running Slurm with the users alice and bob
// (deploy/slurm/slurm-single-node.sh start); they skip without them, and fail under CI=true.
// Submission ids come from a range (1e9..2e9) that no other package's tests use, and each test
// cancels the jobs carrying its markers when it ends.
package e2e
