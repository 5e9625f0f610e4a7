#!/bin/sh
# Site '{{ site.name }}' on a FreeBSD host: rendered by certdrop-jails from
# {{ source }}. Run as root after each render; idempotent. It creates the
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
{% for jail in site.jails %}
user / {{ jail.user }} {{ jail.uid }} {{ jail.gid }}
{%- endfor %}

install -d -o root -g wheel -m 0755 {{ site.data }} {{ site.data }}/state {{ site.config }}
{%- for d in dirs %}
install -d -o {{ d.user }} -g {{ d.user }} -m {{ d.mode }} {{ d.path }}	# {{ d.mounted | join(sep=" ") }}
{%- endfor %}
{% for jail in site.jails %}
# {{ jail.name }}: {{ jail.stages | join(sep=", ") }}
r={{ site.jail_root }}/{{ jail.name }}
[ -x "$r/bin/sh" ] || { echo "install.sh: $r has no base system (bsdinstall jail $r)" >&2; exit 1; }
install -d -o {{ jail.user }} -g {{ jail.state_group }} -m {{ jail.state_mode }} {{ jail.state }}{% if jail.state_group != jail.user %}	# its state files readable by {{ jail.state_group }} (the monitor){% endif %}
install -d -m 0755 "$r{{ site.config }}" "$r{{ jail.state }}"{% for s in jail.reads_state %} "$r{{ site.data }}/state/{{ s }}"{% endfor %}{% for m in jail.mounts %} "$r{{ site.data }}/{{ m.dir }}"{% endfor %}{% for k in jail.keys %} "$r{{ site.data }}/keys/{{ k }}"{% endfor %}
{%- if issuer %}{% for k in jail.keys %}
install -d -o {{ issuer.user }} -g {{ jail.user }} -m 0750 {{ site.data }}/keys/{{ k }}	# key of line {{ k }}, granted to this jail
{%- endfor %}
{%- if jail.keys %}
pw groupmod {{ jail.user }} -m {{ issuer.user }}	# the issuer may give files to this group
{%- endif %}{% endif %}
user "$r" {{ jail.user }} {{ jail.uid }} {{ jail.gid }}
{%- if jail.groups %}
{%- for g in site.jails %}{% if g.keys %}
# the issuer hands the key of line(s) {{ g.keys | join(sep=", ") }} to jail {{ g.name }}'s group
pw -R "$r" groupshow {{ g.user }} >/dev/null 2>&1 || pw -R "$r" groupadd {{ g.user }} -g {{ g.gid }}
pw -R "$r" groupmod {{ g.user }} -m {{ jail.user }}
{%- endif %}{% endfor %}
{%- endif %}
install -m 0644 "$out/fstab.{{ jail.name }}" /etc/fstab.certdrop-{{ jail.name }}
install -o root -g wheel -m 0600 "$out/crontab.{{ jail.name }}" "$r/var/cron/tabs/{{ jail.user }}"
{%- set names = jail.services | map(attribute="name") %}
{%- if jail.services or jail.others %}
install -d "$r/etc/rc.conf.d"
{%- endif %}
{%- for s in jail.services %}
[ -x "$r/usr/local/etc/rc.d/{{ s.name }}" ] || { echo "install.sh: $r has no /usr/local/etc/rc.d/{{ s.name }} (pkg -j {{ jail.name }} install certdrop)" >&2; exit 1; }
install -m 0644 "$out/rc.conf.{{ jail.name }}" "$r/etc/rc.conf.d/{{ s.name }}"
{%- endfor %}
{%- for n in ["certdrop_zone", "certdrop_trigger", "certdrop_publish"] %}{% if not n in names %}
rm -f "$r/etc/rc.conf.d/{{ n }}"
{%- endif %}{% endfor %}
{%- if jail.others %}
install -d "$r/usr/local/etc/rc.d"
install -m 0555 "$out/rc.d.{{ jail.name }}" "$r/usr/local/etc/rc.d/certdrop_jail"
install -m 0644 "$out/rc.conf.{{ jail.name }}" "$r/etc/rc.conf.d/certdrop_jail"
{%- else %}
rm -f "$r/usr/local/etc/rc.d/certdrop_jail" "$r/etc/rc.conf.d/certdrop_jail"
{%- endif %}
{% endfor %}
install -d /etc/jail.conf.d
install -m 0644 "$out/jail.conf" /etc/jail.conf.d/certdrop-{{ site.name }}.conf
grep -q '^jail_enable="YES"' /etc/rc.conf 2>/dev/null || sysrc jail_enable=YES >/dev/null
for j in{% for jail in site.jails %} {{ jail.name }}{% endfor %}; do sysrc jail_list+="$j" >/dev/null; done
echo "install.sh: site {{ site.name }} installed; start it with: service jail start{% for jail in site.jails %} {{ jail.name }}{% endfor %}"
