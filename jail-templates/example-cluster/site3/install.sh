#!/bin/sh
# Site 'site3' on a FreeBSD host: rendered by certdrop-jails from
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

user / certdrop-zone 802 802
user / certdrop-publish 803 803
user / www 805 805

install -d -o root -g wheel -m 0755 /var/db/certdrop /var/db/certdrop/state /usr/local/etc/certdrop
install -d -o www -g www -m 0700 /var/db/certdrop/keys	# www:rw
install -d -o certdrop-publish -g certdrop-publish -m 0755 /var/db/certdrop/pub	# publish:rw www:ro
install -d -o www -g www -m 0755 /var/db/certdrop/outbox	# www:rw

# dns: zone
r=/usr/jails/dns
[ -x "$r/bin/sh" ] || { echo "install.sh: $r has no base system (bsdinstall jail $r)" >&2; exit 1; }
install -d -o certdrop-zone -g certdrop-zone -m 0700 /var/db/certdrop/state/dns
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/dns"
user "$r" certdrop-zone 802 802
install -m 0644 "$out/fstab.dns" /etc/fstab.certdrop-dns
install -o root -g wheel -m 0600 "$out/crontab.dns" "$r/var/cron/tabs/certdrop-zone"
install -d "$r/etc/rc.conf.d"
rm -f "$r/etc/rc.conf.d/certdrop_zone"
rm -f "$r/etc/rc.conf.d/certdrop_trigger"
rm -f "$r/etc/rc.conf.d/certdrop_publish"
install -d "$r/usr/local/etc/rc.d"
install -m 0555 "$out/rc.d.dns" "$r/usr/local/etc/rc.d/certdrop_jail"
install -m 0644 "$out/rc.conf.dns" "$r/etc/rc.conf.d/certdrop_jail"

# publish: publish
r=/usr/jails/publish
[ -x "$r/bin/sh" ] || { echo "install.sh: $r has no base system (bsdinstall jail $r)" >&2; exit 1; }
install -d -o certdrop-publish -g certdrop-publish -m 0700 /var/db/certdrop/state/publish
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/publish" "$r/var/db/certdrop/pub"
user "$r" certdrop-publish 803 803
install -m 0644 "$out/fstab.publish" /etc/fstab.certdrop-publish
install -o root -g wheel -m 0600 "$out/crontab.publish" "$r/var/cron/tabs/certdrop-publish"
rm -f "$r/etc/rc.conf.d/certdrop_zone"
rm -f "$r/etc/rc.conf.d/certdrop_trigger"
rm -f "$r/etc/rc.conf.d/certdrop_publish"
rm -f "$r/usr/local/etc/rc.d/certdrop_jail" "$r/etc/rc.conf.d/certdrop_jail"

# www: web, trigger, csr
r=/usr/jails/www
[ -x "$r/bin/sh" ] || { echo "install.sh: $r has no base system (bsdinstall jail $r)" >&2; exit 1; }
install -d -o www -g www -m 0700 /var/db/certdrop/state/www
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/www" "$r/var/db/certdrop/keys" "$r/var/db/certdrop/pub" "$r/var/db/certdrop/outbox"
user "$r" www 805 805
install -m 0644 "$out/fstab.www" /etc/fstab.certdrop-www
install -o root -g wheel -m 0600 "$out/crontab.www" "$r/var/cron/tabs/www"
install -d "$r/etc/rc.conf.d"
[ -x "$r/usr/local/etc/rc.d/certdrop_trigger" ] || { echo "install.sh: $r has no /usr/local/etc/rc.d/certdrop_trigger (pkg -j www install certdrop)" >&2; exit 1; }
install -m 0644 "$out/rc.conf.www" "$r/etc/rc.conf.d/certdrop_trigger"
rm -f "$r/etc/rc.conf.d/certdrop_zone"
rm -f "$r/etc/rc.conf.d/certdrop_publish"
install -d "$r/usr/local/etc/rc.d"
install -m 0555 "$out/rc.d.www" "$r/usr/local/etc/rc.d/certdrop_jail"
install -m 0644 "$out/rc.conf.www" "$r/etc/rc.conf.d/certdrop_jail"

install -d /etc/jail.conf.d
install -m 0644 "$out/jail.conf" /etc/jail.conf.d/certdrop-site3.conf
grep -q '^jail_enable="YES"' /etc/rc.conf 2>/dev/null || sysrc jail_enable=YES >/dev/null
for j in dns publish www; do sysrc jail_list+="$j" >/dev/null; done
echo "install.sh: site site3 installed; start it with: service jail start dns publish www"
