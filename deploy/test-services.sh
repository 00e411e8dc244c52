#!/usr/bin/env bash
# Installs and starts, idempotently, every real component the integration tests use:
# single-node Slurm with munge and the InfluxDB profile plugin, InfluxDB 1.6.7 (InfluxQL) and
# 1.8.10 (Flux, built from the Go module proxy), a private slapd, systemd-analyze, and the nats CLI. Needs root (it
# installs Debian packages); as another user it says so and does nothing, and the integration
# tests then skip (or fail, under CI=true).
#
# The two Go builds (nats CLI, influxd 1.8.10: about 2.5 min each on a fresh machine) run in the
# background while the Debian packages are installed and the daemons started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
logs=${TEST_SERVICES_LOG_DIR:-/tmp/jobbergate-test-services}
mkdir -p "$logs"

if [ "$(id -u)" -ne 0 ]; then
  echo "test-services: not root, not starting Slurm/InfluxDB/slapd/nats CLI (integration tests will skip, or fail under CI=true)" >&2
  exit 0
fi

t_all=$SECONDS
step() {
  local name=$1; shift
  local t0=$SECONDS
  echo "test-services: $name..."
  "$@"
  echo "test-services: $name ready ($((SECONDS - t0)) s)"
}

# Background builds.
bash "$here/nats/install-natscli.sh" >"$logs/natscli.log" 2>&1 &
natscli_pid=$!
INFLUX_FLUX=1 bash "$here/influxdb/influxdb.sh" start >"$logs/influx-flux.log" 2>&1 &
flux_pid=$!

step "InfluxDB 1.6.7" bash "$here/influxdb/influxdb.sh" start
step "Slurm (single node, InfluxDB profile plugin)" env SNS_INFLUX=1 SNS_INFLUX_DEFAULT=None bash "$here/slurm/slurm-single-node.sh" start
step "slapd" bash "$here/ldap/slapd.sh" start
# systemd-analyze for the unit test (the unit is verified here with /bin/true as its program).
step "systemd-analyze (unit verification)" bash "$here/systemd/verify.sh" /bin/true

wait_bg() {
  local name=$1 pid=$2 log=$3
  local t0=$SECONDS
  if wait "$pid"; then
    echo "test-services: $name ready (waited $((SECONDS - t0)) s)"
  else
    echo "test-services: $name FAILED; its log ($log):" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}
wait_bg "nats CLI" "$natscli_pid" "$logs/natscli.log"
wait_bg "InfluxDB 1.8.10 (Flux)" "$flux_pid" "$logs/influx-flux.log"
echo "test-services: all ready in $((SECONDS - t_all)) s"
