#!/bin/sh
# Demo user mapper for command-mapper: the e-mail's local part is the Unix user name when such a
# regular user (uid >= 1000) exists here. Exit 2 tells the agent "no such user" (the submission is
# rejected); any other failure is treated as transient.
email="$1"
user="${email%%@*}"
case "$user" in
  ''|*[!a-z0-9._-]*) exit 2 ;;
esac
entry=$(getent passwd "$user") || exit 2
uid=$(echo "$entry" | cut -d: -f3)
[ "$uid" -ge 1000 ] || exit 2
echo "$user"
