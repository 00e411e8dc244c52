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
// Job state is read in batches: one squeue --json call serves any number of job ids (on Slurm
// 22.05 squeue --json ignores its filters and returns every job slurmctld holds, so the result is
// filtered here). The parsers accept the JSON shapes of Slurm 22.05 to 24.11.
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
