// Package metrics uploads each active job's resource metrics from InfluxDB to the Jobbergate API
// (spec section 11) through the METRICS work queue, so that slow InfluxDB queries never delay
// submissions or state updates.
//
// Two halves meet on the METRICS queue:
//
//   - NewSource is a bridge.Source: each cycle it lists the active submissions (SUBMITTED or
//     CANCELLED, all pages) and yields one message per submission that has a Slurm job, on
//     Metrics.Subject(<submission id>), with the JSON Job {submission_id, slurm_job_id} as
//     payload and the Jbg-Submission-Id header. Its Nats-Msg-Id is MsgID(id, cycle), where the
//     cycle is the index of the wall-clock interval the poll falls in: the next cycle publishes
//     again, and a second bridge polling the same cycle is dropped by JetStream's dedupe.
//     METRICS keeps at most one message per subject: while a job's message waits or is being
//     handled, a new publish is rejected and the poller counts it as already queued (not an
//     error). SharedLister lets the update source and this one share one API listing per cycle.
//
//   - Handler is a consumers.Handler: per message it runs a Syncer for the job: it reads what
//     the API holds (max time per series), plans the InfluxDB queries (package influx reads and
//     aggregates), and uploads only the newer rows, in chunks under the API's limit.
//
// One sync at a time per job. Because METRICS holds at most one message per job and a message
// stays in the stream until it is acked or terminated (a Retry keeps it, the runner's
// InProgress heartbeats keep it from being redelivered elsewhere), no two syncs of the same job
// ever run at once, across every agent process. The handler relies on this: a Syncer is not
// safe for two concurrent syncs of one job.
//
// Decisions.
//
//   - Ack: the sync succeeded, including "nothing new" (no upload at all).
//   - Retry (backoff by the runner): InfluxDB failures (unreachable, query errors), API
//     transport errors, timeouts, 5xx, 408 and 429. A retry on the last allowed delivery
//     terminates with the error instead.
//   - Terminate (the message lands in DEAD with the reason): an undecodable payload; an API
//     4xx answer other than a refused chunk (e.g. 403/404: the submission is not this
//     cluster's); an answer that cannot be decoded; a Flux job id that is not a number.
//   - A chunk the API refuses with a 4xx (a *ChunkError whose Rejected is true, matching
//     ErrChunkRejected): the message terminates with the API's detail, and the job is held
//     (Options.RefusedHold, default 1 h, in memory, per process): its messages are acked
//     without syncing until the hold ends, then the job is tried again. Because every upload
//     resumes exactly after what the API holds, a refused chunk blocks the job's later points
//     too; holding the job bounds DEAD to one letter per job per hold instead of one per cycle,
//     and retrying after the hold picks the job up again once the API is fixed. A refusal of
//     rows the API already holds is not one: when the client's retry of an upload whose answer
//     was lost collides with the stored rows (400 "Failed to insert metrics"), the sync reads
//     the API's max times, finds the chunk stored and goes on.
//
// Retries: one layer per hop. The API client retries its own transient failures (transport
// errors, timeouts, 5xx, 408, 429) up to its RetryPolicy.MaxAttempts (3 by default); the
// Syncer sends each chunk once per sync and the handler syncs once per message; what is still
// failing goes back to JetStream, which redelivers with the runner's backoff up to MaxDeliver.
// A chunk that keeps failing is thus sent at most MaxAttempts times per delivery (once when
// refused), and MaxAttempts × MaxDeliver times in all (a 401 answer is re-sent once with a new
// token, which is authentication, not a retry).
//
// Logs carry submission_id and slurm_job_id.
package metrics
