#!/bin/sh
# Site 'sign' on a FreeBSD host: rendered by certdrop-jails from
# cluster.toml.sample. Takes the configuration repository's HEAD live, but only when
# the site passes `certdrop-jails check` and every jail's own checks pass,
# run in that jail against the new release; production stays on the last
# good release otherwise. Then renders and installs the site again and
# restarts the jails that run daemons. Run as root from the host's cron.
#
#   /usr/local/etc/certdrop/releases/<commit>/   one checkout per commit
#   /usr/local/etc/certdrop/current -> releases/<commit>   switched by one rename
set -u
repo='https://git.example.org/dns-config.git'
config=/usr/local/etc/certdrop
here=$(cd "$(dirname "$0")" && pwd)
[ -n "$repo" ] || { echo "update.sh: the site names no repo" >&2; exit 78; }
head=$(git ls-remote "$repo" HEAD 2>/dev/null | cut -f1)
[ -n "$head" ] || { echo "update.sh: $repo: cannot read HEAD" >&2; exit 69; }
cur=$(readlink "$config/current" 2>/dev/null || true)
[ "$cur" = "releases/$head" ] && exit 2
short=$(echo "$head" | cut -c1-12)
rel="$config/releases/$head"
if [ ! -d "$rel" ]; then
    tmp="$config/releases/.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$config/releases"
    git -c advice.detachedHead=false clone -q "$repo" "$tmp" &&
        git -C "$tmp" checkout -q "$head" && rm -rf "$tmp/.git" && chmod -R a+rX "$tmp" &&
        mv "$tmp" "$rel" || { rm -rf "$tmp"; echo "update.sh: $repo: cannot check out $short" >&2; exit 73; }
fi
CERTDROP_RELEASE=$rel
export CERTDROP_RELEASE
bad=0
verdict() { # verdict EXIT OUTPUT: a configuration error (78) or usage error
    # (64) refuses the release, with the check's own messages. The data a
    # new release meets (no certificate yet, a certificate that lacks a name
    # the commit adds) is the pipeline's business, not a reason to refuse.
    case $1 in 64|70|78) bad=1; [ -z "$2" ] || printf '%s\n' "$2" >&2 ;; esac
}
said=$(/usr/local/bin/certdrop-jails check "$rel/site.toml" 2>&1 >/dev/null); verdict $? "$said"
said=$(jexec -U certdrop-issue acme env CERTDROP_RELEASE="$rel" /bin/sh -c 'certdrop-issue -c "$CERTDROP_RELEASE"/issue.toml -n' 2>&1 >/dev/null); verdict $? "$said"
said=$(jexec -U certdrop-zone dns env CERTDROP_RELEASE="$rel" /bin/sh -c 'certdrop-zone -c "$CERTDROP_RELEASE"/zone.toml -n' 2>&1 >/dev/null); verdict $? "$said"
said=$(jexec -U certdrop-publish publish env CERTDROP_RELEASE="$rel" /bin/sh -c 'certdrop-publish -c "$CERTDROP_RELEASE"/publish.toml -n' 2>&1 >/dev/null); verdict $? "$said"
was=${cur#releases/}
[ -n "$was" ] && was="commit $(echo "$was" | cut -c1-12)" || was="no release"
if [ $bad -ne 0 ]; then
    echo "update.sh: commit $short refused; still on $was" >&2
    exit 78
fi
ln -sfn "releases/$head" "$config/.current.new" && mv -hf "$config/.current.new" "$config/current" || exit 73
echo "update.sh: now on commit $short"
/usr/local/bin/certdrop-jails render "$config/current/site.toml" -o "$here" >/dev/null
[ $? -le 2 ] || exit 78
sh "$here/install.sh" >/dev/null
service jail restart dns publish >/dev/null
