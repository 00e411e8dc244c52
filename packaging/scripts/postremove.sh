#!/bin/sh
# jobbergate-agent after its files are gone (dpkg: postrm remove | purge | upgrade NEW-VERSION |
# ...; rpm: %postun N, N=0 erase, N=1 upgrade). Removal keeps the site's settings
# (/etc/jobbergate-agent) and the agent's state (the token cache in /var/cache/jobbergate-agent,
# the JetStream queue in /var/lib/jobbergate-agent). dpkg's purge deletes them and the unit's
# enablement; its conffile is removed by dpkg itself. rpm has no purge: an edited env file stays
# as jobbergate-agent.env.rpmsave.
set -e
unit=jobbergate-agent.service

case "${1:-}" in
remove | 0) ;;
purge)
	rm -rf /var/lib/jobbergate-agent /var/cache/jobbergate-agent
	rm -f "/etc/systemd/system/multi-user.target.wants/$unit"
	rmdir /etc/jobbergate-agent 2>/dev/null || true # files the site added there stay
	;;
*) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
