#!/usr/bin/env bash
# vulndb.sh VERSION DIR: builds the Go vulnerability database for `govulncheck -db file://DIR`
# from the OSV files of the golang.org/x/vulndb module at VERSION (fetched through the Go module
# proxy), with the module's own indexdb command.
set -euo pipefail
version=$1 out=$2
here=$(cd "$(dirname "$0")/.." && pwd)
tools=$here/.tools/bin
src=$(go mod download -json "golang.org/x/vulndb@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src/data/osv" ] || { echo "vulndb.sh: no data/osv in $src" >&2; exit 1; }
test -x "$tools/indexdb" || GOBIN=$tools go install "golang.org/x/vulndb/cmd/indexdb@$version"
rm -rf "$out.tmp"
"$tools/indexdb" -vulns "$src/data/osv" -out "$out.tmp"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "vulndb.sh: $(ls "$out/ID" | wc -l) entries in $out"
