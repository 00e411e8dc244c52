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
//     submissions, takes every job's state from one read of the whole queue
//     (slurm.Client.QueueJobs, one squeue --json), and PUTs slurm id, state, info and reason
//     per submission, several PUTs at a time. CANCELLED submissions without a Slurm job are
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
// Slurm snapshot. squeue --json prints every job (Slurm 22.05 ignores its filters), so the
// handler reads the whole queue once per update cycle and every batch of that cycle shares the
// read: one Slurm process per cycle whatever the number of jobs (BenchmarkUpdateCycle: 10,000
// jobs, one squeue). The document is indexed by job id with internal/jsonscan, and only the
// jobs of active submissions are decoded (slurm.Queue), so other users' jobs cost one walk. The
// cycle's read comes after the cycle's listing of active submissions, so a job missing from it
// is gone; it is asked of accounting with one slurm.Client.ResolveGone call per batch (sacct;
// UNKNOWN when accounting does not know it either). Messages without a cycle number share a read
// for SnapshotMaxAge, and a job missing from such a read is first looked for in a new one (it
// may have been submitted since). Scancels force a new read so the cancelled state is reported.
//
// Decisions. 409 (slurm id mismatch), 400 (no longer updatable), 403, 404 and other 4xx answers
// terminate the message with the API's detail (it lands in DEAD); 5xx, timeouts and Slurm
// failures retry with backoff; a transient failure on the last allowed delivery terminates with
// its reason.
package update
