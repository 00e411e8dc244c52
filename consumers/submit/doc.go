// Package submit is the agent's submit path: a bridge Source that enqueues every CREATED
// submission, and the SUBMIT consumer's Handler that turns each one into exactly one Slurm job
// (reported SUBMITTED) or a rejection the user can act on (reported REJECTED, see RejectionError).
//
// # Exactly one sbatch per submission
//
// Before sbatch the handler claims the submission in the
// submissions KV bucket with a create-only write (kv.Create), so two processes, on one login
// node or several, never both hold it; every later change of the record is a compare-and-set
// (kv.Update with the revision last read). The claim holds a marker made for it
// (slurm.NewMarker, random) and the mapped owner; sbatch puts the marker into the job's comment
// after the user's own comment. sbatch runs as the owner, who can change what it prints, so the
// job it names is read and must be the claim's (owned by the owner, carrying the marker) before
// its id is written into the claim and reported; a job that is not is a security event: logged at
// ERROR, nothing of it recorded or reported, the message dead-lettered. A redelivered or
// duplicated message then finds the record and:
//
//   - with a job id: only reads the job's state and reports it again (no sbatch);
//   - with a rejection message: sends the same rejection again;
//   - with a claim and no job id, fresh and held by another process: waits (RetryAfter) for that
//     process to finish or for the claim to go stale, unless Options.HolderGone says the holder
//     can no longer create the job (LocalHolderGone: it ran on this host and pid namespace, its
//     pid is gone and no process carries the submission's marker, i.e. no orphaned sbatch);
//   - with a claim and no job id otherwise (stale, holder gone, or this process's own claim
//     after a failed attempt; holder ids are unique to a process's life, NewHolderID, so a
//     restarted agent never takes its predecessor's claims for its own): reconciles against
//     Slurm (slurm.Client.FindMarkedJobs): only a job of the claim's owner carrying the claim's
//     marker, submitted after the claim, finished or not, counts. Jobs with another marker of the
//     submission (an earlier run against the same Slurm, another Jobbergate instance) and jobs of
//     other users are never adopted. A job found is recorded and reported (the lowest id if
//     several, logged as an error); only when Slurm surely has none is the claim taken over (CAS)
//     and sbatch run with a new marker. When that cannot be told (the claim is older than
//     slurmctld keeps finished jobs and accounting records no comments) the message is
//     dead-lettered with the commands an admin needs, never submitted again.
//
// sbatch runs under a timeout shorter than Options.ClaimStaleAfter so that a claim goes stale
// only once its holder can no longer be inside sbatch. After MarkSubmitted succeeds the record is
// rewritten with a per-key TTL (Options.DoneTTL), so records expire once the submission has left
// CREATED, while a message enqueued again in the meantime still finds them.
//
// # Slurm slots
//
// Options.SlurmConcurrency (SUBMIT_CONCURRENCY) bounds the deliveries in their Slurm
// stage, the claim and sbatch (and the queue read of a reconciliation, the state read of a
// re-report), so slurmctld is not flooded; the runner hands the handler more deliveries than that
// (InFlight), and the rest of the work (mapping, downloads, file writes, the job
// id record, the new job's state read, the report to the API) runs outside the slots, so the next
// sbatch starts as soon as one returns. Those state reads (usually answered by the Slurm client's
// few long-lived scontrol sessions) have SlurmConcurrency slots of their own, so Slurm sees at
// most twice SlurmConcurrency commands from one process even when every read starts a scontrol.
// With an API one round trip away, sbatch then never waits for the network. A delivery still
// waiting for a slot when the runner begins to shut down (consumers.Stopping) is left for
// redelivery without running sbatch, unless it is the message's last delivery. The price of the
// extra deliveries in flight: with several agents on a short queue, one agent may hold up to three
// rounds of sbatch more than another while it works through them.
//
// # One owner's share
//
// sbatch runs as the submission's owner, who can stop it (SIGSTOP) until the submit timeout. So
// that one owner cannot starve the others, Options.OwnerSlurmConcurrency bounds the owner's
// Slurm slots, and the owner's deliveries are admitted (after the owner is mapped and the
// submission's data checked, before anything runs as the owner or any file is downloaded) at
// most twice SlurmConcurrency at once, half of the runner's slots; they hold at most half of
// the download budget. A delivery that finds its owner's admissions in use gives its runner
// slot back (consumers.ReleaseSlot) and waits, up to Options.OwnerWaiting of them per owner (as many as the runner's slots), so
// the runner goes on fetching other owners' messages; it is admitted as soon as one of the
// owner's admissions ends (all owners' admissions together stay within the runner's slots).
// Beyond that a delivery is deferred (consumers.Defer): it holds nothing while it waits in the
// queue, comes back at its turn (as far after the owner's previous deferred delivery as the
// owner's admissions come free: see ownerLimits.turn), and is requeued rather than
// dead-lettered however often that happens.
//
// # Decisions
//
// Each delivery ends in a consumers.Decision: a payload that does not decode is dead-lettered; permanent
// problems of the submission (owner not mappable, bad execution directory, unknown local user or
// root, no entrypoint, a file that does not exist, sbatch refusing the job) are a
// *RejectionError, whose Message is the report_message of the rejection; transient
// ones (API 5xx and timeouts, mapper outages, KV errors, "Socket timed out" from Slurm) are
// retried with backoff and never reject; on the message's last delivery a transient failure is
// dead-lettered with its cause. Every outcome is logged with submission_id and slurm_job_id.
package submit
