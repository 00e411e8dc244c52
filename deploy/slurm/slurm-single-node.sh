#!/usr/bin/env bash
# slurm-single-node.sh {start|stop|status}
#
# A single-node Slurm cluster for development and CI on Debian 12, without systemd.
# Run as root. Idempotent: `start` when everything already runs only checks and returns.
#
#   start   install missing packages (slurmctld slurmd slurm-client munge; apt-get update only
#           when something is missing), add the test users and their shared group, start munged,
#           write /etc/slurm/slurm.conf from `slurmd -C` (daemons restarted only when it changed),
#           start slurmctld and slurmd, wait (bounded by wall time) until the node takes jobs,
#           resume a drained or down node.
#   stop    cancel every job, stop slurmd and slurmctld (SIGTERM, SIGKILL after 10 s) and munged.
#   status  print daemons and node state; exit 0 when the node takes jobs, 3 otherwise.
#
# Settings (the script's own variables are SNS_*; SLURM_* and SBATCH_* never reach the daemons):
#   SNS_TEST_USERS   users to create with home directories (default "alice bob")
#   SNS_TEST_GROUP   supplementary group every test user is added to (default "jbgshared")
#   SNS_WAIT_S       wall-time bound of the wait for the node (default 60)
#   SNS_CLEAN_STATE  1: wipe the saved controller state (job ids restart at 1) on start
#   SNS_CONF         path of slurm.conf (default /etc/slurm/slurm.conf)
set -euo pipefail

# Nothing from the caller's Slurm environment may reach the daemons or commands.
while IFS= read -r name; do
	unset "$name"
done < <(compgen -e | grep -E '^(SLURM|SBATCH|SALLOC|SRUN|SQUEUE|SINFO|SCONTROL|SACCT)_' || true)

SNS_TEST_USERS=${SNS_TEST_USERS-alice bob}
SNS_TEST_GROUP=${SNS_TEST_GROUP:-jbgshared}
SNS_WAIT_S=${SNS_WAIT_S:-60}
SNS_CLEAN_STATE=${SNS_CLEAN_STATE:-0}
SNS_CONF=${SNS_CONF:-/etc/slurm/slurm.conf}

PACKAGES=(slurmctld slurmd slurm-client munge)
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid
DAEMON_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C)

log() { printf 'slurm-single-node: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# pid_alive FILE: the process named in FILE runs.
pid_alive() {
	local pid
	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# stop_pid NAME FILE: SIGTERM, then SIGKILL after 10 s (slurmd may ignore SIGTERM while the
# controller is down).
stop_pid() {
	local name=$1 file=$2 pid i
	pid_alive "$file" || {
		rm -f "$file"
		return 0
	}
	pid=$(<"$file")
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name ignored SIGTERM, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$file"
}

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]]; then
			missing+=("$p")
		fi
	done
	((${#missing[@]} == 0)) && return 0
	log "installing ${missing[*]}"
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

add_users() {
	local u
	getent group "$SNS_TEST_GROUP" >/dev/null || groupadd "$SNS_TEST_GROUP"
	for u in $SNS_TEST_USERS; do
		[[ $u == root ]] && die "refusing to use root as a test user"
		if ! id -u "$u" >/dev/null 2>&1; then
			log "adding user $u"
			useradd -m -s /bin/bash "$u"
		fi
		if ! id -nG "$u" | tr ' ' '\n' | grep -qx "$SNS_TEST_GROUP"; then
			usermod -a -G "$SNS_TEST_GROUP" "$u"
		fi
	done
}

start_munge() {
	if [[ ! -s /etc/munge/munge.key ]]; then
		log "creating /etc/munge/munge.key"
		dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
		chown munge:munge /etc/munge/munge.key
		chmod 0400 /etc/munge/munge.key
	fi
	install -d -o munge -g munge -m 0755 /run/munge
	if ! pid_alive "$MUNGE_PID"; then
		log "starting munged"
		rm -f "$MUNGE_PID"
		"${DAEMON_ENV[@]}" runuser -u munge -- /usr/sbin/munged
	fi
	munge -n | unmunge >/dev/null || die "munge does not work"
}

# render_conf prints slurm.conf for this machine.
render_conf() {
	local host node
	host=$(hostname -s)
	node=$("${DAEMON_ENV[@]}" slurmd -C | head -1)
	[[ $node == NodeName=* ]] || die "unexpected slurmd -C output: $node"
	cat <<EOF
# Written by deploy/slurm/slurm-single-node.sh: a single-node development cluster.
ClusterName=local
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID}
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
MaxJobCount=50000
${node} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=second Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF
}

# write_conf writes slurm.conf; it returns 0 when the file changed, 1 when it was already current.
write_conf() {
	local tmp
	tmp=$(mktemp "${SNS_CONF}.XXXXXX")
	render_conf >"$tmp"
	chmod 0644 "$tmp"
	if [[ -f $SNS_CONF ]] && cmp -s "$tmp" "$SNS_CONF"; then
		rm -f "$tmp"
		return 1
	fi
	mv -f "$tmp" "$SNS_CONF"
	log "wrote $SNS_CONF"
	return 0
}

node_name() { "${DAEMON_ENV[@]}" slurmd -C | head -1 | sed -e 's/^NodeName=\([^ ]*\).*/\1/'; }

# node_state prints the node's state (idle, mixed, drained...) or nothing; each call is bounded.
node_state() {
	timeout 5 "${DAEMON_ENV[@]}" sinfo -h -N -n "$1" -o '%T' 2>/dev/null | head -1 || true
}

start() {
	[[ $(id -u) -eq 0 ]] || die "run as root"
	install_packages
	add_users
	start_munge
	install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm
	install -d /var/spool/slurmd

	local changed=0
	if write_conf; then changed=1; fi
	if [[ $SNS_CLEAN_STATE == 1 ]]; then
		changed=1
	fi
	if ((changed)); then
		stop_pid slurmd "$SLURMD_PID"
		stop_pid slurmctld "$CTLD_PID"
		if [[ $SNS_CLEAN_STATE == 1 ]]; then
			log "wiping controller state"
			find /var/spool/slurmctld -mindepth 1 -delete
			find /var/spool/slurmd -mindepth 1 -delete
		fi
	fi
	if ! pid_alive "$CTLD_PID"; then
		log "starting slurmctld"
		"${DAEMON_ENV[@]}" /usr/sbin/slurmctld
	fi
	if ! pid_alive "$SLURMD_PID"; then
		log "starting slurmd"
		"${DAEMON_ENV[@]}" /usr/sbin/slurmd
	fi

	local node state deadline resumed=0
	node=$(node_name)
	deadline=$((SECONDS + SNS_WAIT_S))
	while :; do
		state=$(node_state "$node")
		case $state in
		idle | mixed | allocated | completing | idle+* | mixed+* | allocated+*)
			break
			;;
		drain* | down* | drained*)
			if ((!resumed)); then
				log "node $node is $state: resuming it"
				timeout 5 "${DAEMON_ENV[@]}" scontrol update nodename="$node" state=resume || true
				resumed=1
			fi
			;;
		esac
		if ((SECONDS >= deadline)); then
			die "node $node not ready after ${SNS_WAIT_S}s (state '${state}'); see /var/log/slurm/"
		fi
		sleep 0.2
	done
	log "node $node is $state"
}

stop() {
	[[ $(id -u) -eq 0 ]] || die "run as root"
	if pid_alive "$CTLD_PID"; then
		timeout 30 "${DAEMON_ENV[@]}" sh -c 'squeue -h -o %i | xargs -r scancel' || true
	fi
	stop_pid slurmd "$SLURMD_PID"
	stop_pid slurmctld "$CTLD_PID"
	stop_pid munged "$MUNGE_PID"
}

status() {
	local rc=0 node state
	for d in munged:$MUNGE_PID slurmctld:$CTLD_PID slurmd:$SLURMD_PID; do
		if pid_alive "${d#*:}"; then
			printf '%-10s running (pid %s)\n' "${d%%:*}" "$(<"${d#*:}")"
		else
			printf '%-10s stopped\n' "${d%%:*}"
			rc=3
		fi
	done
	if command -v slurmd >/dev/null && ((rc == 0)); then
		node=$(node_name)
		state=$(node_state "$node")
		printf '%-10s %s\n' "node $node" "${state:-unreachable}"
		case $state in
		idle | mixed | allocated | completing | idle+* | mixed+* | allocated+*) ;;
		*) rc=3 ;;
		esac
	fi
	return "$rc"
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
	echo "usage: $0 {start|stop|status}" >&2
	exit 2
	;;
esac
