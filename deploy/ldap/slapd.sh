#!/usr/bin/env bash
# slapd.sh {start|stop|status|env}: a private OpenLDAP server for the user-mapper tests.
#
# start   installs slapd and ldap-utils when missing (Debian, noninteractive, no debconf database
#         configuration), generates a CA and a server certificate with openssl, writes a minimal
#         slapd.conf (mdb backend, suffix dc=example,dc=org), starts slapd as root without systemd
#         on loopback only (ldap://127.0.0.1:3890 and ldaps://127.0.0.1:6360), loads the test
#         entries and writes $LDAP_STATE_DIR/env for the tests. Idempotent: when slapd is already
#         up with the same configuration it only checks it (well under a second).
# stop    stops that slapd (SIGTERM, then SIGKILL after 10 s). Keeps the data and certificates.
# status  exit 0 when slapd answers an authenticated search, 3 otherwise.
# env     print the env file.
#
# Settings (environment, all optional):
#   LDAP_STATE_DIR       state dir             (default /var/lib/jobbergate-agent-test/ldap)
#   LDAP_LDAP_PORT       ldap:// port          (default 3890)
#   LDAP_LDAPS_PORT      ldaps:// port         (default 6360)
#   LDAP_ROOT_PASSWORD   rootdn password       (default admin-secret)
#   LDAP_AGENT_PASSWORD  bind password of the read-only service account the agent uses
#                        (default agent-secret)
#   LDAP_CLEAN=1         wipe the database (not the certificates) before starting
#
# Test entries (under ou=people,dc=example,dc=org):
#   alice    uid=alice  mail=alice@example.org  cn=Alice_Liddell
#   bob      uid=bob    mail=bob@example.org    cn=Bob
#   dave     uid=Dave   mail=dave@example.org   (upper case uid: the mapper lower-cases it)
#   dup1/2   two entries sharing mail=shared@example.org
#   carol    uid=carol  mail="carol@example.org " (trailing space: not a valid address)
#   mallory  uid="mallory;rm" mail=mallory@example.org (not a valid local user name)
#   nobody@example.org is in no entry.
set -euo pipefail

STATE=${LDAP_STATE_DIR:-/var/lib/jobbergate-agent-test/ldap}
LDAP_PORT=${LDAP_LDAP_PORT:-3890}
LDAPS_PORT=${LDAP_LDAPS_PORT:-6360}
ROOT_PW=${LDAP_ROOT_PASSWORD:-admin-secret}
AGENT_PW=${LDAP_AGENT_PASSWORD:-agent-secret}
SUFFIX=dc=example,dc=org
ROOT_DN=cn=admin,$SUFFIX
AGENT_DN=cn=agent,ou=services,$SUFFIX
PEOPLE=ou=people,$SUFFIX
CONF=$STATE/slapd.conf
PIDFILE=$STATE/slapd.pid
LOG=$STATE/slapd.log
CERTS=$STATE/certs
DATA=$STATE/data
LDAP_URL=ldap://127.0.0.1:$LDAP_PORT
LDAPS_URL=ldaps://127.0.0.1:$LDAPS_PORT

log() { printf 'slapd.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

install_packages() {
	if command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ]; then
		if command -v ldapsearch >/dev/null 2>&1; then return; fi
	fi
	log "installing slapd and ldap-utils"
	# No database configuration by the package: this script writes its own slapd.conf.
	echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends slapd ldap-utils >"$STATE/apt.log" 2>&1; then
		apt-get update >>"$STATE/apt.log" 2>&1
		apt-get install -y --no-install-recommends slapd ldap-utils >>"$STATE/apt.log" 2>&1 ||
			die "apt-get install failed, see $STATE/apt.log"
	fi
}

make_certs() {
	install -d -m 0755 "$CERTS"
	if [ -s "$CERTS/ca.crt" ] && [ -s "$CERTS/server.crt" ] && [ -s "$CERTS/server.key" ] &&
		openssl x509 -checkend 86400 -noout -in "$CERTS/server.crt" >/dev/null 2>&1; then
		return
	fi
	log "generating a test CA and server certificate in $CERTS"
	(
		cd "$CERTS"
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
			-subj "/CN=jobbergate-agent test LDAP CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" \
			-keyout ca.key -out ca.crt 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
			-keyout server.key -out server.csr 2>/dev/null
		printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
			"basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
			"extendedKeyUsage=serverAuth" >server.ext
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-days 825 -sha256 -extfile server.ext -out server.crt 2>/dev/null
		rm -f server.csr server.ext
		chmod 0644 ca.crt server.crt
	)
}

write_conf() {
	local hash tmp
	# Keep the rootpw hash stable across runs so that an unchanged password gives an unchanged file.
	if [ -s "$STATE/rootpw.hash" ] && [ "$(cat "$STATE/rootpw.sum" 2>/dev/null)" = "$(printf %s "$ROOT_PW" | sha256sum)" ]; then
		hash=$(cat "$STATE/rootpw.hash")
	else
		hash=$(slappasswd -s "$ROOT_PW")
		(umask 077; printf '%s\n' "$hash" >"$STATE/rootpw.hash"; printf %s "$ROOT_PW" | sha256sum >"$STATE/rootpw.sum")
	fi
	tmp=$(mktemp "$STATE/slapd.conf.XXXXXX")
	cat >"$tmp" <<EOF
# Written by deploy/ldap/slapd.sh: test server only.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $PIDFILE
argsfile $STATE/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile $CERTS/ca.crt
TLSCertificateFile $CERTS/server.crt
TLSCertificateKeyFile $CERTS/server.key
database mdb
maxsize 104857600
suffix "$SUFFIX"
rootdn "$ROOT_DN"
rootpw $hash
directory $DATA
index objectClass eq
index mail eq
index uid eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
EOF
	chmod 0600 "$tmp"
	if [ -f "$CONF" ] && cmp -s "$tmp" "$CONF"; then
		rm -f "$tmp"
		return 1 # unchanged
	fi
	mv "$tmp" "$CONF"
	return 0 # changed
}

running_pid() {
	local pid
	[ -s "$PIDFILE" ] || return 1
	pid=$(cat "$PIDFILE")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = slapd ] || return 1
	echo "$pid"
}

answers() {
	# A bind as the rootdn works before any entry exists.
	ldapwhoami -x -o nettimeout=2 -H "$LDAP_URL" -D "$ROOT_DN" -w "$ROOT_PW" >/dev/null 2>&1
}

start_slapd() {
	install -d -m 0700 "$DATA"
	log "starting slapd on $LDAP_URL and $LDAPS_URL"
	# -d keeps slapd in the foreground so that its stats log lands in $LOG; nohup + & detaches it.
	nohup /usr/sbin/slapd -f "$CONF" -h "$LDAP_URL/ $LDAPS_URL/" -d 256 >"$LOG" 2>&1 </dev/null &
	local i
	for i in $(seq 1 100); do
		if answers; then return 0; fi
		sleep 0.1
	done
	tail -n 20 "$LOG" >&2 || true
	die "slapd did not answer within 10 s"
}

stop_slapd() {
	local pid i
	pid=$(running_pid) || { rm -f "$PIDFILE"; return 0; }
	log "stopping slapd (pid $pid)"
	kill "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 0; }
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$PIDFILE"
}

# entries_ldif prints the test entries; @AGENT_HASH@ stands for the service account's hash.
entries_ldif() {
	cat <<EOF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=services,$SUFFIX
objectClass: organizationalUnit
ou: services

dn: $AGENT_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: agent
userPassword: @AGENT_HASH@

dn: uid=alice,$PEOPLE
objectClass: inetOrgPerson
uid: alice
cn: Alice_Liddell
sn: Liddell
mail: alice@example.org

dn: uid=bob,$PEOPLE
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: Builder
mail: bob@example.org

dn: uid=Dave,$PEOPLE
objectClass: inetOrgPerson
uid: Dave
cn: Dave
sn: Upper
mail: dave@example.org

dn: uid=dup1,$PEOPLE
objectClass: inetOrgPerson
uid: dup1
cn: Dup One
sn: One
mail: shared@example.org

dn: uid=dup2,$PEOPLE
objectClass: inetOrgPerson
uid: dup2
cn: Dup Two
sn: Two
mail: shared@example.org

# carol's stored mail is "carol@example.org " (trailing space, base64 in LDIF): the server
# matches it for carol@example.org, and the mapper rejects the returned value as invalid.
dn: uid=carol,$PEOPLE
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: Space
mail:: Y2Fyb2xAZXhhbXBsZS5vcmcg

dn: cn=Mallory,$PEOPLE
objectClass: inetOrgPerson
uid: mallory;rm
cn: Mallory
sn: Bad
mail: mallory@example.org
EOF
}

# load_entries (re)loads the test entries when they or the service password changed.
load_entries() {
	local sum agent_hash
	sum=$({ entries_ldif; printf '%s' "$AGENT_PW"; } | sha256sum | cut -d' ' -f1)
	if [ "$(cat "$DATA/entries.sum" 2>/dev/null)" = "$sum" ] &&
		ldapwhoami -x -H "$LDAP_URL" -D "$AGENT_DN" -w "$AGENT_PW" >/dev/null 2>&1; then
		return
	fi
	log "loading test entries"
	# Delete the old entries first. Only when the suffix entry exists: slapd 2.5.13 crashes on a
	# delete of the suffix in an empty database.
	if ldapsearch -x -LLL -H "$LDAP_URL" -D "$ROOT_DN" -w "$ROOT_PW" -b "$SUFFIX" -s base dn 2>/dev/null | grep -q '^dn:'; then
		ldapdelete -r -x -H "$LDAP_URL" -D "$ROOT_DN" -w "$ROOT_PW" "$SUFFIX" >/dev/null 2>&1 ||
			die "could not delete the old test entries"
	fi
	agent_hash=$(slappasswd -s "$AGENT_PW")
	if ! entries_ldif | sed "s|@AGENT_HASH@|$agent_hash|" |
		ldapadd -x -H "$LDAP_URL" -D "$ROOT_DN" -w "$ROOT_PW" >"$STATE/ldapadd.log" 2>&1; then
		cat "$STATE/ldapadd.log" >&2
		die "ldapadd failed"
	fi
	printf '%s\n' "$sum" >"$DATA/entries.sum"
}

write_env() {
	local tmp
	tmp=$(mktemp "$STATE/env.XXXXXX")
	cat >"$tmp" <<EOF
# Written by deploy/ldap/slapd.sh: settings of the private test slapd (shell and Go readable).
LDAP_TEST_URL=$LDAP_URL
LDAP_TEST_LDAPS_URL=$LDAPS_URL
LDAP_TEST_HOST=127.0.0.1
LDAP_TEST_PORT=$LDAP_PORT
LDAP_TEST_LDAPS_PORT=$LDAPS_PORT
LDAP_TEST_SEARCH_BASE=$SUFFIX
LDAP_TEST_BIND_DN=$AGENT_DN
LDAP_TEST_PASSWORD=$AGENT_PW
LDAP_TEST_ROOT_DN=$ROOT_DN
LDAP_TEST_CA_FILE=$CERTS/ca.crt
LDAP_TEST_PIDFILE=$PIDFILE
EOF
	chmod 0600 "$tmp"
	mv "$tmp" "$STATE/env"
}

cmd_start() {
	install -d -m 0700 "$STATE"
	install_packages
	make_certs
	local changed=0
	write_conf && changed=1
	if [ "${LDAP_CLEAN:-0}" = 1 ]; then
		stop_slapd
		rm -rf "$DATA"
	fi
	if running_pid >/dev/null; then
		if [ "$changed" = 1 ]; then
			log "configuration changed: restarting"
			stop_slapd
			start_slapd
		elif ! answers; then
			log "slapd runs but does not answer: restarting"
			stop_slapd
			start_slapd
		fi
	else
		start_slapd
	fi
	load_entries
	write_env
	log "up: $LDAP_URL $LDAPS_URL (env: $STATE/env)"
}

cmd_status() {
	local pid
	if pid=$(running_pid) && answers; then
		echo "slapd running (pid $pid) on $LDAP_URL and $LDAPS_URL; env $STATE/env"
		return 0
	fi
	echo "slapd not running"
	return 3
}

case "${1:-}" in
start) cmd_start ;;
stop) stop_slapd ;;
status) cmd_status ;;
env) cat "$STATE/env" ;;
*)
	echo "usage: $0 {start|stop|status|env}" >&2
	exit 2
	;;
esac
