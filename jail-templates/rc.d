#!/bin/sh
# shellcheck disable=SC1091,SC2034
# (rc.subr(8) is sourced at run time and reads the variables set here.)
#
# PROVIDE: certdrop_jail
# REQUIRE: LOGIN
# BEFORE: certdrop_zone certdrop_trigger certdrop_publish
# KEYWORD: shutdown
#
# Jail '{{ jail.name }}' of site '{{ site.name }}': rendered by certdrop-jails from
# {{ source }}; edit the site, not this file. The jail's daemons other than
# certdrop's watch daemons, which have rc.d scripts of their own and start
# after these (certdrop-zone after nsd, certdrop-trigger after the service
# it deploys to). install.sh installs it in the jail as
# /usr/local/etc/rc.d/certdrop_jail and enables it (rc.conf.{{ jail.name }}).

. /etc/rc.subr

name=certdrop_jail
desc="the daemons of jail {{ jail.name }} of site {{ site.name }}"
rcvar=certdrop_jail_enable
start_cmd="${name}_start"
stop_cmd="${name}_stop"
status_cmd="${name}_status"
extra_commands="status"

load_rc_config $name

: "${certdrop_jail_enable:=NO}"

# Their pid files, last started first: the daemon's own (pidfile in the
# site), or that of daemon(8), which keeps one in the background.
pidfiles="{% for d in jail.others | reverse %}{% if not loop.first %} {% endif %}{% if d.pidfile %}{{ d.pidfile }}{% else %}/var/run/certdrop-{{ d.index }}.pid{% endif %}{% endfor %}"

certdrop_jail_start()
{
	echo "Starting ${name}."
	PATH={{ site.bindir }}:/usr/local/sbin:/usr/bin:/bin:/usr/sbin:/sbin
	export PATH
{%- for d in jail.others %}
{%- if d.pidfile %}
	su -m {{ jail.user }} -c {{ d.run | sq }}
{%- else %}
	/usr/sbin/daemon -f -S -T {{ jail.name }}-{{ d.index }} -u {{ jail.user }} -P /var/run/certdrop-{{ d.index }}.pid {{ d.run }}
{%- endif %}
{%- endfor %}
}

certdrop_jail_stop()
{
	echo "Stopping ${name}."
	for f in $pidfiles; do
		[ -r "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	return 0
}

certdrop_jail_status()
{
	down=0
	for f in $pidfiles; do
		if [ -r "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
			echo "${name}: running as pid $(cat "$f") ($f)."
		else
			echo "${name}: not running ($f)."
			down=1
		fi
	done
	return $down
}

run_rc_command "$1"
