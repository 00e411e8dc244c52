#!/bin/sh
# jobbergate-agent before its files go (dpkg: prerm remove | deconfigure | upgrade NEW-VERSION |
# failed-upgrade; rpm: %preun N, N=0 erase, N=1 upgrade). Removal stops the agent when systemd
# runs (SIGTERM: it drains). An upgrade leaves it running: the new package's post-installation
# restarts it. The unit stays enabled or not as the site left it.
set -e
unit=jobbergate-agent.service

case "${1:-}" in
remove | deconfigure | 0)
	if [ -d /run/systemd/system ]; then
		systemctl stop "$unit" || true
	fi
	;;
esac
exit 0
