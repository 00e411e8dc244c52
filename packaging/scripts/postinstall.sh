#!/bin/sh
# jobbergate-agent after its files are in place (dpkg: postinst configure [OLD-VERSION];
# rpm: %post N, N=1 install, N>=2 upgrade). When systemd runs: reload the unit files, and on an
# upgrade restart the agent only when it runs (try-restart: SIGTERM, the agent drains, the new
# binary starts). A first install never enables or starts it: it needs the site's settings.
set -e
unit=jobbergate-agent.service

upgrade=false
case "${1:-}" in
configure) if [ -n "${2:-}" ]; then upgrade=true; fi ;;
[0-9]*) if [ "$1" -ge 2 ]; then upgrade=true; fi ;;
*) exit 0 ;; # dpkg's abort-upgrade, abort-remove, abort-deconfigure: nothing was stopped
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if $upgrade; then
		systemctl try-restart "$unit" ||
			echo "jobbergate-agent: the restart failed; see systemctl status $unit" >&2
	fi
fi
if ! $upgrade; then
	echo "jobbergate-agent: set the site's settings in /etc/jobbergate-agent/jobbergate-agent.env," \
		"then run: systemctl enable --now $unit"
fi
exit 0
