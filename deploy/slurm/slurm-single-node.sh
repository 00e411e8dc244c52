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
#           With SNS_DBD=1 it also installs mariadb-server and slurmdbd, starts both (before
#           slurmctld) and registers the cluster, account and test users; with SNS_INFLUX=1 it
#           turns on the InfluxDB profile plugin. Without them it goes back to the plain setup:
#           slurmdbd and the MariaDB server it started are stopped, acct_gather.conf is removed.
#   stop    cancel every job, stop slurmd and slurmctld (SIGTERM, SIGKILL after 10 s), slurmdbd and
#           MariaDB when running, and munged.
#   status  print daemons and node state; exit 0 when the node takes jobs, 3 otherwise.
#
# Settings (the script's own variables are SNS_*; SLURM_* and SBATCH_* never reach the daemons):
#   SNS_TEST_USERS   users to create with home directories (default "alice bob")
#   SNS_TEST_GROUP   supplementary group every test user is added to (default "jbgshared")
#   SNS_WAIT_S       wall-time bound of the wait for the node (default 60)
#   SNS_CLEAN_STATE  1: wipe the saved controller state (job ids restart at 1) on start
#   SNS_CONF         path of slurm.conf (default /etc/slurm/slurm.conf); slurmdbd.conf and
#                    acct_gather.conf are written next to it
#   SNS_DBD          1: accounting in slurmdbd + MariaDB (real `sacct`, `sacct --json`, job comments
#                    kept with AccountingStoreFlags=job_comment). Default 0: accounting_storage/none
#                    and the jobcomp/filetxt file only (`sacct -c`). About +21 s the first time.
#   SNS_DBD_ACCOUNT  account the test users (and root) are added to with SNS_DBD=1 (default research)
#   SNS_INFLUX       1: per-job profiling into InfluxDB (slurm-wlm-influxdb-plugin,
#                    jobacct_gather/linux with task=1, acct_gather_profile/influxdb). InfluxDB need
#                    not run for Slurm to start: the plugin drops the writes it cannot send.
#   SNS_INFLUX_HOST     ProfileInfluxDBHost (default 127.0.0.1:8086)
#   SNS_INFLUX_DB       ProfileInfluxDBDatabase (default slurm; the database must exist)
#   SNS_INFLUX_RP       ProfileInfluxDBRTPolicy (default autogen)
#   SNS_INFLUX_DEFAULT  ProfileInfluxDBDefault: Task (every job is profiled) or None (only jobs
#                       submitted with --profile=task); default Task
#   SNS_CGROUP       memory enforcement with task/cgroup (ConstrainRAMSpace, cgroup.conf written
#                    next to slurm.conf): a job over its --mem ends OUT_OF_MEMORY, as on a real
#                    cluster. auto (default): on when the machine has a writable cgroup v1 memory
#                    controller or cgroup v2 with memory; 0: TaskPlugin=task/none (no job is ever
#                    killed for memory); 1: required (start fails without one).
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
SNS_DBD=${SNS_DBD:-0}
SNS_DBD_ACCOUNT=${SNS_DBD_ACCOUNT:-research}
SNS_INFLUX=${SNS_INFLUX:-0}
SNS_INFLUX_HOST=${SNS_INFLUX_HOST:-127.0.0.1:8086}
SNS_INFLUX_DB=${SNS_INFLUX_DB:-slurm}
SNS_INFLUX_RP=${SNS_INFLUX_RP:-autogen}
SNS_INFLUX_DEFAULT=${SNS_INFLUX_DEFAULT:-Task}
CONF_DIR=$(dirname "$SNS_CONF")
DBD_CONF=$CONF_DIR/slurmdbd.conf
ACCT_GATHER_CONF=$CONF_DIR/acct_gather.conf
CGROUP_CONF=$CONF_DIR/cgroup.conf
SNS_CGROUP=${SNS_CGROUP:-auto}

PACKAGES=(slurmctld slurmd slurm-client munge)
CTLD_PID=/run/slurmctld.pid
DBD_PID=/run/slurmdbd.pid
MARIADB_PID=/run/mysqld/sns-mariadbd.pid
# slurmdbd's database password, made once, readable by root only (slurmdbd.conf is 0600 slurm).
DBD_PASS_FILE=/var/lib/slurm-single-node/dbd-password
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid
DAEMON_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C)

log() { printf 'slurm-single-node: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# pid_alive FILE: the process named in FILE runs and is the daemon the file is named after
# (slurmctld.pid -> slurmctld, sns-mariadbd.pid -> mariadbd): a pid file left by a daemon that
# was killed may name a pid the kernel gave to another process since.
pid_alive() {
	local pid want
	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	want=$(basename "$1" .pid)
	want=${want#sns-}
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$want" ]]
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

# mode_checks validates the mode settings and adds the packages the modes need.
mode_checks() {
	[[ $SNS_DBD == 0 || $SNS_DBD == 1 ]] || die "SNS_DBD must be 0 or 1, not '$SNS_DBD'"
	[[ $SNS_INFLUX == 0 || $SNS_INFLUX == 1 ]] || die "SNS_INFLUX must be 0 or 1, not '$SNS_INFLUX'"
	case $SNS_INFLUX_DEFAULT in
	Task | None) ;;
	*) die "SNS_INFLUX_DEFAULT must be Task or None, not '$SNS_INFLUX_DEFAULT'" ;;
	esac
	local v
	for v in "$SNS_INFLUX_HOST" "$SNS_INFLUX_DB" "$SNS_INFLUX_RP" "$SNS_DBD_ACCOUNT"; do
		[[ $v =~ ^[A-Za-z0-9_.:-]+$ ]] || die "unexpected characters in setting value '$v'"
	done
	if ((SNS_DBD)); then PACKAGES+=(mariadb-server slurmdbd); fi
	if ((SNS_INFLUX)); then PACKAGES+=(slurm-wlm-influxdb-plugin); fi
	return 0
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
TaskPlugin=$(task_plugin)
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
$(accounting_lines)
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
$(gather_lines)
MinJobAge=600
MaxJobCount=100000
${node} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=second Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF
}

accounting_lines() {
	if ((SNS_DBD)); then
		printf '%s\n' AccountingStorageType=accounting_storage/slurmdbd AccountingStorageHost=127.0.0.1 \
			AccountingStoreFlags=job_comment
	else
		echo AccountingStorageType=accounting_storage/none
	fi
}

gather_lines() {
	if ((SNS_INFLUX)); then
		printf '%s\n' JobAcctGatherType=jobacct_gather/linux JobAcctGatherFrequency=task=1 \
			AcctGatherProfileType=acct_gather_profile/influxdb
	else
		echo JobAcctGatherType=jobacct_gather/none
	fi
}

# render_acct_gather prints acct_gather.conf with only keys Slurm 22.05 knows (an unknown key such
# as ProfileInfluxDBFrequency is fatal for slurmd).
render_acct_gather() {
	cat <<EOF
# Written by deploy/slurm/slurm-single-node.sh (SNS_INFLUX=1).
ProfileInfluxDBHost=${SNS_INFLUX_HOST}
ProfileInfluxDBDatabase=${SNS_INFLUX_DB}
ProfileInfluxDBRTPolicy=${SNS_INFLUX_RP}
ProfileInfluxDBDefault=${SNS_INFLUX_DEFAULT}
EOF
}

# render_dbd_conf prints slurmdbd.conf; the password comes from DBD_PASS_FILE.
render_dbd_conf() {
	cat <<EOF
# Written by deploy/slurm/slurm-single-node.sh (SNS_DBD=1).
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
PidFile=${DBD_PID}
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$(<"$DBD_PASS_FILE")
EOF
}

# cgroup_plugin prints the CgroupPlugin for memory enforcement (cgroup/v1 or cgroup/v2), or
# nothing when SNS_CGROUP is off or the machine has no memory controller Slurm can use.
cgroup_plugin() {
	[[ $SNS_CGROUP == 0 ]] && return 0
	if [[ -w /sys/fs/cgroup/memory/cgroup.procs ]]; then
		echo cgroup/v1
	elif [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
		echo cgroup/v2
	elif [[ $SNS_CGROUP == 1 ]]; then
		die "SNS_CGROUP=1 but this machine has no cgroup memory controller Slurm can use"
	fi
}

# task_plugin prints TaskPlugin: task/cgroup with memory enforcement, else task/none.
task_plugin() {
	if [[ -n $(cgroup_plugin) ]]; then echo task/cgroup; else echo task/none; fi
}

# render_cgroup prints cgroup.conf: memory limited to the job's --mem, no swap beyond it.
render_cgroup() {
	printf '%s\n' "# Written by deploy/slurm/slurm-single-node.sh (SNS_CGROUP): memory enforcement, so that a job" \
		"# over its --mem ends OUT_OF_MEMORY." "CgroupPlugin=$(cgroup_plugin)" ConstrainRAMSpace=yes \
		ConstrainSwapSpace=yes AllowedSwapSpace=0
}

# install_file RENDER PATH MODE OWNER writes the output of RENDER to PATH; it returns 0 when the
# file changed, 1 when it was already current.
install_file() {
	local render=$1 path=$2 mode=$3 owner=$4 tmp
	tmp=$(mktemp "${path}.XXXXXX")
	chmod "$mode" "$tmp"
	chown "$owner" "$tmp"
	"$render" >"$tmp"
	if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
		rm -f "$tmp"
		return 1
	fi
	mv -f "$tmp" "$path"
	log "wrote $path"
	return 0
}

# write_conf writes slurm.conf and acct_gather.conf, or removes a leftover acct_gather.conf when
# SNS_INFLUX is off (slurmd dies on its keys without the influxdb profile plugin). It returns 0
# when something changed, 1 when everything was already current.
write_conf() {
	local rc=1
	if install_file render_conf "$SNS_CONF" 0644 root:root; then rc=0; fi
	if ((SNS_INFLUX)); then
		if install_file render_acct_gather "$ACCT_GATHER_CONF" 0644 root:root; then rc=0; fi
	elif [[ -e $ACCT_GATHER_CONF ]]; then
		log "removing $ACCT_GATHER_CONF (SNS_INFLUX is off)"
		rm -f "$ACCT_GATHER_CONF"
		rc=0
	fi
	if [[ -n $(cgroup_plugin) ]]; then
		if install_file render_cgroup "$CGROUP_CONF" 0644 root:root; then rc=0; fi
	elif [[ -e $CGROUP_CONF ]]; then
		log "removing $CGROUP_CONF (no memory enforcement)"
		rm -f "$CGROUP_CONF"
		rc=0
	fi
	return "$rc"
}

mariadb_ping() { mariadb-admin --protocol=socket ping >/dev/null 2>&1; }

# dbd_answers: slurmdbd answers sacctmgr.
dbd_answers() { timeout 5 "${DAEMON_ENV[@]}" sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }

# start_dbd starts MariaDB and slurmdbd (slurmdbd restarted when its conf changed) and waits until
# slurmdbd answers.
start_dbd() {
	local i
	install -d -o mysql -g mysql -m 0755 /run/mysqld
	if ! mariadb_ping; then
		log "starting mariadbd"
		"${DAEMON_ENV[@]}" setsid -f /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
			--pid-file="$MARIADB_PID" </dev/null >>/var/log/slurm/mariadbd.log 2>&1
		for ((i = 0; i < 300; i++)); do
			mariadb_ping && break
			sleep 0.1
		done
		mariadb_ping || die "mariadbd does not answer after 30 s; see /var/log/slurm/mariadbd.log"
	fi
	if [[ ! -s $DBD_PASS_FILE ]]; then
		install -d -m 0700 "$(dirname "$DBD_PASS_FILE")"
		(umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DBD_PASS_FILE")
	fi
	# CREATE USER IF NOT EXISTS keeps an old password: ALTER USER sets the current one, else
	# slurmdbd loops on "Access denied".
	mariadb --protocol=socket <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$(<"$DBD_PASS_FILE")';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
	if install_file render_dbd_conf "$DBD_CONF" 0600 slurm:slurm; then
		stop_pid slurmdbd "$DBD_PID"
	fi
	# A slurmdbd still shutting down when checked, or one that exits early, is started again
	# (at most 3 starts).
	local starts=0
	for ((i = 0; i < 300; i++)); do
		if ! pid_alive "$DBD_PID" && ((starts < 3)); then
			log "starting slurmdbd"
			"${DAEMON_ENV[@]}" /usr/sbin/slurmdbd || true
			starts=$((starts + 1))
		fi
		dbd_answers && break
		sleep 0.1
	done
	dbd_answers || die "slurmdbd does not answer after 30 s; see /var/log/slurm/slurmdbd.log"
}

# dbd_associations registers the cluster, the account and the users; sacctmgr add fails on what
# exists, so only what is missing is added.
dbd_associations() {
	local u
	if [[ -z $(mgr -n -P show cluster local format=cluster) ]]; then
		log "sacctmgr: adding cluster local"
		mgr add cluster local >/dev/null
	fi
	if [[ -z $(mgr -n -P show account "$SNS_DBD_ACCOUNT" format=account) ]]; then
		mgr add account "$SNS_DBD_ACCOUNT" cluster=local description=test organization=test >/dev/null
	fi
	for u in $SNS_TEST_USERS root; do
		if [[ -z $(mgr -n -P show assoc cluster=local account="$SNS_DBD_ACCOUNT" user="$u" format=user) ]]; then
			mgr add user "$u" account="$SNS_DBD_ACCOUNT" cluster=local >/dev/null
		fi
	done
}

mgr() { timeout 10 "${DAEMON_ENV[@]}" sacctmgr -i "$@"; }

# stop_dbd stops slurmdbd, and the MariaDB server when it runs from this script's pid file.
stop_dbd() {
	stop_pid slurmdbd "$DBD_PID"
	stop_pid mariadbd "$MARIADB_PID"
}

node_name() { "${DAEMON_ENV[@]}" slurmd -C | head -1 | sed -e 's/^NodeName=\([^ ]*\).*/\1/'; }

# node_state prints the node's state (idle, mixed, drained...) or nothing; each call is bounded.
node_state() {
	timeout 5 "${DAEMON_ENV[@]}" sinfo -h -N -n "$1" -o '%T' 2>/dev/null | head -1 || true
}

start() {
	[[ $(id -u) -eq 0 ]] || die "run as root"
	mode_checks
	install_packages
	add_users
	start_munge
	install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm
	install -d /var/spool/slurmd

	local changed=0
	if write_conf; then changed=1; fi
	# sacctmgr reads slurm.conf: slurmdbd is set up once the conf names it, before slurmctld
	# (re)starts and registers with it.
	if ((SNS_DBD)); then
		start_dbd
		dbd_associations
	fi
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
	if ((!SNS_DBD)) && { pid_alive "$DBD_PID" || pid_alive "$MARIADB_PID"; }; then
		log "SNS_DBD is off: stopping slurmdbd and MariaDB"
		stop_dbd
	fi
}

stop() {
	[[ $(id -u) -eq 0 ]] || die "run as root"
	if pid_alive "$CTLD_PID"; then
		timeout 30 "${DAEMON_ENV[@]}" sh -c 'squeue -h -o %i | xargs -r scancel' || true
	fi
	stop_pid slurmd "$SLURMD_PID"
	stop_pid slurmctld "$CTLD_PID"
	stop_dbd
	stop_pid munged "$MUNGE_PID"
}

status() {
	local rc=0 node state
	local daemons=("munged:$MUNGE_PID" "slurmctld:$CTLD_PID" "slurmd:$SLURMD_PID")
	if pid_alive "$DBD_PID"; then daemons+=("slurmdbd:$DBD_PID"); fi
	for d in "${daemons[@]}"; do
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
