#!/usr/bin/env bash
# Verify deploy/systemd/jobbergate-agent.service with `systemd-analyze verify` (Debian's systemd
# package, installed here when missing). Any message from the verifier fails: it only warns on
# unknown keys or unparsable values, which would otherwise be ignored silently at install time.
#
# Usage: deploy/systemd/verify.sh [AGENT_BINARY]
# systemd-analyze checks that ExecStart's program exists; when AGENT_BINARY is given (or
# /usr/local/bin/jobbergate-agent is absent, then bin/jobbergate-agent), a copy of the unit with
# only that path replaced is verified. Idempotent; installing needs root.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
unit="$here/jobbergate-agent.service"
installed=/usr/local/bin/jobbergate-agent

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "verify.sh: installing systemd (for systemd-analyze)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd >/dev/null
fi

bin="${1:-}"
if [[ -z "$bin" && ! -x "$installed" ]]; then
	bin="$here/../../bin/jobbergate-agent"
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
target="$unit"
if [[ -n "$bin" ]]; then
	bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
	[[ -x "$bin" ]] || { echo "verify.sh: $bin is not an executable (run make build)" >&2; exit 1; }
	target="$tmp/jobbergate-agent.service"
	sed "s#^ExecStart=$installed #ExecStart=$bin #" "$unit" >"$target"
fi
out="$(systemd-analyze verify "$target" 2>&1)" || { echo "$out" >&2; exit 1; }
if [[ -n "$out" ]]; then
	echo "$out" >&2
	echo "verify.sh: systemd-analyze reported problems" >&2
	exit 1
fi
echo "verify.sh: jobbergate-agent.service OK"
