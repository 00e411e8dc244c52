// Package slurm runs the Slurm commands of the agent: sbatch as the submitting user, squeue,
// scontrol and scancel as the agent, and the file operations on the user's execution directory.
//
// Commands as a user never go through a shell: they run with the user's uid, primary gid and an
// explicitly set supplementary group list (never the agent's), an empty environment plus
// PATH=/usr/bin:/bin, and their working directory is entered after the identity switch. Commands
// as the agent run with the agent's identity and environment minus Slurm's input variables
// (SLURM_*, SBATCH_*, SQUEUE_*..., except SLURM_CONF), so that output formats stay the ones this
// package parses.
//
// File-system work for a user (resolving and checking the execution directory, writing job
// files) runs inside the agent on a locked OS thread that takes the user's fsuid, fsgid and
// groups for the duration (asUser): the kernel judges every step as the user, as it would for a
// process of the user's, without starting one (27 us to check a directory, 0.3 ms to write a
// file, against 0.8 ms for one process).
//
// Job state is read in batches: QueueJobs reads every job with one squeue --json call (on Slurm
// 22.05 squeue --json ignores its filters and returns every job slurmctld holds), indexes it by
// job id in one pass and decodes a job when it is asked for; JobStates serves a set of ids from
// one call. A single new job is read with scontrol show job <id> (JobState), whose cost does not
// grow with the queue; with Options.StateSessions that read goes to one of a few long-lived
// interactive scontrol -o processes (each command followed by "version", whose line ends the
// answer), which saves a process start per read, about half the read's CPU on a login node.
// Anything a session cannot answer cleanly (an unknown id, an error, a timeout, a scontrol that
// does not speak the protocol) is read again with a scontrol of its own. The parsers accept the
// JSON shapes of Slurm 22.05 to 26.05. Every listing asks for jobs in all states: from 24.11 on,
// squeue's default state filter also applies to --json, which would hide finished jobs.
//
// Job identity. A submitted job carries a marker made for its claim (NewMarker, 128 random bits)
// in its comment, after the user's own comment (JoinComment, ScriptComment). Identity.Check
// accepts a job only when it is owned by the submission's mapped owner (the uid as Slurm prints
// it; a UserId= that appears twice in a scontrol line, forged by the job's name or comment, makes
// the owner unknown), carries the marker and was not submitted before the claim. FindMarkedJobs
// lists the owner's jobs only (squeue --user, ids and comments) and checks each candidate with a
// single-job read, so its cost follows the owner's jobs, not the cluster's.
//
// Jobs slurmctld no longer holds (finished more than MinJobAge ago) are looked up in accounting
// with one sacct call per batch: sacct --json with slurmdbd, sacct -X -P when slurmdbd has no
// JSON plugin, sacct -c -P reading the jobcomp/filetxt file without slurmdbd. Which one works is
// probed once and cached; with none of them those ids are UNKNOWN as in the reference agent.
// Limits: the jobcomp file of Slurm 22.05 has no job comments (so the submission marker can be
// searched only in slurmdbd with AccountingStoreFlags=job_comment) and its Submit column shows
// the start time; slurmdbd receives a job's records asynchronously, so right after a job ends
// its accounting record may still lack fields.
package slurm
