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
package slurm
