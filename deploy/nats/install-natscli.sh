#!/bin/sh
# Installs the nats CLI (natscli v0.5.0) into .tools/bin of the project (gitignored), or into
# $NATS_CLI_BIN when set (e.g. /usr/local/bin). Idempotent: exits at once when that version is
# already there. Prints the binary's path.
set -eu
VERSION=v0.5.0
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${NATS_CLI_BIN:-$ROOT/.tools/bin}
if [ -x "$BIN/nats" ] && "$BIN/nats" --version 2>/dev/null | grep -qx "${VERSION#v}\|$VERSION"; then
	echo "$BIN/nats"
	exit 0
fi
mkdir -p "$BIN"
GOBIN=$BIN go install "github.com/nats-io/natscli/nats@$VERSION"
echo "$BIN/nats"
