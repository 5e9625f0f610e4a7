#!/bin/sh
# Site 'example' on a FreeBSD host: rendered by certdrop-jails from
# site.toml. Run as root after each render; idempotent. It creates the
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
user / certdrop-phonehome 804 804
user / www 805 805
user / certdrop-check 806 806

install -d -o root -g wheel -m 0755 /var/db/certdrop /var/db/certdrop/state /usr/local/etc/certdrop
install -d -o certdrop-issue -g certdrop-issue -m 0755 /var/db/certdrop/dnsextra	# acme:rw dns:ro
install -d -o certdrop-issue -g certdrop-issue -m 0755 /var/db/certdrop/webroot	# acme:rw www:ro
install -d -o certdrop-issue -g certdrop-issue -m 0755 /var/db/certdrop/certs	# acme:rw dns:ro publish:ro monitor:ro
install -d -o certdrop-issue -g certdrop-issue -m 0700 /var/db/certdrop/keys	# acme:rw
install -d -o certdrop-issue -g certdrop-issue -m 0700 /var/db/certdrop/archive	# acme:rw
install -d -o certdrop-publish -g certdrop-publish -m 0755 /var/db/certdrop/pub	# publish:rw www:ro monitor:ro
install -d -o certdrop-phonehome -g certdrop-phonehome -m 0755 /var/db/certdrop/phonehome	# dns:ro phonehome:rw

# acme: issue
r=/usr/jails/acme
[ -x "$r/bin/sh" ] || { echo "install.sh: $r has no base system (bsdinstall jail $r)" >&2; exit 1; }
install -d -o certdrop-issue -g certdrop-check -m 2750 /var/db/certdrop/state/acme	# its state files readable by certdrop-check (the monitor)
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/acme" "$r/var/db/certdrop/dnsextra" "$r/var/db/certdrop/webroot" "$r/var/db/certdrop/certs" "$r/var/db/certdrop/keys" "$r/var/db/certdrop/archive"
user "$r" certdrop-issue 801 801
# the issuer hands the key of line(s) www to jail www's group
pw -R "$r" groupshow www >/dev/null 2>&1 || pw -R "$r" groupadd www -g 805
pw -R "$r" groupmod www -m certdrop-issue
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
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/dns" "$r/var/db/certdrop/dnsextra" "$r/var/db/certdrop/certs" "$r/var/db/certdrop/phonehome"
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
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/publish" "$r/var/db/certdrop/certs" "$r/var/db/certdrop/pub"
user "$r" certdrop-publish 803 803
install -m 0644 "$out/fstab.publish" /etc/fstab.certdrop-publish
install -o root -g wheel -m 0600 "$out/crontab.publish" "$r/var/cron/tabs/certdrop-publish"
rm -f "$r/etc/rc.conf.d/certdrop_zone"
rm -f "$r/etc/rc.conf.d/certdrop_trigger"
rm -f "$r/etc/rc.conf.d/certdrop_publish"
rm -f "$r/usr/local/etc/rc.d/certdrop_jail" "$r/etc/rc.conf.d/certdrop_jail"

# phonehome: collect
r=/usr/jails/phonehome
[ -x "$r/bin/sh" ] || { echo "install.sh: $r has no base system (bsdinstall jail $r)" >&2; exit 1; }
install -d -o certdrop-phonehome -g certdrop-phonehome -m 0700 /var/db/certdrop/state/phonehome
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/phonehome" "$r/var/db/certdrop/phonehome"
user "$r" certdrop-phonehome 804 804
install -m 0644 "$out/fstab.phonehome" /etc/fstab.certdrop-phonehome
install -o root -g wheel -m 0600 "$out/crontab.phonehome" "$r/var/cron/tabs/certdrop-phonehome"
rm -f "$r/etc/rc.conf.d/certdrop_zone"
rm -f "$r/etc/rc.conf.d/certdrop_trigger"
rm -f "$r/etc/rc.conf.d/certdrop_publish"
rm -f "$r/usr/local/etc/rc.d/certdrop_jail" "$r/etc/rc.conf.d/certdrop_jail"

# www: web, trigger
r=/usr/jails/www
[ -x "$r/bin/sh" ] || { echo "install.sh: $r has no base system (bsdinstall jail $r)" >&2; exit 1; }
install -d -o www -g www -m 0700 /var/db/certdrop/state/www
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/www" "$r/var/db/certdrop/webroot" "$r/var/db/certdrop/pub" "$r/var/db/certdrop/keys/www"
install -d -o certdrop-issue -g www -m 0750 /var/db/certdrop/keys/www	# key of line www, granted to this jail
pw groupmod www -m certdrop-issue	# the issuer may give files to this group
user "$r" www 805 805
install -m 0644 "$out/fstab.www" /etc/fstab.certdrop-www
install -o root -g wheel -m 0600 "$out/crontab.www" "$r/var/cron/tabs/www"
install -d "$r/etc/rc.conf.d"
rm -f "$r/etc/rc.conf.d/certdrop_zone"
rm -f "$r/etc/rc.conf.d/certdrop_trigger"
rm -f "$r/etc/rc.conf.d/certdrop_publish"
install -d "$r/usr/local/etc/rc.d"
install -m 0555 "$out/rc.d.www" "$r/usr/local/etc/rc.d/certdrop_jail"
install -m 0644 "$out/rc.conf.www" "$r/etc/rc.conf.d/certdrop_jail"

# monitor: check
r=/usr/jails/monitor
[ -x "$r/bin/sh" ] || { echo "install.sh: $r has no base system (bsdinstall jail $r)" >&2; exit 1; }
install -d -o certdrop-check -g certdrop-check -m 0700 /var/db/certdrop/state/monitor
install -d -m 0755 "$r/usr/local/etc/certdrop" "$r/var/db/certdrop/state/monitor" "$r/var/db/certdrop/state/acme" "$r/var/db/certdrop/certs" "$r/var/db/certdrop/pub"
user "$r" certdrop-check 806 806
install -m 0644 "$out/fstab.monitor" /etc/fstab.certdrop-monitor
install -o root -g wheel -m 0600 "$out/crontab.monitor" "$r/var/cron/tabs/certdrop-check"
rm -f "$r/etc/rc.conf.d/certdrop_zone"
rm -f "$r/etc/rc.conf.d/certdrop_trigger"
rm -f "$r/etc/rc.conf.d/certdrop_publish"
rm -f "$r/usr/local/etc/rc.d/certdrop_jail" "$r/etc/rc.conf.d/certdrop_jail"

install -d /etc/jail.conf.d
install -m 0644 "$out/jail.conf" /etc/jail.conf.d/certdrop-example.conf
grep -q '^jail_enable="YES"' /etc/rc.conf 2>/dev/null || sysrc jail_enable=YES >/dev/null
for j in acme dns publish phonehome www monitor; do sysrc jail_list+="$j" >/dev/null; done
echo "install.sh: site example installed; start it with: service jail start acme dns publish phonehome www monitor"
