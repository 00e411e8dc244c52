#!/usr/bin/env bash
# packaging/build.sh BINARY OUTDIR [deb] [rpm]: the agent's packages (default both) in OUTDIR,
# made by nfpm from packaging/nfpm.yaml. `make package` builds BINARY with the Makefile's LDFLAGS
# and calls this with VERSION (the Makefile's) and NFPM (the nfpm command) set.
#
# The package version is VERSION, which must be what `BINARY version` reports. The packaged
# unit is deploy/systemd/jobbergate-agent.service with the binary's path /usr/local/bin replaced
# by the package's /usr/bin. File times are the last commit's (SOURCE_DATE_EPOCH), so packages
# of the same commit and binary have the same bytes. OUTDIR's older packages are removed.
set -euo pipefail
die() { echo "build.sh: $*" >&2; exit 1; }

[[ $# -ge 2 ]] || die "usage: VERSION=X.Y.Z NFPM=nfpm $0 BINARY OUTDIR [deb] [rpm]"
bin=$1 out=$2
shift 2
formats=("$@")
[[ ${#formats[@]} -gt 0 ]] || formats=(deb rpm)
: "${VERSION:?VERSION is not set}"
NFPM=${NFPM:-nfpm}
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# glibc the packages declare (packaging/nfpm.yaml's depends); a binary needing more fails here.
GLIBC_DECLARED=2.34

[[ -x $bin ]] || die "$bin is not an executable"
reported=$("$bin" version | awk 'NR == 1 { print $2 }')
[[ $reported == "$VERSION" ]] || die "$bin reports version '$reported', not VERSION=$VERSION"

if command -v objdump >/dev/null; then
	need=$(objdump -T "$bin" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1 || true)
	if [[ -n $need && $(printf '%s\n%s\n' "$need" "$GLIBC_DECLARED" | sort -V | tail -n 1) != "$GLIBC_DECLARED" ]]; then
		die "$bin needs glibc $need; the packages declare >= $GLIBC_DECLARED (packaging/nfpm.yaml, build.sh)"
	fi
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"
stage="$out/.stage"
rm -rf "$stage"
mkdir -p "$stage"
install -m 0755 "$bin" "$stage/jobbergate-agent"
sed 's#/usr/local/bin/jobbergate-agent#/usr/bin/jobbergate-agent#g' \
	"$top/deploy/systemd/jobbergate-agent.service" >"$stage/jobbergate-agent.service"
grep -q '^ExecStart=/usr/bin/jobbergate-agent ' "$stage/jobbergate-agent.service" ||
	die "the unit's ExecStart does not name /usr/local/bin/jobbergate-agent: update build.sh"

if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
	SOURCE_DATE_EPOCH=$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH PKG_VERSION=$VERSION PKG_STAGE=$stage
export PKG_ARCH=${PKG_ARCH:-$(go env GOARCH 2>/dev/null || dpkg --print-architecture)}

cd "$top"
for f in "${formats[@]}"; do
	case $f in
	deb) rm -f "$out"/jobbergate-agent_*.deb ;;
	rpm) rm -f "$out"/jobbergate-agent-*.rpm ;;
	*) die "unknown format $f (deb, rpm)" ;;
	esac
	"$NFPM" package --config packaging/nfpm.yaml --packager "$f" --target "$out/" >/dev/null
done
rm -rf "$stage"
for f in "${formats[@]}"; do
	ls "$out"/jobbergate-agent[_-]*."$f" | while IFS= read -r p; do
		printf 'build.sh: %s (%s KiB)\n' "$p" "$(($(stat -c %s "$p") / 1024))"
	done
done
