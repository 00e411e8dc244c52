#!/usr/bin/env bash
# influxdb.sh {start|stop|status|env}: private InfluxDB servers for the metrics tests, as root,
# without systemd, on loopback only.
#
# start   default mode: installs Debian's influxdb (1.6.7, InfluxQL over the v1 HTTP API) when
#         missing and starts it on 127.0.0.1:8086 (RPC bind 127.0.0.1:8088) with its own config,
#         data and log under $INFLUX_STATE_DIR/v1.
#         INFLUX_FLUX=1: InfluxDB 1.8.10 built from the Go module proxy (only when the binary is
#         missing; ~2.5 min with cold caches, 5 s warm) into $INFLUX_BIN_DIR, started with
#         flux-enabled = true on 127.0.0.1:8087 (RPC bind 127.0.0.1:8089) under
#         $INFLUX_STATE_DIR/flux. Both can run at once.
#         Then waits (bounded by INFLUX_WAIT_S) for /ping (v1) or /health (1.8), creates the
#         databases in INFLUX_DBS and rewrites $INFLUX_STATE_DIR/env for the tests. Idempotent:
#         when the server already answers it only creates the databases and writes the env file.
# stop    stops both servers (SIGTERM, SIGKILL after 10 s). Data is kept.
# status  exit 0 when the selected server (INFLUX_FLUX) answers, 3 otherwise.
# env     print the env file.
#
# Settings (environment, all optional):
#   INFLUX_STATE_DIR  state dir                     (default /var/lib/jobbergate-agent-test/influxdb)
#   INFLUX_FLUX       1: the 1.8.10 Flux server      (default 0: Debian 1.6.7)
#   INFLUX_DBS        databases to create, spaces   (default "slurm")
#   INFLUX_V1_PORT    HTTP port of 1.6.7            (default 8086)
#   INFLUX_FLUX_PORT  HTTP port of 1.8.10           (default 8087)
#   INFLUX_BIN_DIR    where influxd 1.8.10 goes     (default /opt/influxdb-1.8.10/bin)
#   INFLUX_WAIT_S     readiness bound in seconds    (default 30)
#   INFLUX_CLEAN=1    wipe the selected server's data before starting
#
# Env file keys: INFLUX_TEST_V1_URL, INFLUX_TEST_FLUX_URL (only for servers that answer),
# INFLUX_TEST_DBS.
set -euo pipefail

STATE=${INFLUX_STATE_DIR:-/var/lib/jobbergate-agent-test/influxdb}
FLUX=${INFLUX_FLUX:-0}
DBS=${INFLUX_DBS:-slurm}
V1_PORT=${INFLUX_V1_PORT:-8086}
FLUX_PORT=${INFLUX_FLUX_PORT:-8087}
BIN_DIR=${INFLUX_BIN_DIR:-/opt/influxdb-1.8.10/bin}
WAIT_S=${INFLUX_WAIT_S:-30}
CLEAN=${INFLUX_CLEAN:-0}
ENV_FILE=$STATE/env

log() { printf 'influxdb.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# select_instance sets the variables of the instance chosen by its argument (v1 or flux).
select_instance() {
	case $1 in
	v1)
		NAME=v1 PORT=$V1_PORT RPC_PORT=$((V1_PORT + 2)) BIN=/usr/bin/influxd READY=/ping
		;;
	flux)
		NAME=flux PORT=$FLUX_PORT RPC_PORT=$((FLUX_PORT + 2)) BIN=$BIN_DIR/influxd READY=/health
		;;
	esac
	DIR=$STATE/$NAME
	PIDFILE=$DIR/influxd.pid
	URL=http://127.0.0.1:$PORT
}

ready() { curl -fsS -m 2 -o /dev/null "$URL$READY" 2>/dev/null; }

running_pid() {
	[ -s "$PIDFILE" ] || return 1
	local pid
	pid=$(cat "$PIDFILE")
	kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

install_v1() {
	[ -x /usr/bin/influxd ] && return
	log "installing Debian influxdb"
	export DEBIAN_FRONTEND=noninteractive
	mkdir -p "$STATE"
	if ! apt-get install -y --no-install-recommends influxdb >"$STATE/apt.log" 2>&1; then
		apt-get update >>"$STATE/apt.log" 2>&1
		apt-get install -y --no-install-recommends influxdb >>"$STATE/apt.log" 2>&1 ||
			die "apt-get install failed, see $STATE/apt.log"
	fi
	# The package's postinst may start nothing here (no systemd), but make sure no stock
	# instance holds the ports.
}

build_flux() {
	[ -x "$BIN_DIR/influxd" ] && return
	command -v go >/dev/null 2>&1 || PATH=$PATH:/usr/local/go/bin
	command -v go >/dev/null 2>&1 || die "go is needed to build influxd 1.8.10"
	log "building influxd 1.8.10 into $BIN_DIR (about 2.5 min with cold caches)"
	mkdir -p "$BIN_DIR" "$STATE"
	# Outside any module so the project's go.mod is never touched.
	(cd / && GOFLAGS=-mod=mod GOBIN=$BIN_DIR go install \
		-ldflags "-X main.version=1.8.10 -X main.branch=1.8 -X main.commit=v1.8.10" \
		github.com/influxdata/influxdb/cmd/influxd@v1.8.10) >"$STATE/build.log" 2>&1 ||
		die "influxd build failed, see $STATE/build.log"
}

write_conf() {
	local flux_enabled=false
	[ "$NAME" = flux ] && flux_enabled=true
	mkdir -p "$DIR/meta" "$DIR/data" "$DIR/wal"
	cat >"$DIR/influxdb.conf.new" <<EOF
# Written by deploy/influxdb/influxdb.sh; edits are overwritten.
reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:$RPC_PORT"

[meta]
  dir = "$DIR/meta"

[data]
  dir = "$DIR/data"
  wal-dir = "$DIR/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  bind-address = "127.0.0.1:$PORT"
  log-enabled = false
  flux-enabled = $flux_enabled
EOF
	if cmp -s "$DIR/influxdb.conf.new" "$DIR/influxdb.conf"; then
		rm "$DIR/influxdb.conf.new"
		return 1
	fi
	mv "$DIR/influxdb.conf.new" "$DIR/influxdb.conf"
	return 0
}

stop_instance() {
	local pid
	pid=$(running_pid) || { rm -f "$PIDFILE"; return 0; }
	log "stopping influxd $NAME (pid $pid)"
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 0; }
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$PIDFILE"
}

create_dbs() {
	local db
	for db in $DBS; do
		[[ $db =~ ^[A-Za-z0-9_-]+$ ]] || die "invalid database name: $db"
		curl -fsS -m 10 -o /dev/null -XPOST "$URL/query" --data-urlencode "q=CREATE DATABASE \"$db\"" ||
			die "could not create database $db on $URL"
	done
}

write_env() {
	local tmp=$ENV_FILE.tmp.$$
	mkdir -p "$STATE"
	{
		echo "# Written by deploy/influxdb/influxdb.sh"
		echo "INFLUX_TEST_DBS=$DBS"
		for inst in v1 flux; do
			select_instance "$inst"
			if ready; then
				case $inst in
				v1) echo "INFLUX_TEST_V1_URL=$URL" ;;
				flux) echo "INFLUX_TEST_FLUX_URL=$URL" ;;
				esac
			fi
		done
	} >"$tmp"
	mv "$tmp" "$ENV_FILE"
}

start_instance() {
	local changed=0 started=""
	if [ "$NAME" = v1 ]; then install_v1; else build_flux; fi
	if [ "$CLEAN" = 1 ]; then
		stop_instance
		rm -rf "$DIR/meta" "$DIR/data" "$DIR/wal"
	fi
	write_conf && changed=1
	if running_pid >/dev/null && [ $changed = 1 ]; then
		log "configuration changed, restarting influxd $NAME"
		stop_instance
	fi
	if ! running_pid >/dev/null; then
		if ready; then
			die "port $PORT already answers but not from our influxd (pid file $PIDFILE)"
		fi
		# A pid file left by a killed server names a dead process; until the new server writes
		# its own, it must not be mistaken for the new one having exited.
		rm -f "$PIDFILE"
		log "starting influxd $NAME on $URL"
		setsid "$BIN" -config "$DIR/influxdb.conf" -pidfile "$PIDFILE" >>"$DIR/influxd.log" 2>&1 </dev/null &
		started=$!
	fi
	local deadline=$((SECONDS + WAIT_S))
	until ready; do
		if [ -n "$started" ] && ! kill -0 "$started" 2>/dev/null; then
			log "influxd $NAME exited; the end of $DIR/influxd.log:"
			tail -n 20 "$DIR/influxd.log" >&2 || true
			die "influxd $NAME exited, see $DIR/influxd.log"
		fi
		[ $SECONDS -lt $deadline ] || die "influxd $NAME not ready after ${WAIT_S}s, see $DIR/influxd.log"
		sleep 0.1
	done
	create_dbs
}

cmd=${1:-}
case $cmd in
start)
	if [ "$FLUX" = 1 ]; then select_instance flux; else select_instance v1; fi
	start_instance
	write_env
	log "ready: $(grep -v '^#' "$ENV_FILE" | tr '\n' ' ')"
	;;
stop)
	for inst in v1 flux; do
		select_instance "$inst"
		stop_instance
	done
	[ -d "$STATE" ] && write_env
	;;
status)
	if [ "$FLUX" = 1 ]; then select_instance flux; else select_instance v1; fi
	if ready; then
		echo "influxd $NAME answers on $URL (pid $(running_pid || echo '?'))"
		exit 0
	fi
	echo "influxd $NAME is not running"
	exit 3
	;;
env)
	cat "$ENV_FILE"
	;;
*)
	echo "usage: $0 {start|stop|status|env}" >&2
	exit 2
	;;
esac
