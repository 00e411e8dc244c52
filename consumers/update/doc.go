// Package update keeps the portal's view of every active job current and cancels in Slurm what
// users cancelled in the portal (spec section 9).
//
// Two halves meet on the UPDATE work queue:
//
//   - NewSource is a bridge.Source: each cycle it lists every active submission (SUBMITTED or
//     CANCELLED, all pages) and yields one message per submission on Update.Subject(<id>),
//     carrying the ActiveSubmission JSON, the Jbg-Submission-Id header and the cycle number
//     (HeaderCycle). The cycle number is the index of the wall-clock interval the poll falls in,
//     so every bridge agrees on it: the Nats-Msg-Id "update-<id>-<cycle>" is new each cycle (the
//     next cycle publishes again) and identical for two bridges polling the same cycle (JetStream
//     drops the second). UPDATE keeps at most one waiting message per submission; a publish
//     rejected because one still waits is counted by the poller as already queued, not as an error.
//
//   - Handler is a consumers.BatchHandler: for a batch it scancels the jobs of CANCELLED
//     submissions, reads the jobs that may have changed (see Slurm reads), and PUTs slurm id,
//     state, info and reason per submission, several PUTs at a time. CANCELLED submissions without a Slurm job are
//     reported as the reference does (state CANCELLED, info "{}", its fixed reason), which
//     makes the API mark them ABORTED.
//
// Change detection. The handler remembers, per submission and per process (in memory, lost on
// restart, which only costs one extra PUT per job), a SHA-256 digest of the last state, reason
// and job info it PUT successfully, and the cycle of that PUT. An update whose digest is
// unchanged is skipped unless RefreshCycles cycles have passed since that PUT. Slurm's job
// object has fields that change without anything happening to the job (last_sched_evaluation,
// priority aging, the scheduler's start/end estimates of a pending job...): those fields are
// left out of the digest (see VolatileInfoFields) but never out of what is sent, so every PUT
// carries the complete current job_info.
//
// Slurm reads. The cost of a cycle follows the agent's active submissions, not the cluster's
// job count (scripts/bench-cluster.sh measures it with 10,000 and 50,000 other jobs): no whole
// queue is ever read. For an owner with at least OwnerListingMin jobs in a batch that were
// reported before and whose refresh is not due, one listing of that owner's jobs (squeue
// --user: id, state, reason; kept ListingMaxAge) tells which are unchanged: those are neither
// read nor PUT. Every other job is read on its own (JobStates: scontrol show job <id> in the
// long-lived state sessions) after the batch arrived, so a job missing from slurmctld is gone:
// it was submitted before the cycle listed its submission. A listing is never used to take a job
// for gone (it may be older than the job). Gone jobs are asked of accounting with one sacct per
// batch (UNKNOWN when accounting does not know them either). No single read is shared between
// batches: with two bridges a cycle can be listed twice (a new leader lists it again), so a
// later batch of a cycle may name a job newer than any earlier read, and taking such a job for
// gone would end a live submission. Scancels are followed by the read of the cancelled job.
//
// Decisions. 409 (slurm id mismatch), 400 (no longer updatable), 403, 404 and other 4xx answers
// terminate the message with the API's detail (it lands in DEAD); 5xx, timeouts and Slurm
// failures retry with backoff; a transient failure on the last allowed delivery terminates with
// its reason.
package update
