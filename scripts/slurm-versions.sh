#!/usr/bin/env bash
# slurm-versions.sh: the project's Slurm-facing Go tests against current Slurm releases, each a
# real single-node cluster in a Debian debootstrap root (deploy/slurm/slurm-chroot.sh): trixie
# has Slurm 24.11, sid Slurm 26.05. The host's own Slurm 22.05 keeps running beside them.
#
# For each suite it starts the root's cluster (idempotent), bind-mounts this checkout at the same
# path inside the root, copies in static test binaries built once on the host
# (`CGO_ENABLED=0 go test -c -vet=off`) and a static agent binary (JBG_E2E_AGENT_BIN), and runs
# each test binary inside the root with its package directory as cwd (the tests use relative
# paths such as ../deploy/demo/map-user.sh). It prints the Slurm version, the wall time of each package and of
# the suite, then one summary line; it exits 1 when a package fails, when the build fails, or
# (under CI=true) when a suite cannot be brought up. Without CI=true such a suite is skipped.
# Needs root (chroot, mount).
#
# Settings:
#   SLURM_SUITES     suites to run, in order (default "trixie sid"; empty: nothing to do)
#   SV_TEST_TIMEOUT  -test.timeout of each package (default 10m)
#   SV_LOG_DIR       where each package's output is kept (default /tmp/jbg-slurm-versions)
#   SV_STOP          1: stop each suite's cluster (and unmount its root) after its tests
#   GOTOOLCHAIN      as the Makefile exports it (read from the Makefile when unset)
set -euo pipefail

# PKG:RUN-REGEX pairs: each package's test binary is run with -test.run REGEX.
PACKAGES=(
	./slurm:.
	./consumers/submit:EndToEnd
	./consumers/update:EndToEnd
	./e2e:TestCrash/embedded-nats
)

cd "$(dirname "$0")/.."
REPO=$(pwd -P)
CHROOT_SH=$REPO/deploy/slurm/slurm-chroot.sh
SLURM_SUITES=${SLURM_SUITES-trixie sid}
SV_TEST_TIMEOUT=${SV_TEST_TIMEOUT:-10m}
SV_LOG_DIR=${SV_LOG_DIR:-/tmp/jbg-slurm-versions}
SV_STOP=${SV_STOP:-0}
CI=${CI:-}
IN_DIR=/opt/jbg-tests # inside each root
export PATH=/usr/local/go/bin:$PATH
if [[ -z ${GOTOOLCHAIN:-} ]]; then
	GOTOOLCHAIN=$(sed -n 's/^export GOTOOLCHAIN ?= *//p' Makefile)
	export GOTOOLCHAIN
fi

log() { printf 'slurm-versions: %s\n' "$*" >&2; }

now_us() { echo "${EPOCHREALTIME/./}"; }
since() {
	local d=$(($(now_us) - $1))
	printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000))
}

# bin_name PKG: the test binary's file name (./consumers/submit -> consumers_submit.test).
bin_name() {
	local p=${1#./}
	echo "${p//\//_}.test"
}

if [[ -z ${SLURM_SUITES// /} ]]; then
	log "SLURM_SUITES is empty: nothing to do"
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	if [[ $CI == true ]]; then
		log "error: needs root (chroot, mount)"
		exit 1
	fi
	log "not root: skipping the tests against other Slurm versions"
	exit 0
fi

# Build once for every suite.
BUILD=$(mktemp -d /tmp/jbg-slurm-versions-bin.XXXXXX)
trap 'rm -rf "$BUILD"' EXIT
t_build=$(now_us)
for entry in "${PACKAGES[@]}"; do
	pkg=${entry%%:*}
	# -vet=off: the host's `go test` and `make lint` vet the same code.
	CGO_ENABLED=0 go test -c -vet=off -o "$BUILD/$(bin_name "$pkg")" "$pkg" || {
		log "error: building the tests of $pkg failed"
		exit 1
	}
done
CGO_ENABLED=0 go build -o "$BUILD/jobbergate-agent" ./cmd/jobbergate-agent || {
	log "error: building the agent failed"
	exit 1
}
log "static test binaries and agent built in $(since "$t_build") s ($GOTOOLCHAIN)"

summary=()
failed=0
for suite in $SLURM_SUITES; do
	t_suite=$(now_us)
	log "=== $suite"
	if ! bash "$CHROOT_SH" start "$suite" || ! bash "$CHROOT_SH" bind "$suite" "$REPO"; then
		if [[ $CI == true ]]; then
			log "error: Slurm in the $suite root cannot be brought up"
			summary+=("$suite FAILED to start")
			failed=1
		else
			log "Slurm in the $suite root cannot be brought up: skipped (a failure under CI=true)"
			summary+=("$suite skipped")
		fi
		continue
	fi
	root=$(bash "$CHROOT_SH" root "$suite")
	version=$(chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sbatch --version)
	version=${version##* }
	log "$suite: Slurm $version (sbatch --version), root $root"
	rm -rf "${root:?}$IN_DIR"
	install -d "$root$IN_DIR"
	cp "$BUILD"/* "$root$IN_DIR/"
	mkdir -p "$SV_LOG_DIR/$suite"

	bad=()
	for entry in "${PACKAGES[@]}"; do
		pkg=${entry%%:*}
		run=${entry#*:}
		name=$(bin_name "$pkg")
		out=$SV_LOG_DIR/$suite/${name%.test}.log
		log "$version: $pkg -test.run '$run'"
		t_pkg=$(now_us)
		# A clean environment; cwd is the package's directory in the bind-mounted checkout.
		if chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CI="$CI" HOME=/root \
			JBG_E2E_AGENT_BIN="$IN_DIR/jobbergate-agent" \
			/bin/sh -c 'cd "$1" && exec "$2" -test.count=1 -test.timeout "$3" -test.run "$4"' \
			sh "$REPO/${pkg#./}" "$IN_DIR/$name" "$SV_TEST_TIMEOUT" "$run" 2>&1 | tee "$out"; then
			log "$version: $pkg ok ($(since "$t_pkg") s)"
		else
			log "$version: $pkg FAILED ($(since "$t_pkg") s; output in $out)"
			bad+=("$pkg")
		fi
	done
	if [[ $SV_STOP == 1 ]]; then
		bash "$CHROOT_SH" stop "$suite" || true
	fi
	took=$(since "$t_suite")
	if ((${#bad[@]} == 0)); then
		log "$suite: Slurm $version ok ($took s)"
		summary+=("$version ok ($took s)")
	else
		log "$suite: Slurm $version FAILED in ${bad[*]} ($took s)"
		summary+=("$version FAILED: ${bad[*]} ($took s)")
		failed=1
	fi
done

line=$(printf '%s, ' "${summary[@]}")
echo "slurm-versions: ${line%, }"
exit "$failed"
