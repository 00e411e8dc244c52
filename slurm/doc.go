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
// Job records. From Slurm 23.02 on, a job's record (JobData.JobInfo, the portal's
// slurm_job_info) is its object of scontrol show job --json (the object squeue --json prints
// too); Slurm 22.05 has no scontrol --json, so there a record is the job's scontrol -o
// Key=Value pairs as a JSON object of strings (only the first record of the id asked for is
// taken, since a value with a newline can forge a line). The version is read with scontrol
// --version once an hour (Options.SlurmVersion sets it). Jobs are only ever read singly
// (JobState, JobStates), never as a whole queue, so a read costs the same on a cluster of any
// size; single reads go to one of a few long-lived interactive scontrol sessions
// (Options.StateSessions; --json sessions on 23.02+), each command followed by "show hostnames
// <nonce>", whose line ends the answer; anything a session cannot answer cleanly is read again
// with a scontrol of its own. An owner's jobs are listed with squeue --user (ids with states,
// OwnerStates; ids with comments, FindMarkedJobs), streamed: the controller filters by user, and
// nothing of the listing is held but what is kept of it. What the agent's reads may print is
// bounded (ErrOutputTooLarge).
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
