#!/usr/bin/env bash
# scripts/package-test.sh: the packages of `make package`, as a site would use them (the last step
# of `make test`; root). Run time: about 15 s once the Debian root exists, about 1 min before.
#
#   1. `make package` (bin/packages), and a .deb of the next patch version (the upgrade).
#   2. The .deb's control fields, conffiles and files (paths, modes, owners); the .rpm (rpm -qp,
#      rpm installed on the host when missing) has the same files, modes, owners and bytes, its env
#      file is %config(noreplace) and it carries the same scripts.
#   3. `systemd-analyze verify` accepts the unit extracted from the .deb (ExecStart pointed at the
#      extracted binary, so that the program exists), which is deploy/systemd's unit with the
#      binary in /usr/bin.
#   4. In a Debian 12 root (debootstrap --variant=minbase bookworm PKGTEST_ROOT, default
#      /var/lib/jobbergate-pkgtest/root, built once and reused), with a stand-in systemctl that
#      records its calls and /run/systemd/system present (systemd "running"):
#      dpkg -i: the files, owners and modes; `jobbergate-agent version` prints the package version;
#      `config --env-file` reads the packaged env file; systemd is reloaded, nothing started or
#      enabled. The test edits the env file and leaves queue and cache state.
#      dpkg -i of the next version: the edited env file and the state survive; the agent is
#      try-restarted (restarted only if it runs).
#      dpkg -r: the agent is stopped; binary and unit gone; env file and state kept.
#      dpkg -P, systemd not running: no systemctl call; settings, state and enablement gone.
#      The rpm's scriptlets (the same scripts) with rpm's arguments: the same systemctl calls.
#
# Without root, dpkg, chroot or the root's prerequisites the test is skipped, or fails under
# CI=true. Settings: PKGTEST_ROOT, PKGTEST_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$top"
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
t_start=$SECONDS

log() { printf 'package-test: %s\n' "$*" >&2; }
fail() { printf 'package-test: FAIL: %s\n' "$*" >&2; exit 1; }
skip() {
	[[ ${CI:-} == true ]] && fail "$* (CI=true)"
	log "SKIP: $*"
	exit 0
}
since() { echo $((SECONDS - $1)); }

[[ $(id -u) -eq 0 ]] || skip "needs root (dpkg -i into a debootstrap root)"
for c in dpkg dpkg-deb chroot flock; do
	command -v "$c" >/dev/null || skip "$c is missing"
done

ROOT=${PKGTEST_ROOT:-/var/lib/jobbergate-pkgtest/root}
MIRROR=${PKGTEST_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
MARKER=$ROOT/.jobbergate-pkgtest-complete
CHROOT=(chroot "$ROOT" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	LANG=C DEBIAN_FRONTEND=noninteractive)
ENV=/etc/jobbergate-agent/jobbergate-agent.env
UNIT=/usr/lib/systemd/system/jobbergate-agent.service
# What the packages install: mode, owner/group and path, as `stat -c '%A %U/%G %n'` prints them.
EXPECTED="drwxr-xr-x root/root /etc/jobbergate-agent
-rw------- root/root /etc/jobbergate-agent/jobbergate-agent.env
-rwxr-xr-x root/root /usr/bin/jobbergate-agent
-rw-r--r-- root/root /usr/lib/systemd/system/jobbergate-agent.service
-rw-r--r-- root/root /usr/share/doc/jobbergate-agent/README.md
-rw-r--r-- root/root /usr/share/doc/jobbergate-agent/jobbergate-agent.env.example
drwx------ root/root /var/cache/jobbergate-agent
drwx------ root/root /var/lib/jobbergate-agent"
paths() { awk '{ print $3 }' <<<"$EXPECTED"; }

# apt_install PACKAGE...: from the host's lists, updated once when that fails.
apt_install() {
	local a=(-o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends)
	DEBIAN_FRONTEND=noninteractive apt-get install "${a[@]}" "$@" >/dev/null 2>&1 || {
		apt-get -o DPkg::Lock::Timeout=300 update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install "${a[@]}" "$@" >/dev/null
	}
}

tmp=$(mktemp -d)
cleanup() {
	rm -rf "$tmp" "$ROOT/tmp/pkgtest" "$ROOT/usr/local/sbin/systemctl"
	rmdir "$ROOT/run/systemd/system" "$ROOT/run/systemd" 2>/dev/null || true
}
trap cleanup EXIT

# --- 1. the packages --------------------------------------------------------------------------
t=$SECONDS
make -s --no-print-directory package
deb=$(ls bin/packages/jobbergate-agent_*.deb)
rpm=$(ls bin/packages/jobbergate-agent-*.rpm)
V=$(dpkg-deb -f "$deb" Version)
[[ $V =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || fail "package version $V is not MAJOR.MINOR.PATCH"
NEXT="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.$((BASH_REMATCH[3] + 1))"
make -s --no-print-directory package VERSION="$NEXT" PKG_OUT="$tmp/next" PKG_FORMATS=deb
deb_next=$(ls "$tmp"/next/jobbergate-agent_*.deb)
dpkg --compare-versions "$NEXT" gt "$V" || fail "$NEXT does not sort after $V"
log "packages $V and $NEXT built in $(since "$t") s: $(basename "$deb") $(stat -c %s "$deb") bytes, $(basename "$rpm") $(stat -c %s "$rpm") bytes"

# --- 2. what the packages hold ----------------------------------------------------------------
t=$SECONDS
for f in Package:jobbergate-agent Version:"$V" Architecture:"$(dpkg --print-architecture)" \
	"Depends:libc6 (>= 2.34)"; do
	got=$(dpkg-deb -f "$deb" "${f%%:*}")
	[[ $got == "${f#*:}" ]] || fail "deb control ${f%%:*}: '$got', want '${f#*:}'"
done
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
[[ $conffiles == "$ENV" ]] || fail "deb conffiles: '$conffiles', want $ENV"
for s in postinst prerm postrm; do
	dpkg-deb --ctrl-tarfile "$deb" | tar -xO "./$s" | cmp -s - "packaging/scripts/$(
		case $s in postinst) echo postinstall ;; prerm) echo preremove ;; postrm) echo postremove ;; esac
	).sh" || fail "deb $s is not packaging/scripts' script"
done
# Every entry but the parent directories (/usr, /usr/share/doc, ...), which belong to the system.
listing=$(dpkg-deb -c "$deb" | awk '{ p = $6; sub(/^\./, "", p); sub(/\/$/, "", p); print $1, $2, p }' |
	grep -Ev ' (/etc|/usr|/usr/bin|/usr/lib|/usr/lib/systemd|/usr/lib/systemd/system|/usr/share|/usr/share/doc|/usr/share/doc/jobbergate-agent|/var|/var/cache|/var/lib)$' | sort)
[[ $listing == "$(sort <<<"$EXPECTED")" ]] || fail "deb files:
$listing
want:
$EXPECTED"
dpkg-deb -x "$deb" "$tmp/x"

command -v rpm >/dev/null || { log "installing rpm on the host (rpm -qp)"; apt_install rpm; }
rq() { rpm -qp --nosignature "$@" "$rpm" 2>/dev/null; }
[[ $(rq --qf '%{NAME} %{VERSION} %{RELEASE}') == "jobbergate-agent $V 1" ]] || fail "rpm name/version: $(rq --qf '%{NAME} %{VERSION} %{RELEASE}')"
rq -R | grep -qx 'glibc >= 2.34' || fail "rpm requires: $(rq -R)"
rpm_list=$(rq --qf '[%{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} %{FILENAMES}\n]' | sort)
[[ $rpm_list == "$(sort <<<"$EXPECTED")" ]] || fail "rpm files:
$rpm_list
want:
$EXPECTED"
[[ $(rq --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' | awk -v e="$ENV" '$NF == e { print $1 }') == cn ]] ||
	fail "rpm: $ENV is not %config(noreplace)"
# The same bytes as the .deb's files (rpm's file digests are SHA-256).
while IFS='|' read -r digest path; do
	[[ -z $digest ]] && continue # a directory
	[[ $(sha256sum <"$tmp/x$path" | cut -d' ' -f1) == "$digest" ]] || fail "rpm's $path differs from the deb's"
done < <(rq --qf '[%{FILEDIGESTS}|%{FILENAMES}\n]')
scripts=$(rq --scripts)
for s in postinstall preuninstall postuninstall; do
	grep -q "^$s scriptlet" <<<"$scripts" || fail "rpm has no $s scriptlet"
done
log "deb and rpm contents checked in $(since "$t") s"

# --- 3. the packaged unit ---------------------------------------------------------------------
t=$SECONDS
sed 's#/usr/local/bin/jobbergate-agent#/usr/bin/jobbergate-agent#g' deploy/systemd/jobbergate-agent.service |
	cmp -s - "$tmp/x$UNIT" || fail "the packaged unit is not deploy/systemd's with /usr/bin"
if ! command -v systemd-analyze >/dev/null; then
	log "installing systemd on the host (systemd-analyze)"
	apt_install systemd
fi
mkdir "$tmp/unit"
sed "s#^ExecStart=/usr/bin/jobbergate-agent #ExecStart=$tmp/x/usr/bin/jobbergate-agent #" \
	"$tmp/x$UNIT" >"$tmp/unit/jobbergate-agent.service"
grep -q "^ExecStart=$tmp/x/usr/bin/jobbergate-agent " "$tmp/unit/jobbergate-agent.service" ||
	fail "the packaged unit has no ExecStart=/usr/bin/jobbergate-agent"
out=$(systemd-analyze verify "$tmp/unit/jobbergate-agent.service" 2>&1) && [[ -z $out ]] ||
	fail "systemd-analyze verify on the packaged unit: $out"
log "systemd-analyze verify accepts the packaged unit ($(since "$t") s)"

# --- 4. install, upgrade, remove, purge in a Debian root ---------------------------------------
t=$SECONDS
mkdir -p "$(dirname "$ROOT")"
exec 9>"$(dirname "$ROOT")/.lock"
flock -w 900 9 || fail "another package test holds $(dirname "$ROOT")/.lock"
if [[ ! -e $MARKER ]]; then
	if ! command -v debootstrap >/dev/null; then
		log "installing debootstrap on the host"
		apt_install debootstrap
	fi
	if [[ -e $ROOT ]]; then
		findmnt -rn -o TARGET | grep -q "^$ROOT/" && fail "mounts under the incomplete root $ROOT"
		log "removing the incomplete root $ROOT"
		rm -rf --one-file-system "$ROOT"
	fi
	log "debootstrap --variant=minbase $SUITE $ROOT $MIRROR"
	debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$tmp/debootstrap.log" 2>&1 || {
		tail -n 20 "$tmp/debootstrap.log" >&2
		fail "debootstrap failed"
	}
	touch "$MARKER"
	log "root built in $(since "$t") s"
fi
# A previous run stopped half-way leaves the package behind.
if "${CHROOT[@]}" dpkg-query -W jobbergate-agent >/dev/null 2>&1; then
	log "purging the package left by an earlier run"
	"${CHROOT[@]}" dpkg --purge jobbergate-agent </dev/null >/dev/null
fi
for p in $(paths); do
	[[ ! -e $ROOT$p ]] || fail "$ROOT$p exists before the install"
done

mkdir -p "$ROOT/tmp/pkgtest" "$ROOT/usr/local/sbin"
cp "$deb" "$ROOT/tmp/pkgtest/old.deb"
cp "$deb_next" "$ROOT/tmp/pkgtest/next.deb"
cat >"$ROOT/usr/local/sbin/systemctl" <<'SH'
#!/bin/sh
# package-test.sh's stand-in: records the call.
echo "$*" >>/tmp/pkgtest/systemctl.log
SH
chmod 755 "$ROOT/usr/local/sbin/systemctl"
systemd_running() { if [[ $1 == yes ]]; then mkdir -p "$ROOT/run/systemd/system"; else rmdir "$ROOT/run/systemd/system" 2>/dev/null || true; fi; }
# step WANT_CALLS COMMAND...: COMMAND in the root; systemctl must be called exactly so.
step() {
	local want=$1
	shift
	: >"$ROOT/tmp/pkgtest/systemctl.log"
	"${CHROOT[@]}" "$@" </dev/null >"$tmp/step.out" 2>&1 || { cat "$tmp/step.out" >&2; fail "$*"; }
	local got
	got=$(cat "$ROOT/tmp/pkgtest/systemctl.log")
	[[ $got == "$want" ]] || fail "$*: systemctl calls '${got//$'\n'/; }', want '${want//$'\n'/; }'"
}
dpkg_step() { step "$1" dpkg "${@:2}"; }
status() { "${CHROOT[@]}" dpkg-query -W -f '${Status} ${Version}' jobbergate-agent 2>/dev/null || echo "not-installed"; }
agent_version() { "${CHROOT[@]}" jobbergate-agent version | awk 'NR == 1 { print $2 }'; }

# Install (systemd running): reload only, never start or enable.
systemd_running yes
dpkg_step "daemon-reload" -i /tmp/pkgtest/old.deb
[[ $(status) == "install ok installed $V" ]] || fail "after dpkg -i: $(status)"
installed=$("${CHROOT[@]}" stat -c '%A %U/%G %n' $(paths))
[[ $installed == "$EXPECTED" ]] || fail "installed files:
$installed
want:
$EXPECTED"
for p in $(paths); do
	[[ -f $ROOT$p ]] || continue
	cmp -s "$ROOT$p" "$tmp/x$p" || fail "installed $p differs from the package's"
done
cmp -s "$ROOT$ENV" deploy/env/jobbergate-agent.env.example || fail "$ENV is not deploy/env's example"
[[ $(agent_version) == "$V" ]] || fail "jobbergate-agent version: '$(agent_version)', want $V"
# The site's edit and the agent's state.
printf '\n# site: pkgtest\nJOBBERGATE_AGENT_OIDC_CLIENT_ID=pkgtest-site-edit\n' >>"$ROOT$ENV"
cp -p "$ROOT$ENV" "$tmp/edited.env"
config=$("${CHROOT[@]}" jobbergate-agent --env-file "$ENV" config 2>&1) || fail "config: $config"
grep -qx 'JOBBERGATE_AGENT_OIDC_CLIENT_ID=pkgtest-site-edit' <<<"$config" ||
	fail "config does not read $ENV: $(grep OIDC_CLIENT_ID <<<"$config")"
mkdir -p "$ROOT/var/lib/jobbergate-agent/nats" "$ROOT/var/cache/jobbergate-agent/cluster-api"
echo queue >"$ROOT/var/lib/jobbergate-agent/nats/pkgtest-state"
echo token >"$ROOT/var/cache/jobbergate-agent/cluster-api/pkgtest-token"
state_kept() {
	[[ -f $ROOT/var/lib/jobbergate-agent/nats/pkgtest-state && -f $ROOT/var/cache/jobbergate-agent/cluster-api/pkgtest-token ]] ||
		fail "$1: the queue or cache state is gone"
	cmp -s "$ROOT$ENV" "$tmp/edited.env" || fail "$1: the edited $ENV changed"
	[[ $(stat -c '%a %U' "$ROOT$ENV") == "600 root" ]] || fail "$1: $ENV is $(stat -c '%a %U' "$ROOT$ENV")"
	local left
	left=$(ls "$ROOT/etc/jobbergate-agent" | grep -v '^jobbergate-agent.env$' || true)
	[[ -z $left ]] || fail "$1: /etc/jobbergate-agent holds $left"
}

# Upgrade: the site's env file and the state stay; the agent restarts only if it runs.
dpkg_step $'daemon-reload\ntry-restart jobbergate-agent.service' -i /tmp/pkgtest/next.deb
[[ $(status) == "install ok installed $NEXT" ]] || fail "after the upgrade: $(status)"
[[ $(agent_version) == "$NEXT" ]] || fail "after the upgrade: version '$(agent_version)', want $NEXT"
state_kept "after the upgrade"
[[ $("${CHROOT[@]}" stat -c '%A %U/%G %n' /var/cache/jobbergate-agent /var/lib/jobbergate-agent) == "$(tail -n 2 <<<"$EXPECTED")" ]] ||
	fail "after the upgrade: state directories changed"

# Remove: stopped; settings and state kept.
dpkg_step $'stop jobbergate-agent.service\ndaemon-reload' -r jobbergate-agent
[[ $(status) == "deinstall ok config-files $NEXT" ]] || fail "after dpkg -r: $(status)"
for p in /usr/bin/jobbergate-agent "$UNIT"; do
	[[ ! -e $ROOT$p ]] || fail "after dpkg -r: $p remains"
done
state_kept "after dpkg -r"

# Purge without systemd: no systemctl call; settings, state and enablement gone.
systemd_running no
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf "$UNIT" "$ROOT/etc/systemd/system/multi-user.target.wants/jobbergate-agent.service"
dpkg_step "" -P jobbergate-agent
[[ $(status) == "not-installed" || $(status) == "unknown ok not-installed "* ]] || fail "after dpkg -P: $(status)"
for p in $(paths) /etc/systemd/system/multi-user.target.wants/jobbergate-agent.service; do
	[[ ! -e $ROOT$p && ! -L $ROOT$p ]] || fail "after dpkg -P: $p remains"
done
log "install, upgrade, remove and purge in $ROOT checked in $(since "$t") s"

# The rpm's scriptlets are packaging/scripts' too; rpm passes the number of versions installed
# after the step (%post 1: install, 2: upgrade; %preun and %postun 0: erase, 1: upgrade).
for s in POSTIN:postinstall PREUN:preremove POSTUN:postremove; do
	[[ $(rq --qf "%{${s%%:*}}") == "$(cat "packaging/scripts/${s#*:}.sh")" ]] ||
		fail "the rpm's %{${s%%:*}} is not packaging/scripts/${s#*:}.sh"
done
cp packaging/scripts/*.sh "$ROOT/tmp/pkgtest/"
systemd_running yes
step "daemon-reload" sh /tmp/pkgtest/postinstall.sh 1
step $'daemon-reload\ntry-restart jobbergate-agent.service' sh /tmp/pkgtest/postinstall.sh 2
step "" sh /tmp/pkgtest/preremove.sh 1
step "stop jobbergate-agent.service" sh /tmp/pkgtest/preremove.sh 0
step "" sh /tmp/pkgtest/postremove.sh 1
step "daemon-reload" sh /tmp/pkgtest/postremove.sh 0
systemd_running no
log "the rpm's scriptlets under rpm's arguments checked"
log "PASS in $(since "$t_start") s (deb $(stat -c %s "$deb") bytes, rpm $(stat -c %s "$rpm") bytes)"
