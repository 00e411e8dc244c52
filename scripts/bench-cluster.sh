#!/usr/bin/env bash
# bench-cluster.sh: what the agent costs a login node and slurmctld on a busy cluster.
#
# Fills the host's single-node Slurm (deploy/slurm/slurm-single-node.sh, MaxJobCount=100000)
# with held jobs of another user (bench-others, created here), to each size of BC_SIZES in turn,
# and runs e2e's BenchmarkClusterCost at each size: the agent with 1,000 active submissions of
# its own, per update cycle its wall time, its CPU and that of every command it ran, their peak
# RSS, slurmctld's CPU and RPCs (sdiag), next to the reference agent's model and the previous
# design's squeue --json, then one crash reconcile of 8 submissions. The other user's jobs are
# cancelled at the end (BC_KEEP=1 keeps them). Needs root. Not part of `make test`: it takes
# about 10 minutes.
#
# Settings:
#   BC_SIZES   other users' held jobs to measure at, ascending (default "10000 50000")
#   BC_USER    the other user (default bench-others)
#   BC_KEEP    1: leave the other user's jobs in Slurm
#   BC_LOG     where each run's output is kept (default /tmp/jbg-bench-cluster)
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${BC_SIZES:-10000 50000}
user=${BC_USER:-bench-others}
logdir=${BC_LOG:-/tmp/jbg-bench-cluster}
mkdir -p "$logdir"

log() { printf 'bench-cluster: %s\n' "$*" >&2; }
[[ $(id -u) == 0 ]] || { log "needs root"; exit 1; }

SNS_INFLUX=${SNS_INFLUX:-1} SNS_INFLUX_DEFAULT=${SNS_INFLUX_DEFAULT:-None} bash deploy/slurm/slurm-single-node.sh start >&2
id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"

held() { squeue -h --states=all --user="$user" --format=%i | wc -l; }

# fill N: submit held jobs of $user until it holds N, 8 sbatch at a time.
fill() {
	local want=$1 have
	have=$(held)
	((have >= want)) && return
	log "submitting $((want - have)) held jobs of $user (holds $have)"
	local start=$SECONDS per=$(((want - have + 7) / 8))
	for _ in 1 2 3 4 5 6 7 8; do
		(
			cd /tmp
			for ((i = 0; i < per; i++)); do
				runuser -u "$user" -- sbatch --hold --quiet --job-name=bench-other --output=/dev/null \
					--chdir=/tmp --wrap=true >/dev/null || exit 1
			done
		) &
	done
	wait
	log "$user holds $(held) jobs ($((SECONDS - start)) s)"
}

cleanup() {
	[[ ${BC_KEEP:-0} == 1 ]] && return
	log "cancelling $user's jobs"
	scancel --user="$user" || true
}
trap cleanup EXIT

for n in $sizes; do
	fill "$n"
	log "BenchmarkClusterCost with $(held) jobs of $user"
	JBG_BENCH_CLUSTER=1 CI=true go test -run '^$' -bench BenchmarkClusterCost -benchtime 1x -timeout 30m ./e2e/ \
		2>&1 | tee "$logdir/others-$n.log" | grep -E '^cluster:|^(ok|FAIL|---)' >&2
	grep -q '^ok' "$logdir/others-$n.log" || { log "benchmark failed at $n: $logdir/others-$n.log"; exit 1; }
done
log "logs in $logdir"
