#!/usr/bin/env bash
# Installs and starts, idempotently, every real component the integration tests use:
# single-node Slurm with munge, a private slapd, and the nats CLI. Needs root (it installs Debian
# packages); as another user it says so and does nothing, and the integration tests then skip
# (or fail, under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" -ne 0 ]; then
  echo "test-services: not root, not starting Slurm/slapd/nats CLI (integration tests will skip, or fail under CI=true)" >&2
  exit 0
fi

step() {
  local name=$1; shift
  local t0=$SECONDS
  echo "test-services: $name..."
  "$@"
  echo "test-services: $name ready ($((SECONDS - t0)) s)"
}

step "Slurm (single node)" bash "$here/slurm/slurm-single-node.sh" start
[ -f "$here/ldap/slapd.sh" ] && step "slapd" bash "$here/ldap/slapd.sh" start
[ -f "$here/nats/install-natscli.sh" ] && step "nats CLI" bash "$here/nats/install-natscli.sh"
exit 0
