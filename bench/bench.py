"""certdrop benchmark: certdrop-issue against Debian's ACME clients, side by side.

Everything runs on loopback against a throwaway Pebble (Debian's package) with
PEBBLE_VA_ALWAYS_VALID=1, so no challenge is really fetched and what is
measured is each client's own cost: start-up, protocol round trips, its
polling pauses, key generation, writing its store.

Scenarios
  a    one certificate, 1 name
  b    one certificate, 12 names
  c    30 certificates of 1 name: certdrop-issue in one `run` (concurrency
       1, 4, 8 = default, 16) and as 30 separate `issue` calls; each peer issuing
       the same 30 one after another

Each measured command runs under GNU time (`/usr/bin/time -f '%e %M'`) for
its peak RSS (for a loop of commands: the largest single process); the wall
time is taken around it with a monotonic clock (GNU time's %e reads the
wall clock, which this VM steps now and then, and has 10 ms resolution).
Every run starts from a fresh, empty store; each client's ACME account is
created once beforehand (by a warm-up issuance that is not counted) and
copied into each run's store. Runs are interleaved (rep 1 of every tool,
then rep 2, ...) so load drift hits every tool alike; the table shows medians.

Usage: bench/run [--runs N] [--runs-slow N] [--peers lego,certbot,dehydrated,uacme]
                 [--runs-30 N] [--scenarios a,b,c] [--no-build | --committed]
                 [--keep] [--out FILE]
See bench/README.md.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
PEERS = ["lego", "certbot", "dehydrated", "uacme"]
DEB_PACKAGES = ["pebble", "lego", "certbot", "dehydrated", "uacme", "time"]
CA_ENV = [
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "NIX_SSL_CERT_FILE", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "HTTPLIB2_CA_CERTS",
    "NODE_EXTRA_CA_CERTS", "PIP_CERT", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
    "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", "LEGO_CA_CERTIFICATES", "LEGO_PATH",
    "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
    "CERTDROP_ISSUE_CONFIG",
]
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CMD_TIMEOUT = 400  # seconds, any one measured command (a 30-cert loop of a slow peer)

started = []  # Popen objects of long-lived helpers we started (own process groups)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def start(cmd, logfile, env=None):
    p = subprocess.Popen(cmd, stdout=open(logfile, "w"), stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    started.append(p)
    return p


def stop_all():
    for p in reversed(started):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    for p in reversed(started):
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    started.clear()


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def version_of(pkg):
    try:
        return sh(["dpkg-query", "-W", "-f", "${Version}", pkg]).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "?"


class Bench:
    def __init__(self, args, work):
        self.args = args
        self.W = work
        self.ca = work / "ca.pem"
        self.bin = Path(os.environ.get("CERTDROP_ISSUE", TOP / "target/release/certdrop-issue"))
        self.env = {k: v for k, v in os.environ.items() if k not in CA_ENV}
        self.env["NO_PROXY"] = self.env["no_proxy"] = "127.0.0.1,localhost"
        self.tpl = {}        # tool -> template dir holding its account
        self.skipped = {}    # tool -> why
        self.results = []    # dicts: scenario, tool, wall, gnu_wall, rss_kib
        self.failures = []
        self.ns_pid = None
        self.seq = 0

    # ---------------------------------------------------------------- setup
    def pebble(self):
        W = self.W
        ossl = lambda *a: sh(["openssl", *a], cwd=W)
        ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-days", "2", "-subj", "/CN=certdrop-bench-ca", "-keyout", "ca.key", "-out", "ca.pem")
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-subj", "/CN=localhost", "-keyout", "pebble.key", "-out", "pebble.csr")
        (W / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        ossl("x509", "-req", "-in", "pebble.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "pebble.pem")
        acme, mgmt, dns, cts, http, tls = free_ports(6)
        (W / "pebble.json").write_text(
            '{"pebble": {"listenAddress": "127.0.0.1:%d", "managementListenAddress": "127.0.0.1:%d",'
            ' "certificate": "%s", "privateKey": "%s", "httpPort": %d, "tlsPort": %d,'
            ' "ocspResponderURL": "", "externalAccountBindingRequired": false}}\n'
            % (acme, mgmt, W / "pebble.pem", W / "pebble.key", http, tls))
        start(["pebble-challtestsrv", "-dns01", f"127.0.0.1:{dns}", "-management",
               f"127.0.0.1:{cts}", "-http01", "", "-https01", "", "-tlsalpn01", "",
               "-defaultIPv6", ""], W / "challtestsrv.log", self.env)
        penv = dict(self.env, PEBBLE_VA_ALWAYS_VALID="1", PEBBLE_VA_NOSLEEP="1",
                    PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="0")
        start(["pebble", "-config", str(W / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns}"],
              W / "pebble.log", penv)
        self.url = f"https://127.0.0.1:{acme}/dir"
        for _ in range(100):
            r = subprocess.run(["curl", "-sf", "--cacert", str(self.ca), self.url],
                               capture_output=True, env=self.env)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise SystemExit("bench: Pebble did not come up; see " + str(W / "pebble.log"))
        log(f"bench: Pebble at {self.url}")

    def uacme_namespace(self):
        """uacme has no CA option and reads the system bundle: give it a private
        mount namespace in which our throwaway CA is bind-mounted over that
        bundle. Nothing outside the namespace changes; it dies with its holder."""
        p = start(["unshare", "-m", "--propagation", "private", "sh", "-c",
                   f'mount --bind "{self.ca}" {SYSTEM_BUNDLE} && exec sleep 100000'],
                  self.W / "ns.log", self.env)
        want = self.ca.read_text()
        for _ in range(50):
            if p.poll() is not None:
                break
            r = subprocess.run(["nsenter", "-t", str(p.pid), "-m", "cat", SYSTEM_BUNDLE],
                               capture_output=True, text=True)
            if r.returncode == 0 and r.stdout == want:
                self.ns_pid = p.pid
                return True
            time.sleep(0.1)
        self.skipped["uacme"] = ("cannot make a private mount namespace for its trust "
                                 "(unshare -m): " + (self.W / "ns.log").read_text().strip())
        return False

    # ---------------------------------------------------- per-tool commands
    # Each returns (argv, env) for one issuance of `names` (one certificate)
    # in store directory d, which holds (a copy of) the tool's account.

    def certdrop_config(self, d, lines, concurrency=8):
        (d / "webroot").mkdir(parents=True, exist_ok=True)
        text = (f'directory = "{self.url}"\ncontact = ["mailto:bench@example.test"]\n'
                f'agree_terms = true\naccount = "state/account.json"\nca_bundle = "{self.ca}"\n'
                '[store]\ncerts = "certs"\nkeys = "keys"\narchive = "archive"\nstate = "state"\n'
                '[drop]\nwebroot = "webroot"\n'
                f'[renew]\nconcurrency = {concurrency}\n')
        for name, domains in lines:
            text += ('[[line]]\nname = "%s"\ndomains = [%s]\nchallenge = "http-01"\n'
                     % (name, ", ".join(f'"{x}"' for x in domains)))
        (d / "issue.toml").write_text(text)

    def cmd_certdrop(self, d, names):
        self.certdrop_config(d, [("l01", names)])
        return [str(self.bin), "-c", str(d / "issue.toml"), "run"], self.env

    def cmd_lego(self, d, names):
        (d / "web").mkdir(exist_ok=True)
        argv = ["lego", "--server", self.url, "--accept-tos", "--email", "bench@example.test",
                "--path", str(d / "data"), "--key-type", "ec256", "--http",
                "--http.webroot", str(d / "web")]
        for n in names:
            argv += ["-d", n]
        return argv + ["run"], dict(self.env, LEGO_CA_CERTIFICATES=str(self.ca))

    def cmd_certbot(self, d, names):
        (d / "web").mkdir(exist_ok=True)
        argv = ["certbot", "certonly", "--server", self.url, "--webroot", "-w", str(d / "web"),
                "--config-dir", str(d / "cfg"), "--work-dir", str(d / "work"),
                "--logs-dir", str(d / "logs"), "--agree-tos", "-m", "bench@example.test",
                "--no-eff-email", "--non-interactive", "--key-type", "ecdsa",
                "--elliptic-curve", "secp256r1", "--cert-name", names[0]]
        for n in names:
            argv += ["-d", n]
        return argv, dict(self.env, REQUESTS_CA_BUNDLE=str(self.ca))

    def dehydrated_config(self, d):
        (d / "web").mkdir(exist_ok=True)
        (d / "base").mkdir(exist_ok=True)
        (d / "config").write_text(
            f'CA="{self.url}"\nWELLKNOWN="{d}/web"\nBASEDIR="{d}/base"\n'
            f'DOMAINS_TXT="{d}/domains.txt"\nCONTACT_EMAIL="bench@example.test"\n'
            f'KEY_ALGO=prime256v1\nCURL_OPTS="--cacert {self.ca}"\n')

    def cmd_dehydrated(self, d, names):
        self.dehydrated_config(d)
        argv = ["dehydrated", "-f", str(d / "config"), "-c"]
        for n in names:
            argv += ["-d", n]
        return argv, self.env

    def uacme_hook(self):
        hook = self.W / "uacme-hook"
        if not hook.exists():
            hook.write_text(
                "#!/bin/sh\n# uacme hook: $1 begin|done|failed, $2 type, $3 ident, $4 token, $5 key auth\n"
                '[ "$2" = http-01 ] || exit 1\n'
                'case $1 in\nbegin) printf %s "$5" > "$UACME_WEBROOT/$4" ;;\n'
                '*) rm -f "$UACME_WEBROOT/$4" ;;\nesac\n')
            hook.chmod(0o755)
        return hook

    def cmd_uacme(self, d, names):
        (d / "web").mkdir(exist_ok=True)
        argv = ["nsenter", "-t", str(self.ns_pid), "-m", "uacme", "-c", str(d / "conf"),
                "-a", self.url, "-t", "EC", "-o", "-h", str(self.uacme_hook()), "issue", *names]
        return argv, dict(self.env, UACME_WEBROOT=str(d / "web"))

    # where each tool keeps its account, relative to its store dir
    ACCOUNT = {"certdrop-issue": "state/account.json", "lego": "data/accounts", "certbot": "cfg/accounts",
               "dehydrated": "base/accounts", "uacme": "conf/private"}

    def cmd(self, tool, d, names):
        return getattr(self, "cmd_" + tool.replace("-issue", "").replace("-", "_"))(d, names)

    def count_certs(self, tool, d):
        pats = {"certdrop-issue": "certs/*/cert.pem", "lego": "data/certificates/*.issuer.crt",
                "certbot": "cfg/live/*/cert.pem", "dehydrated": "base/certs/*/cert.pem",
                "uacme": "conf/*/cert.pem"}
        return [p for p in d.glob(pats[tool]) if not p.parent.name.startswith(".")]

    def names_in(self, tool, certfile):
        if tool == "lego":
            certfile = Path(str(certfile).replace(".issuer.crt", ".crt"))
        out = sh(["openssl", "x509", "-in", str(certfile), "-noout", "-ext", "subjectAltName"]).stdout
        return out.count("DNS:")

    # ------------------------------------------------------------ accounts
    def fresh(self, tool, label):
        self.seq += 1
        d = self.W / "runs" / f"{self.seq:04d}-{label}"
        d.mkdir(parents=True)
        acct = self.ACCOUNT[tool]
        src = self.tpl[tool] / acct
        if src.is_dir():
            shutil.copytree(src, d / acct, symlinks=True)
        else:
            (d / acct).parent.mkdir(parents=True)
            shutil.copy2(src, d / acct)
        return d

    def make_account(self, tool):
        """Create the tool's account once (warm-up issuance, not counted)."""
        d = self.W / "accounts" / tool
        d.mkdir(parents=True)
        if tool == "certdrop-issue":
            argv, env = self.cmd_certdrop(d, ["warmup.certdrop.example.test"])
            pre = []
        elif tool == "dehydrated":
            self.dehydrated_config(d)
            pre = [["dehydrated", "-f", str(d / "config"), "--register", "--accept-terms"]]
            argv, env = self.cmd_dehydrated(d, ["warmup.dehydrated.example.test"])
        elif tool == "uacme":
            pre = [["nsenter", "-t", str(self.ns_pid), "-m", "uacme", "-c", str(d / "conf"),
                    "-a", self.url, "-t", "EC", "-y", "new", "bench@example.test"]]
            argv, env = self.cmd_uacme(d, ["warmup.uacme.example.test"])
        else:
            pre = []
            argv, env = self.cmd(tool, d, [f"warmup.{tool}.example.test"])
        for c in pre + [argv]:
            r = subprocess.run(c, cwd=d, env=env, capture_output=True, text=True,
                               timeout=120, stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                why = (r.stderr or r.stdout).strip().splitlines()[-3:]
                self.skipped[tool] = f"account/warm-up failed (exit {r.returncode}): " + " | ".join(why)
                return False
        if not (d / self.ACCOUNT[tool]).exists() or not self.count_certs(tool, d):
            self.skipped[tool] = "warm-up left no account or certificate"
            return False
        if tool == "uacme":  # keep only the account key in the template
            for p in (d / "conf/private").iterdir():
                if p.is_dir():
                    shutil.rmtree(p)
        self.tpl[tool] = d
        return True

    # ----------------------------------------------------------- measuring
    def measure(self, scenario, label, tool, argv, env, d, expect_certs, expect_names=None):
        tf = d / "gnu-time.txt"
        full = ["/usr/bin/time", "-f", "%e %M", "-o", str(tf)] + argv
        if argv[:1] == ["nsenter"]:  # time inside the namespace, around uacme itself
            i = argv.index("-m") + 1
            full = argv[:i] + ["/usr/bin/time", "-f", "%e %M", "-o", str(tf)] + argv[i:]
        with open(d / "out.log", "w") as out:
            t0 = time.monotonic()
            p = subprocess.Popen(full, cwd=d, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
            started.append(p)  # so an interrupt stops it too
            try:
                rc = p.wait(timeout=CMD_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                rc = "timeout"
            wall = time.monotonic() - t0
            started.remove(p)
        got = self.count_certs(tool, d)
        ok = rc == 0 and len(got) == expect_certs
        if ok and expect_names:
            n = self.names_in(tool, got[0])
            ok = n == expect_names
            if not ok:
                rc = f"{n} names in certificate"
        if not ok:
            tail = (d / "out.log").read_text(errors="replace").strip().splitlines()[-2:]
            self.failures.append(f"{scenario} {label}: exit {rc}, {len(got)}/{expect_certs} "
                                 f"certificates ({d}): " + " | ".join(tail))
            log(f"  {scenario:2} {label:34} FAILED (exit {rc}, {len(got)}/{expect_certs})")
            return
        gnu = tf.read_text().split()
        gnu_wall, rss = float(gnu[-2]), int(gnu[-1])
        self.results.append(dict(scenario=scenario, tool=label, wall=wall, gnu_wall=gnu_wall,
                                 rss=rss))
        log(f"  {scenario:2} {label:34} {wall:7.2f} s {rss / 1024:7.1f} MiB")
        if not self.args.keep:
            shutil.rmtree(d, ignore_errors=True)

    def loop_script(self, d, cmds, env_extra=None):
        lines = ["set -e"] + [" ".join(shq(a) for a in c) + " >/dev/null 2>&1" for c in cmds]
        (d / "loop.sh").write_text("\n".join(lines) + "\n")
        return ["sh", str(d / "loop.sh")]

    def one(self, scenario, tool, names, expect_names=None):
        d = self.fresh(tool, f"{scenario}-{tool}")
        argv, env = self.cmd(tool, d, names)
        self.measure(scenario, tool, tool, argv, env, d, 1, expect_names)

    def thirty_certdrop(self, label, concurrency, separate=False):
        d = self.fresh("certdrop-issue", "c-" + label.replace(" ", "_").replace("`", ""))
        lines = [(f"l{i:02d}", [f"n{i:02d}.c.certdrop.example.test"]) for i in range(1, 31)]
        self.certdrop_config(d, lines, concurrency)
        conf = str(d / "issue.toml")
        if separate:
            argv = self.loop_script(d, [[str(self.bin), "-c", conf, "issue", n] for n, _ in lines])
        else:
            argv = [str(self.bin), "-c", conf, "run"]
        self.measure("c", label, "certdrop-issue", argv, self.env, d, 30)

    def thirty_peer(self, tool):
        d = self.fresh(tool, f"c-{tool}")
        names = [f"n{i:02d}.c.{tool}.example.test" for i in range(1, 31)]
        if tool == "dehydrated":  # its own batch mode: one cron run over domains.txt
            argv, env = self.cmd_dehydrated(d, [])
            (d / "domains.txt").write_text("\n".join(names) + "\n")
            label = "dehydrated (domains.txt, 1 call)"
        else:
            cmds = []
            for n in names:
                a, env = self.cmd(tool, d, [n])
                cmds.append(a[4:] if tool == "uacme" else a)  # loop runs inside the namespace
            argv = self.loop_script(d, cmds)
            if tool == "uacme":
                argv = ["nsenter", "-t", str(self.ns_pid), "-m"] + argv
            label = f"{tool} (30 calls)"
        self.measure("c", label, tool, argv, env, d, 30)


def shq(s):
    s = str(s)
    return s if re.fullmatch(r"[\w@%+=:,./-]+", s) else "'" + s.replace("'", "'\\''") + "'"


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def report(b, versions, meta, out_md):
    rows = []
    order = {"a": "a: 1 cert, 1 name", "b": "b: 1 cert, 12 names", "c": "c: 30 certs, 1 name each"}
    ref_label = {"a": "certdrop-issue", "b": "certdrop-issue", "c": "certdrop-issue run, concurrency 8"}
    med = {}
    for r in b.results:
        med.setdefault((r["scenario"], r["tool"]), []).append(r)
    for (sc, tool), rs in med.items():
        med[(sc, tool)] = dict(n=len(rs), wall=median([r["wall"] for r in rs]),
                               rss=median([r["rss"] for r in rs]) / 1024,
                               rss_max=max(r["rss"] for r in rs) / 1024,
                               spread=(min(r["wall"] for r in rs), max(r["wall"] for r in rs)))
    for sc in "abc":
        ref = med.get((sc, ref_label[sc]))
        for (s, tool), m in med.items():
            if s != sc:
                continue
            ratio = m["wall"] / ref["wall"] if ref else float("nan")
            rratio = m["rss"] / ref["rss"] if ref else float("nan")
            rows.append((order[sc], tool, m["n"], m["wall"], m["spread"], m["rss"], ratio, rratio))

    hdr = ("scenario", "tool", "runs", "median wall s", "min-max s", "median peak RSS MiB",
           "wall vs certdrop", "RSS vs certdrop")
    txt = [hdr] + [(a, t, str(n), f"{w:.3f}", f"{lo:.2f}-{hi:.2f}", f"{r:.1f}", f"{x:.2f}x", f"{y:.2f}x")
                   for a, t, n, w, (lo, hi), r, x, y in rows]
    widths = [max(len(r[i]) for r in txt) for i in range(len(hdr))]
    for r in txt:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)))

    # targets
    targets = []
    cd_rss = [r["rss"] / 1024 for r in b.results if r["tool"].startswith("certdrop-issue")]
    if cd_rss:
        worst = max(cd_rss)
        targets.append(("certdrop-issue peak RSS <= 12 MiB",
                        "met" if worst <= 12 else "MISSED",
                        f"largest peak RSS over all {len(cd_rss)} certdrop runs: {worst:.1f} MiB"))
    c1 = med.get(("c", "certdrop-issue run, concurrency 1"))
    sep = med.get(("c", "certdrop-issue, 30 separate `issue` calls"))
    for label in ("certdrop-issue run, concurrency 4", "certdrop-issue run, concurrency 8", "certdrop-issue run, concurrency 16"):
        m = med.get(("c", label))
        for what, base in (("the same run at concurrency 1", c1),
                           ("30 separate `issue` calls", sep)):
            if m and base:
                x = base["wall"] / m["wall"]
                targets.append((f"30 certs in one run ({label.split(', ')[1]}) >= 5x faster "
                                f"than {what}", "met" if x >= 5 else "MISSED",
                                f"{base['wall']:.2f} s / {m['wall']:.2f} s = {x:.2f}x"))
    lego_name = {"a": "lego", "b": "lego", "c": "lego (30 calls)"}
    for sc in "abc":
        ref, lg = med.get((sc, ref_label[sc])), med.get((sc, lego_name[sc]))
        if ref and lg:
            targets.append((f"faster than lego, {order[sc]}",
                            "met" if ref["wall"] < lg["wall"] else "MISSED",
                            f"certdrop {ref['wall']:.3f} s vs lego {lg['wall']:.3f} s "
                            f"({lg['wall'] / ref['wall']:.2f}x)"))
    print()
    for t in targets:
        print(f"{t[1]:7} {t[0]}: {t[2]}")

    md = ["# certdrop benchmark results", "",
          f"Run {meta['date']} on {meta['host']} ({meta['cpus']} CPUs), "
          f"load average {meta['load0']} before, {meta['load1']} after; {meta['elapsed']:.0f} s in all.",
          f"certdrop {meta['certdrop']}.", "",
          "Wall time: monotonic clock around each command (median); peak RSS: GNU time `%M` "
          "(for a loop or a shell client: the largest single process). Ratios are tool / certdrop "
          "(for c: certdrop-issue run at the default concurrency 8); above 1 means certdrop is faster or smaller.", "",
          "| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    md += ["| " + " | ".join(r) + " |" for r in txt[1:]]
    md += ["", "## Targets", "", "| target | verdict | numbers |", "|---|---|---|"]
    md += [f"| {t[0]} | {t[1]} | {t[2]} |" for t in targets]
    md += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in versions.items()]
    if b.skipped:
        md += ["", "## Skipped", ""] + [f"- {k}: {v}" for k, v in b.skipped.items()]
    if b.failures:
        md += ["", "## Failed runs (not in the medians)", ""] + [f"- {f}" for f in b.failures]
    md += ["", "## Every run", "", "| scenario | tool | wall s | GNU time %e | peak RSS KiB |", "|---|---|---|---|---|"]
    md += [f"| {r['scenario']} | {r['tool']} | {r['wall']:.3f} | {r['gnu_wall']:.2f} | {r['rss']} |"
           for r in b.results]
    out_md.write_text("\n".join(md) + "\n")
    print(f"\nbench: wrote {out_md}")


def main():
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per tool and scenario (default 5)")
    ap.add_argument("--runs-slow", type=int, default=1,
                    help="runs of the 30-certificate scenario for certbot and dehydrated (default 1)")
    ap.add_argument("--runs-30", type=int, default=3,
                    help="runs of the 30-certificate scenario for lego and uacme (default 3)")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--scenarios", default="a,b,c")
    ap.add_argument("--no-build", action="store_true", help="use the certdrop-issue already built "
                    "(target/release, or $CERTDROP_ISSUE)")
    ap.add_argument("--committed", action="store_true",
                    help="build and measure git HEAD, not the work tree (own build dir under $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--out", default=str(TOP / "bench/results.md"))
    args = ap.parse_args()
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)
    t_start = time.monotonic()
    load0 = os.getloadavg()

    peers = [p for p in args.peers.split(",") if p]
    scenarios = args.scenarios.split(",")
    missing = [p for p in ["pebble", "pebble-challtestsrv", "/usr/bin/time", "openssl", "curl"] + peers
               if not shutil.which(p)]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        log("bench: installing " + " ".join(DEB_PACKAGES))
        subprocess.run(["apt-get", "install", "-y", "-q", *DEB_PACKAGES],
                       stdout=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    work = Path(tempfile.mkdtemp(prefix="certdrop-bench."))
    b = Bench(args, work)
    for p in peers:
        if not shutil.which(p):
            b.skipped[p] = "not installed (apt-get install -y " + p + ")"
    peers = [p for p in peers if p not in b.skipped]
    try:
        if args.committed:
            # HEAD as committed, whatever the work tree holds: exported outside
            # the repository and built with its own target directory.
            src = Path(tempfile.gettempdir()) / "certdrop-bench-build"
            shutil.rmtree(src / "src", ignore_errors=True)
            (src / "src").mkdir(parents=True)
            archive = subprocess.Popen(["git", "-C", str(TOP), "archive", "HEAD"], stdout=subprocess.PIPE)
            subprocess.run(["tar", "-x", "-C", str(src / "src")], stdin=archive.stdout, check=True)
            if archive.wait() != 0:
                raise SystemExit("bench: git archive HEAD failed")
            log(f"bench: cargo build --release -p certdrop-issue (git HEAD, in {src})")
            subprocess.run(["cargo", "build", "--release", "--locked", "-p", "certdrop-issue"],
                           cwd=src / "src", check=True, env=dict(os.environ, CARGO_TARGET_DIR=str(src / "target")))
            b.bin = src / "target/release/certdrop-issue"
        elif not args.no_build:
            log("bench: cargo build --release -p certdrop-issue")
            subprocess.run(["cargo", "build", "--release", "-p", "certdrop-issue"], cwd=TOP, check=True)
        if not b.bin.is_file():
            raise SystemExit(f"bench: no {b.bin}")
        b.pebble()
        if "uacme" in peers and not b.uacme_namespace():
            peers.remove("uacme")
        log("bench: creating one account per client (warm-up issuance, not counted)")
        if not b.make_account("certdrop-issue"):
            raise SystemExit("bench: certdrop-issue warm-up failed: " + b.skipped["certdrop-issue"])
        peers = [p for p in peers if b.make_account(p)]
        for t, why in b.skipped.items():
            log(f"bench: skipping {t}: {why}")
        tools = ["certdrop-issue"] + peers

        if "a" in scenarios:
            log("bench: scenario a: one certificate, 1 name")
            for rep in range(args.runs):
                for t in tools:
                    b.one("a", t, [f"a.{t}.example.test"], 1)
        if "b" in scenarios:
            log("bench: scenario b: one certificate, 12 names")
            for rep in range(args.runs):
                for t in tools:
                    if t == "dehydrated" and rep >= min(args.runs, 3):
                        continue  # about 20 s a run: 3 runs are enough
                    b.one("b", t, [f"n{i:02d}.b.{t}.example.test" for i in range(1, 13)], 12)
        if "c" in scenarios:
            log("bench: scenario c: 30 certificates")
            slow = {"certbot": args.runs_slow, "dehydrated": args.runs_slow}
            for rep in range(args.runs):
                b.thirty_certdrop("certdrop-issue run, concurrency 1", 1)
                b.thirty_certdrop("certdrop-issue run, concurrency 4", 4)
                b.thirty_certdrop("certdrop-issue run, concurrency 8", 8)
                b.thirty_certdrop("certdrop-issue run, concurrency 16", 16)
                b.thirty_certdrop("certdrop-issue, 30 separate `issue` calls", 4, separate=True)
                for t in peers:
                    if rep < slow.get(t, args.runs_30):
                        b.thirty_peer(t)
    finally:
        stop_all()
        if args.keep:
            log(f"bench: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    try:
        cd_version = sh([str(b.bin), "--version"]).stdout.strip()
    except Exception:
        cd_version = "?"
    head = sh(["git", "-C", str(TOP), "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = sh(["git", "-C", str(TOP), "status", "--porcelain", "--", "bins", "core", "Cargo.lock"]).stdout.strip()
    if args.committed:
        source = f"git {head} as committed"
    elif args.no_build and "CERTDROP_ISSUE" in os.environ:
        source = f"binary {b.bin}"
    else:
        source = f"work tree at git {head}" + (
            ", with uncommitted changes under bins/ or core/" if dirty else "")
    versions = {"certdrop-issue": f"{cd_version} ({source})"}
    for pkg in ["lego", "certbot", "dehydrated", "uacme", "pebble", "time"]:
        versions[pkg] = "Debian " + version_of(pkg)
    meta = dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), host=socket.gethostname(),
                cpus=os.cpu_count(), load0=" ".join(f"{x:.2f}" for x in load0),
                load1=" ".join(f"{x:.2f}" for x in os.getloadavg()),
                elapsed=time.monotonic() - t_start, certdrop=versions["certdrop-issue"])
    print()
    report(b, versions, meta, Path(args.out))
    return 1 if b.failures else 0


if __name__ == "__main__":
    sys.exit(main())
