#!/usr/bin/env bash
# slurm-chroot.sh {start|stop|status|root} SUITE
# slurm-chroot.sh bind SUITE DIR...
#
# A single-node Slurm cluster of a current Debian release (trixie: Slurm 24.11, sid: Slurm 26.05)
# in a debootstrap root, for testing against those versions on a Debian 12 machine without
# systemd. It runs beside the host's own Slurm (deploy/slurm/slurm-single-node.sh) and beside the
# other suite: its daemons listen on their own ports and keep their munge socket, pid files,
# state, spool and logs inside the root. Run as root. Idempotent: `start` when everything already
# runs only checks and returns.
#
#   start   install debootstrap on the host when missing; build the root with
#           `debootstrap --variant=minbase SUITE ROOT MIRROR` unless it is complete (marker file
#           ROOT/.jbg-slurm-chroot-complete, written at the end of the first start); inside the
#           root: a policy-rc.d that exits 101, the packages (munge slurmctld slurmd slurm-client
#           and what the tests run: procps passwd util-linux), for sid apt's Valid-Until check
#           off; mount proc, /sys (recursively, --make-rslave), /dev, /dev/pts and a tmpfs on
#           /run (each only when not mounted yet); create the test users and their group with the
#           host's uids, gids and memberships (created on the host first when missing, as
#           slurm-single-node.sh does); the root's own munge key; slurm.conf from `slurmd -C` run
#           inside the root (daemons restarted only when it changed); start munged, slurmctld and
#           slurmd with `chroot ROOT env -i ...`; wait (bounded by wall time) until the node takes
#           jobs, resuming a drained or down node. Prints the Slurm version and the time of each
#           phase.
#   stop    cancel every job, stop slurmd, slurmctld (SIGTERM, SIGKILL after 10 s) and munged
#           through their pid files inside the root, end any process still running inside the
#           root, then unmount everything mounted under the root, deepest first (mounts outside
#           the root are never touched).
#   status  print the version, daemons and node state; exit 0 when the node takes jobs, 3
#           otherwise.
#   bind    bind-mount each DIR at the same absolute path inside the root (idempotent; `stop`
#           unmounts it). The tests run there with their package directory as cwd.
#   root    print the root's path.
#
# Client commands inside the root: chroot ROOT env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sinfo
#
# Settings (the script's own variables are SCR_*; SLURM_* and SBATCH_* never reach the daemons):
#   SCR_ROOT         the root (default SCR_BASE/SUITE)
#   SCR_BASE         where roots are made (default /var/lib/jobbergate-slurm)
#   SCR_MIRROR       Debian mirror (default: the host's apt mirror of Debian, else
#                    http://deb.debian.org/debian)
#   SCR_CTLD_PORT    SlurmctldPort (trixie 6917, sid 7017; required for another suite)
#   SCR_SLURMD_PORT  SlurmdPort (trixie 6918, sid 7018; required for another suite)
#   SCR_CLUSTER      ClusterName (default jbg-SUITE)
#   SCR_TEST_USERS   users copied from the host with home directories (default "alice bob")
#   SCR_TEST_GROUP   supplementary group of every test user (default "jbgshared")
#   SCR_PACKAGES_EXTRA  more packages to install inside the root
#   SCR_WAIT_S       wall-time bound of the wait for the node (default 60)
#   SCR_CLEAN_STATE  1: wipe the root's saved controller state (job ids restart at 1) on start
set -euo pipefail

# Nothing from the caller's Slurm environment may reach the daemons or commands.
while IFS= read -r name; do
	unset "$name"
done < <(compgen -e | grep -E '^(SLURM|SBATCH|SALLOC|SRUN|SQUEUE|SINFO|SCONTROL|SACCT)_' || true)

CMD=${1:-}
SUITE=${2:-}

log() { printf 'slurm-chroot[%s]: %s\n' "${SUITE:-?}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
usage() {
	echo "usage: $0 {start|stop|status|root} SUITE | bind SUITE DIR..." >&2
	exit 2
}

[[ -n $CMD && -n $SUITE ]] || usage
[[ $SUITE =~ ^[a-z][a-z0-9-]*$ ]] || die "bad suite name '$SUITE'"

case $SUITE in
trixie) def_ctld=6917 def_slurmd=6918 ;;
sid) def_ctld=7017 def_slurmd=7018 ;;
*) def_ctld='' def_slurmd='' ;;
esac

SCR_BASE=${SCR_BASE:-/var/lib/jobbergate-slurm}
SCR_ROOT=${SCR_ROOT:-$SCR_BASE/$SUITE}
SCR_CTLD_PORT=${SCR_CTLD_PORT:-$def_ctld}
SCR_SLURMD_PORT=${SCR_SLURMD_PORT:-$def_slurmd}
SCR_CLUSTER=${SCR_CLUSTER:-jbg-$SUITE}
SCR_TEST_USERS=${SCR_TEST_USERS-alice bob}
SCR_TEST_GROUP=${SCR_TEST_GROUP:-jbgshared}
SCR_PACKAGES_EXTRA=${SCR_PACKAGES_EXTRA:-}
SCR_WAIT_S=${SCR_WAIT_S:-60}
SCR_CLEAN_STATE=${SCR_CLEAN_STATE:-0}

# host_mirror prints the Debian mirror the host's apt uses (a URI whose path ends in /debian).
host_mirror() {
	local m
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -E '^[[:space:]]*(URIs:|deb[[:space:]])' |
		grep -oE 'https?://[^[:space:]]+/debian/?([[:space:]]|$)' | head -1 | tr -d '[:space:]' || true)
	echo "${m%/}"
}
SCR_MIRROR=${SCR_MIRROR:-$(host_mirror)}
SCR_MIRROR=${SCR_MIRROR:-http://deb.debian.org/debian}

# The root must be a plain absolute path other than /: stop unmounts and may remove what is
# under it.
[[ $SCR_ROOT == /* && $SCR_ROOT != / && ! $SCR_ROOT =~ [[:space:]] && ! $SCR_ROOT =~ (^|/)\.\.?(/|$) ]] ||
	die "SCR_ROOT must be an absolute path other than / without spaces or . components: '$SCR_ROOT'"
SCR_ROOT=${SCR_ROOT%/}
R=$SCR_ROOT
MARKER=$R/.jbg-slurm-chroot-complete

PACKAGES=(munge slurmctld slurmd slurm-client procps passwd util-linux)
# shellcheck disable=SC2206 # word splitting intended
PACKAGES+=($SCR_PACKAGES_EXTRA)
CONF=/etc/slurm/slurm.conf
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid
ENV_PATH=PATH=/usr/sbin:/usr/bin:/sbin:/bin
# IN runs a command inside the root with a clean environment.
IN=(chroot "$R" env -i "$ENV_PATH" LANG=C)

# now_us: microseconds since the epoch; since T0: seconds (two decimals) since T0.
now_us() { echo "${EPOCHREALTIME/./}"; }
since() {
	local d=$(($(now_us) - $1))
	printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000))
}
# phase NAME CMD...: runs CMD and logs its wall time.
phase() {
	local name=$1 t0
	shift
	t0=$(now_us)
	"$@"
	log "phase $name: $(since "$t0") s"
}

# in_root PID: the process runs inside this root.
in_root() { [[ $(readlink "/proc/$1/root" 2>/dev/null) == "$R" ]]; }

# pid_alive FILE: the process named in FILE (a path inside the root) runs inside the root and is
# the daemon the file is named after (slurmctld.pid -> slurmctld).
pid_alive() {
	local f=$R$1 pid
	[[ -s $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$(basename "$1" .pid)" ]] && in_root "$pid"
}

# wait_gone PID TENTHS: waits up to TENTHS/10 s for PID to exit; fails if it still runs.
wait_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

# stop_pid NAME FILE: SIGTERM, then SIGKILL after 10 s (slurmd may ignore SIGTERM while the
# controller is down).
stop_pid() {
	local name=$1 file=$2 pid
	if ! pid_alive "$file"; then
		rm -f "$R$file"
		return 0
	fi
	pid=$(<"$R$file")
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" 100; then
		log "$name ignored SIGTERM, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 50 || true
	fi
	rm -f "$R$file"
}

# mounted PATH: something is mounted exactly at PATH.
mounted() { findmnt -rn --mountpoint "$1" >/dev/null 2>&1; }

# mounts_under: every mount point strictly under the root, deepest (and last) first.
mounts_under() {
	local t
	findmnt -rn -o TARGET | while IFS= read -r t; do
		if [[ $t == "$R"/* ]]; then printf '%s\n' "$t"; fi
	done | sort -r
}

ensure_debootstrap() {
	command -v debootstrap >/dev/null && return 0
	log "installing debootstrap on the host"
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends debootstrap >/dev/null
}

# make_root runs debootstrap unless the root is already complete. A root left incomplete by an
# interrupted run is unmounted and removed first.
make_root() {
	[[ -e $MARKER ]] && return 0
	if [[ -e $R/usr/bin/apt-get && ! -d $R/debootstrap ]]; then
		return 0 # debootstrap finished; the packages step was interrupted: carry on from there
	fi
	ensure_debootstrap
	if [[ -e $R ]]; then
		log "removing the incomplete root $R"
		unmount_all
		[[ -z $(mounts_under) ]] || die "mounts remain under $R; not removing it"
		rm -rf --one-file-system "$R"
	fi
	mkdir -p "$(dirname "$R")"
	log "debootstrap --variant=minbase $SUITE $R $SCR_MIRROR"
	local out
	out=$(mktemp)
	if ! debootstrap --variant=minbase "$SUITE" "$R" "$SCR_MIRROR" >"$out" 2>&1; then
		tail -n 20 "$out" >&2
		rm -f "$out"
		die "debootstrap failed"
	fi
	rm -f "$out"
}

ensure_mounts() {
	local d
	for d in proc sys dev run; do mkdir -p "$R/$d"; done
	mounted "$R/proc" || mount -t proc proc "$R/proc"
	if ! mounted "$R/sys"; then
		mount --rbind /sys "$R/sys"
		mount --make-rslave "$R/sys"
	fi
	if ! mounted "$R/dev"; then
		mount --bind /dev "$R/dev"
		mount --make-rslave "$R/dev"
	fi
	mkdir -p "$R/dev/pts"
	if ! mounted "$R/dev/pts"; then
		mount --bind /dev/pts "$R/dev/pts"
		mount --make-rslave "$R/dev/pts"
	fi
	mounted "$R/run" || mount -t tmpfs -o mode=0755,nosuid,nodev,size=256m tmpfs "$R/run"
}

# bind_dirs DIR...: each DIR at the same path inside the root.
bind_dirs() {
	local d
	for d in "$@"; do
		d=$(realpath -e "$d") || die "no directory '$d'"
		[[ -d $d && $d != / && ! $d =~ [[:space:]] ]] || die "cannot bind '$d'"
		[[ $d != "$R" && $d != "$R"/* && $R != "$d"/* ]] || die "'$d' and the root $R overlap"
		mkdir -p "$R$d"
		# A mount left from a directory since deleted and made again at the same path (a new
		# clone) shows the old, empty one: bind the current directory again.
		if mounted "$R$d" && [[ $(stat -c %d:%i "$d") != $(stat -c %d:%i "$R$d" 2>/dev/null) ]]; then
			umount -l "$R$d"
			log "rebinding $d (the mount showed a directory since replaced)"
		fi
		if ! mounted "$R$d"; then
			mount --bind "$d" "$R$d"
			mount --make-rslave "$R$d"
			log "bound $d"
		fi
	done
}

# unmount_all unmounts everything under the root, deepest first; stacked mounts take more
# rounds.
unmount_all() {
	local round t left
	for ((round = 0; round < 5; round++)); do
		left=$(mounts_under)
		[[ -z $left ]] && return 0
		while IFS= read -r t; do
			[[ $t == "$R"/* ]] || continue
			umount "$t" 2>/dev/null || true
		done <<<"$left"
	done
	left=$(mounts_under)
	[[ -z $left ]] || die "still mounted: $(echo $left)"
}

missing_packages() {
	local p
	for p in "${PACKAGES[@]}"; do
		if [[ $("${IN[@]}" dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]]; then
			printf '%s\n' "$p"
		fi
	done
}

install_packages() {
	# Package scripts must not start daemons in the root.
	printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
	chmod 0755 "$R/usr/sbin/policy-rc.d"
	if [[ $SUITE == sid ]]; then
		# sid's Release file on the mirror may be past its Valid-Until date.
		echo 'Acquire::Check-Valid-Until "false";' >"$R/etc/apt/apt.conf.d/99jbg-no-valid-until"
	fi
	local missing
	mapfile -t missing < <(missing_packages)
	((${#missing[@]} == 0)) && return 0
	log "installing in the root: ${missing[*]}"
	"${IN[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
	"${IN[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=300 -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
	"${IN[@]}" apt-get clean
}

# root_entry DB KEY: the root's getent answer.
root_entry() { "${IN[@]}" getent "$1" "$2" 2>/dev/null; }

# copy_users creates the test users and all their groups inside the root with the host's ids.
# Users missing on the host are created there first, as slurm-single-node.sh does.
copy_users() {
	local u entry uid gid home shell g gname gent
	getent group "$SCR_TEST_GROUP" >/dev/null || {
		log "adding group $SCR_TEST_GROUP on the host"
		groupadd "$SCR_TEST_GROUP"
	}
	for u in $SCR_TEST_USERS; do
		[[ $u == root ]] && die "refusing to use root as a test user"
		if ! id -u "$u" >/dev/null 2>&1; then
			log "adding user $u on the host"
			useradd -m -s /bin/bash "$u"
		fi
		if ! id -nG "$u" | tr ' ' '\n' | grep -qx "$SCR_TEST_GROUP"; then
			usermod -a -G "$SCR_TEST_GROUP" "$u"
		fi
		entry=$(getent passwd "$u")
		IFS=: read -r _ _ uid gid _ home shell <<<"$entry"
		[[ -x $R$shell ]] || shell=/bin/sh
		# Every group of the user, primary first.
		for g in $(id -G "$u"); do
			gent=$(getent group "$g") || die "host group $g of $u has no name"
			gname=${gent%%:*}
			if gent=$(root_entry group "$gname"); then
				[[ $(cut -d: -f3 <<<"$gent") == "$g" ]] || die "group $gname has gid $(cut -d: -f3 <<<"$gent") in the root, $g on the host"
			elif gent=$(root_entry group "$g"); then
				die "gid $g is ${gent%%:*} in the root, $gname on the host"
			else
				log "adding group $gname ($g) in the root"
				"${IN[@]}" groupadd -g "$g" "$gname"
			fi
		done
		if entry=$(root_entry passwd "$u"); then
			[[ $(cut -d: -f3,4 <<<"$entry") == "$uid:$gid" ]] || die "user $u is $(cut -d: -f3,4 <<<"$entry") in the root, $uid:$gid on the host"
		elif entry=$(root_entry passwd "$uid"); then
			die "uid $uid is ${entry%%:*} in the root, $u on the host"
		else
			log "adding user $u ($uid:$gid) in the root"
			"${IN[@]}" useradd -u "$uid" -g "$gid" -d "$home" -m -s "$shell" "$u"
		fi
		[[ -d $R$home ]] || "${IN[@]}" install -d -o "$uid" -g "$gid" -m 0755 "$home"
		for g in $(id -G "$u"); do
			[[ $g == "$gid" ]] && continue
			gname=$(getent group "$g" | cut -d: -f1)
			if ! "${IN[@]}" id -nG "$u" | tr ' ' '\n' | grep -qx "$gname"; then
				"${IN[@]}" usermod -a -G "$gname" "$u"
			fi
		done
	done
}

# ensure_hosts: the host name resolves inside the root (the root has no /etc/hosts of its own).
ensure_hosts() {
	local host
	host=$(hostname -s)
	if ! grep -qE "^[^#]*[[:space:]]$host([[:space:]]|$)" "$R/etc/hosts" 2>/dev/null; then
		log "adding $host to the root's /etc/hosts"
		grep -qE '^127\.0\.0\.1[[:space:]]+localhost' "$R/etc/hosts" 2>/dev/null ||
			echo "127.0.0.1 localhost" >>"$R/etc/hosts"
		echo "127.0.0.1 $host" >>"$R/etc/hosts"
	fi
}

start_munge() {
	local muid mgid
	if [[ ! -s $R/etc/munge/munge.key ]]; then
		log "creating the root's /etc/munge/munge.key"
		dd if=/dev/urandom of="$R/etc/munge/munge.key" bs=1024 count=1 status=none
		"${IN[@]}" chown munge:munge /etc/munge/munge.key
		chmod 0400 "$R/etc/munge/munge.key"
	fi
	"${IN[@]}" install -d -o munge -g munge -m 0755 /run/munge
	if ! pid_alive "$MUNGE_PID"; then
		log "starting munged"
		rm -f "$R$MUNGE_PID"
		muid=$("${IN[@]}" id -u munge)
		mgid=$("${IN[@]}" id -g munge)
		chroot --userspec="$muid:$mgid" --groups="$mgid" "$R" env -i "$ENV_PATH" LANG=C /usr/sbin/munged 9>&-
	fi
	"${IN[@]}" sh -c 'munge -n | unmunge' >/dev/null || die "munge does not work in the root"
}

node_line() {
	local node
	node=$("${IN[@]}" slurmd -C 2>/dev/null | grep -m1 '^NodeName=' || true)
	[[ $node == NodeName=* ]] || die "unexpected slurmd -C output in the root: $("${IN[@]}" slurmd -C 2>&1 | head -3)"
	echo "$node"
}

render_conf() {
	cat <<EOF
# Written by deploy/slurm/slurm-chroot.sh: a single-node cluster in the $SUITE root $R.
ClusterName=${SCR_CLUSTER}
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=${SCR_CTLD_PORT}
SlurmdPort=${SCR_SLURMD_PORT}
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
# No mail program in the root: without this slurmctld logs "Configured MailProg is invalid".
MailProg=/bin/true
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
MaxJobCount=100000
$(node_line) NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=second Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF
}

# write_conf returns 0 when slurm.conf changed, 1 when it was already current.
write_conf() {
	local path=$R$CONF tmp
	mkdir -p "$(dirname "$path")"
	tmp=$(mktemp "$path.XXXXXX")
	chmod 0644 "$tmp"
	render_conf >"$tmp"
	if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
		rm -f "$tmp"
		return 1
	fi
	mv -f "$tmp" "$path"
	log "wrote $path"
	return 0
}

node_name() { node_line | sed -e 's/^NodeName=\([^ ]*\).*/\1/'; }

# node_state prints the node's state (idle, mixed, drained...) or nothing; each call is bounded.
node_state() {
	timeout 5 "${IN[@]}" sinfo -h -N -n "$1" -o '%T' 2>/dev/null | head -1 || true
}

slurm_version() { timeout 10 "${IN[@]}" sbatch --version 2>/dev/null || echo "slurm (unknown version)"; }

takes_jobs() {
	case $1 in
	idle | mixed | allocated | completing | idle+* | mixed+* | allocated+*) return 0 ;;
	esac
	return 1
}

start_daemons() {
	local changed=0
	"${IN[@]}" install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm
	"${IN[@]}" install -d /var/spool/slurmd
	if write_conf; then changed=1; fi
	[[ $SCR_CLEAN_STATE == 1 ]] && changed=1
	if ((changed)); then
		stop_pid slurmd "$SLURMD_PID"
		stop_pid slurmctld "$CTLD_PID"
		if [[ $SCR_CLEAN_STATE == 1 ]]; then
			log "wiping controller state"
			find "$R/var/spool/slurmctld" "$R/var/spool/slurmd" -mindepth 1 -delete
		fi
	fi
	if ! pid_alive "$CTLD_PID"; then
		log "starting slurmctld"
		"${IN[@]}" /usr/sbin/slurmctld 9>&-
	fi
	if ! pid_alive "$SLURMD_PID"; then
		log "starting slurmd"
		"${IN[@]}" /usr/sbin/slurmd 9>&-
	fi
}

wait_node() {
	local node state deadline resumed=0
	node=$(node_name)
	deadline=$((SECONDS + SCR_WAIT_S))
	while :; do
		state=$(node_state "$node")
		takes_jobs "$state" && break
		case $state in
		drain* | down* | drained* | fail*)
			if ((!resumed)); then
				log "node $node is $state: resuming it"
				timeout 5 "${IN[@]}" scontrol update nodename="$node" state=resume || true
				resumed=1
			fi
			;;
		esac
		if ((SECONDS >= deadline)); then
			die "node $node not ready after ${SCR_WAIT_S}s (state '${state}'); see $R/var/log/slurm/"
		fi
		sleep 0.2
	done
	log "node $node is $state"
}

check_settings() {
	[[ $(id -u) -eq 0 ]] || die "run as root"
	[[ $SCR_CTLD_PORT =~ ^[0-9]+$ && $SCR_SLURMD_PORT =~ ^[0-9]+$ ]] ||
		die "suite $SUITE has no default ports: set SCR_CTLD_PORT and SCR_SLURMD_PORT"
	[[ $SCR_CLUSTER =~ ^[a-z0-9_-]+$ ]] || die "SCR_CLUSTER must be lower case letters, digits, - and _"
}

start() {
	check_settings
	local t0
	t0=$(now_us)
	phase debootstrap make_root
	phase mounts ensure_mounts
	phase packages install_packages
	[[ -e $MARKER ]] || date -u +%FT%TZ >"$MARKER"
	phase users copy_users
	ensure_hosts
	phase munge start_munge
	phase slurm start_daemons
	phase node wait_node
	log "$(slurm_version) ready in $(since "$t0") s (root $R, ports $SCR_CTLD_PORT/$SCR_SLURMD_PORT)"
}

# kill_root_procs ends every process still running inside the root (job steps, test programs).
kill_root_procs() {
	local p pids=() i
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		in_root "$p" && pids+=("$p")
	done
	((${#pids[@]} == 0)) && return 0
	log "ending processes left in the root: ${pids[*]}"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "${pids[@]}" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "${pids[@]}" 2>/dev/null || true
	sleep 0.2
}

stop() {
	[[ $(id -u) -eq 0 ]] || die "run as root"
	[[ -d $R ]] || {
		log "no root at $R"
		return 0
	}
	if pid_alive "$CTLD_PID"; then
		timeout 30 "${IN[@]}" sh -c 'squeue -h -o %i | xargs -r scancel' || true
	fi
	stop_pid slurmd "$SLURMD_PID"
	stop_pid slurmctld "$CTLD_PID"
	stop_pid munged "$MUNGE_PID"
	kill_root_procs
	unmount_all
	log "stopped; nothing mounted under $R"
}

status() {
	local rc=0 node state d
	if [[ ! -e $MARKER ]]; then
		echo "root       not installed ($R)"
		return 3
	fi
	if [[ -x $R/usr/bin/sbatch ]] && mounted "$R/proc" && [[ -s $R$CONF ]]; then
		echo "version    $(slurm_version)"
	fi
	for d in "munged:$MUNGE_PID" "slurmctld:$CTLD_PID" "slurmd:$SLURMD_PID"; do
		if pid_alive "${d#*:}"; then
			printf '%-10s running (pid %s)\n' "${d%%:*}" "$(<"$R${d#*:}")"
		else
			printf '%-10s stopped\n' "${d%%:*}"
			rc=3
		fi
	done
	if ((rc == 0)); then
		node=$(node_name)
		state=$(node_state "$node")
		printf '%-10s %s\n' "node $node" "${state:-unreachable}"
		takes_jobs "$state" || rc=3
	fi
	return "$rc"
}

if [[ $CMD == root ]]; then
	echo "$R"
	exit 0
fi

# One run at a time per root (fd 9; the daemons are started without it).
mkdir -p "$(dirname "$R")"
exec 9>"$R.lock"
flock -w 900 9 || die "another slurm-chroot.sh run holds $R.lock"

case $CMD in
start) start ;;
stop) stop ;;
status) status ;;
bind)
	shift 2
	(($# > 0)) || usage
	[[ $(id -u) -eq 0 ]] || die "run as root"
	[[ -e $MARKER ]] || die "no complete root at $R: run start first"
	bind_dirs "$@"
	;;
*) usage ;;
esac
