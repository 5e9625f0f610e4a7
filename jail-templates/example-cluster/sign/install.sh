#!/bin/sh
# Site 'sign' on a FreeBSD host: rendered by certdrop-jails from
# cluster.toml.sample. Run as root after each render; idempotent. It creates the
# users (on the host, which owns the shared directories, and in each jail),
# the shared directories with their owners and modes, each jail's mount
# points, and installs the fstabs, crontabs and jail.conf entries, and into
# each jail its rc.conf knobs and rc.d script (rc.conf.<jail>, rc.d.<jail>).
# The jails' base systems must exist (bsdinstall jail, or a release
# tarball), and the certdrop package in each jail that runs a watch daemon
# (pkg -j <jail> install certdrop), for its rc.d scripts.
set -eu
out=$(cd "$(dirname "$0")" && pwd)

user() { # user ROOT NAME UID GID
    pw -R "$1" groupshow "$2" >/dev/null 2>&1 || pw -R "$1" groupadd "$2" -g "$4"
    pw -R "$1" usershow "$2" >/dev/null 2>&1 ||
        pw -R "$1" useradd "$2" -u "$3" -g "$4" -d /nonexistent -s /usr/sbin/nologin -c "certdrop $2"
}

user / certdrop-issue 801 801
user / certdrop-zone 802 802
user / certdrop-publish 803 803

install -d -o root -g wheel -m 0755 /var/db/certdrop /var/db/certdrop/state /usr/local/etc/certdrop
install -d -o certdrop-issue -g certdrop-issue -m 0755 /var/db/certdrop/dnsextra	# acme:rw dns:ro
install -d -o certdrop-issue -g certdrop-issue -m 0755 /var/db/certdrop/webroot	# acme:rw
install -d -o certdrop-issue -g certdrop-issue -m 0755 /var/db/certdrop/certs	# acme:rw dns:ro publish:ro
install -d -o certdrop-issue -g certdrop-issue -m 0700 /var/db/certdrop/keys	# acme:rw
install -d -o certdrop-issue -g certdrop-issue -m 0700 /var/db/certdrop/archive	# acme:rw
install -d -o certdrop-publish -g certdrop-publish -m 0755 /var/db/certdrop/pub	# publish:rw
install -d -o certdrop-publish -g certdrop-publish -m 0755 /var/db/certdrop/inbox	# acme:ro publish:rw

# acme: issue
r=/usr/jails/acme
[ -x "$r/bin/sh" ] || { echo "install.sh: $r has no base system (bsdinstall jail $r)" >&2; exit 1; }
install -d -o certdrop-issue -g certdrop-issue -m 0700 /var/db/certdrop/state/acme
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/acme" "$r/var/db/certdrop/dnsextra" "$r/var/db/certdrop/webroot" "$r/var/db/certdrop/certs" "$r/var/db/certdrop/keys" "$r/var/db/certdrop/archive" "$r/var/db/certdrop/inbox"
user "$r" certdrop-issue 801 801
install -m 0644 "$out/fstab.acme" /etc/fstab.certdrop-acme
install -o root -g wheel -m 0600 "$out/crontab.acme" "$r/var/cron/tabs/certdrop-issue"
rm -f "$r/etc/rc.conf.d/certdrop_zone"
rm -f "$r/etc/rc.conf.d/certdrop_trigger"
rm -f "$r/etc/rc.conf.d/certdrop_publish"
rm -f "$r/usr/local/etc/rc.d/certdrop_jail" "$r/etc/rc.conf.d/certdrop_jail"

# dns: zone
r=/usr/jails/dns
[ -x "$r/bin/sh" ] || { echo "install.sh: $r has no base system (bsdinstall jail $r)" >&2; exit 1; }
install -d -o certdrop-zone -g certdrop-zone -m 0700 /var/db/certdrop/state/dns
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/dns" "$r/var/db/certdrop/dnsextra" "$r/var/db/certdrop/certs"
user "$r" certdrop-zone 802 802
install -m 0644 "$out/fstab.dns" /etc/fstab.certdrop-dns
install -o root -g wheel -m 0600 "$out/crontab.dns" "$r/var/cron/tabs/certdrop-zone"
install -d "$r/etc/rc.conf.d"
[ -x "$r/usr/local/etc/rc.d/certdrop_zone" ] || { echo "install.sh: $r has no /usr/local/etc/rc.d/certdrop_zone (pkg -j dns install certdrop)" >&2; exit 1; }
install -m 0644 "$out/rc.conf.dns" "$r/etc/rc.conf.d/certdrop_zone"
rm -f "$r/etc/rc.conf.d/certdrop_trigger"
rm -f "$r/etc/rc.conf.d/certdrop_publish"
install -d "$r/usr/local/etc/rc.d"
install -m 0555 "$out/rc.d.dns" "$r/usr/local/etc/rc.d/certdrop_jail"
install -m 0644 "$out/rc.conf.dns" "$r/etc/rc.conf.d/certdrop_jail"

# publish: publish
r=/usr/jails/publish
[ -x "$r/bin/sh" ] || { echo "install.sh: $r has no base system (bsdinstall jail $r)" >&2; exit 1; }
install -d -o certdrop-publish -g certdrop-publish -m 0700 /var/db/certdrop/state/publish
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/publish" "$r/var/db/certdrop/certs" "$r/var/db/certdrop/pub" "$r/var/db/certdrop/inbox"
user "$r" certdrop-publish 803 803
install -m 0644 "$out/fstab.publish" /etc/fstab.certdrop-publish
install -o root -g wheel -m 0600 "$out/crontab.publish" "$r/var/cron/tabs/certdrop-publish"
install -d "$r/etc/rc.conf.d"
[ -x "$r/usr/local/etc/rc.d/certdrop_publish" ] || { echo "install.sh: $r has no /usr/local/etc/rc.d/certdrop_publish (pkg -j publish install certdrop)" >&2; exit 1; }
install -m 0644 "$out/rc.conf.publish" "$r/etc/rc.conf.d/certdrop_publish"
rm -f "$r/etc/rc.conf.d/certdrop_zone"
rm -f "$r/etc/rc.conf.d/certdrop_trigger"
rm -f "$r/usr/local/etc/rc.d/certdrop_jail" "$r/etc/rc.conf.d/certdrop_jail"

install -d /etc/jail.conf.d
install -m 0644 "$out/jail.conf" /etc/jail.conf.d/certdrop-sign.conf
grep -q '^jail_enable="YES"' /etc/rc.conf 2>/dev/null || sysrc jail_enable=YES >/dev/null
for j in acme dns publish; do sysrc jail_list+="$j" >/dev/null; done
echo "install.sh: site sign installed; start it with: service jail start acme dns publish"
