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
  f    one certificate, 1 name, under faults: Pebble rejecting 50 % of nonces
       behind the test kit's fault proxy failing 20 % of requests, 20 runs,
       certdrop-issue, lego and certbot, against the same through a proxy
       that faults nothing (bench/faults.py; not in the default set)

Each measured command (one process, or one `sh` running a loop or a client's
script) runs as one process tree under GNU time (`/usr/bin/time -f '%e %M %U
%S'`) for its peak RSS (for a loop of commands: the largest single process).
The wall time is taken around it with a monotonic clock (GNU time's %e reads
the wall clock, which this VM steps now and then, and has 10 ms resolution).
CPU (user + sys) is the rusage that wait4() returns for that tree (every
waited-for descendant included, microsecond resolution, plus GNU time's own
< 1 ms); GNU time's %U %S, the same sum at 10 ms resolution, is recorded as a
cross-check. Every run starts from a fresh, empty store; each client's ACME
account is created once beforehand (by a warm-up issuance that is not
counted) and copied into each run's store. Runs are interleaved, and every
peer run is paired with a certdrop run made just before it (certdrop, lego,
certdrop, certbot, ... in each repetition), so the ratio certdrop/peer is the
median of per-pair ratios of runs adjacent in time.

Usage: bench/run [--runs N] [--runs-slow N] [--runs-30 N]
                 [--peers lego,certbot,dehydrated,uacme,acme-tiny]
                 [--scenarios a,b,c,f] [--no-build | --committed]
                 [--fault-runs N] [--fault-rate P] [--nonce-reject P] [--fault-seed N]
                 [--keep] [--out FILE]
See bench/README.md.

Outputs: FILE (default bench/results.md), the same name with .json
(bench/results.json) and, in a plots/ directory next to FILE,
issue-wall.svg and issue-cpu.svg (bench/plots/).

results.json (read by bench/report.py); times in seconds, RSS in KiB:
  meta:      date (UTC, "YYYY-MM-DD HH:MM UTC"), host, cpus,
             load_before, load_after ([1, 5, 15 min]), elapsed (s),
             versions {package: version}, options {runs, runs_30, runs_slow,
             peers, scenarios}, skipped {tool: why}, failures [text]
  scenarios: {"a" | "b" | "c": {
               title:     e.g. "a: 1 cert, 1 name",
               reference: "certdrop-issue" (the key certdrop/peer ratios use;
                          in c: one run at the default concurrency 8),
               tools: {key: {
                 label:   table label, e.g. "lego (30 calls)",
                 tool:    program (certdrop-issue, lego, ..., acme-tiny),
                 runs:    [{rep, pair, wall, cpu, user, sys, rss_kib,
                            gnu_wall, gnu_user, gnu_sys}]  (successful runs;
                          pair: the peer a certdrop run was paired with, or
                          null; rep: repetition, from 0),
                 failed:  number of failed runs,
                 median:  {wall, cpu, user, sys, rss_kib},
                 ratios:  {wall, cpu, rss, pairs}  (peers only: median over
                          repetitions of certdrop run / the peer run just
                          after it; below 1 = certdrop faster or smaller)}}}}
             keys: certdrop-issue, lego, certbot, dehydrated, uacme,
             acme-tiny; in c also "certdrop-issue c1", "... c4", "... c16"
             (other [renew] concurrency) and "certdrop-issue separate"
             (30 `issue` calls)
  targets:   [{target, verdict ("met" | "MISSED"), numbers}]
  info:      [{what, ratio, numbers}]  (concurrency comparisons in c, not targets)
  faults:    scenario f, if run (see bench/faults.py): settings, tools {tool:
             {"fault-free" | "faults": {runs, ok, kept, issued, orders,
             issued_per_kept, abandoned, median, p90, exits, faults, requests,
             bad_nonces}, time_ratio {median, p90}}}, runs [every run, with the
             proxy's counters and the faults it met], retries {tool: text},
             targets [{target, verdict, numbers}]
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
import json
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import svg  # noqa: E402  (bench/svg.py)
import faults  # noqa: E402  (bench/faults.py, scenario f)

TOP = Path(__file__).resolve().parent.parent
PEERS = ["lego", "certbot", "dehydrated", "uacme", "acme-tiny"]
DEB_PACKAGES = ["pebble", "lego", "certbot", "dehydrated", "uacme", "acme-tiny", "time"]
TIME_FMT = "%e %M %U %S"
ACME_TINY_ACCOUNT_BITS = 4096  # acme-tiny's README: openssl genrsa 4096 > account.key
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
SLOW_B = {"dehydrated"}             # at most 3 runs in scenario b
SLOW_C = {"certbot", "dehydrated"}  # --runs-slow in scenario c, the others --runs-30
# scenario f: the fault proxy, built from the test kit
PROXY_BUILD = ["-p", "certdrop-testkit", "--features", "pebble", "--bin", "certdrop-fault-proxy"]
SCENARIO_TITLE = {"a": "a: 1 cert, 1 name", "b": "b: 1 cert, 12 names", "c": "c: 30 certs, 1 name each"}
# scenario c: certdrop variants, key -> (table label, [renew] concurrency, separate calls)
C_VARIANTS = {
    "certdrop-issue c1": ("certdrop-issue run, concurrency 1", 1, False),
    "certdrop-issue c4": ("certdrop-issue run, concurrency 4", 4, False),
    "certdrop-issue": ("certdrop-issue run, concurrency 8", 8, False),
    "certdrop-issue c16": ("certdrop-issue run, concurrency 16", 16, False),
    "certdrop-issue separate": ("certdrop-issue, 30 separate `issue` calls", 4, True),
}

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
        self.results = []    # dicts: scenario, key, label, tool, rep, pair, wall, cpu, user, sys,
                             # rss, gnu_wall, gnu_user, gnu_sys
        self.failed = []     # (scenario, key) of each failed run
        self.failures = []
        self.ns_pid = None
        self.seq = 0

    # ---------------------------------------------------------------- setup
    def pebble(self, nonce_reject=0):
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
                    PEBBLE_WFE_NONCEREJECT=str(nonce_reject), PEBBLE_AUTHZREUSE="0")
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

    def acme_tiny_steps(self, d, names, tag):
        """acme-tiny takes a CSR and prints the certificate: what a user runs
        is openssl for the certificate key and CSR (EC P-256, the names as
        SAN), then acme-tiny. Both are shell lines of the measured run.
        --disable-check: acme-tiny would otherwise fetch its own challenge
        file over http://NAME/ first, which nothing serves here (Pebble's
        validation is switched off for every client alike)."""
        (d / "web").mkdir(exist_ok=True)
        (d / "certs").mkdir(exist_ok=True)
        san = ",".join("DNS:" + n for n in names)
        k, csr, crt = d / f"certs/{tag}.key", d / f"certs/{tag}.csr", d / f"certs/{tag}.crt"
        return [["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", k, "-out", csr, "-subj", "/CN=" + names[0],
                 "-addext", "subjectAltName=" + san],
                ["acme-tiny", "--account-key", d / "account.key", "--csr", csr,
                 "--acme-dir", d / "web", "--directory-url", self.url, "--disable-check",
                 "--quiet", ">", str(crt) + ".part"],
                ["mv", str(crt) + ".part", crt]]

    def acme_tiny_env(self):
        # acme-tiny uses urllib, whose default context reads OpenSSL's
        # SSL_CERT_FILE (certbot, on requests, gets REQUESTS_CA_BUNDLE)
        return dict(self.env, SSL_CERT_FILE=str(self.ca))

    def cmd_acme_tiny(self, d, names):
        argv = self.loop_script(d, self.acme_tiny_steps(d, names, "l01"))
        return argv, self.acme_tiny_env()

    # where each tool keeps its account, relative to its store dir
    ACCOUNT = {"certdrop-issue": "state/account.json", "lego": "data/accounts", "certbot": "cfg/accounts",
               "dehydrated": "base/accounts", "uacme": "conf/private", "acme-tiny": "account.key"}

    def cmd(self, tool, d, names):
        return getattr(self, "cmd_" + tool.replace("-issue", "").replace("-", "_"))(d, names)

    def count_certs(self, tool, d):
        pats = {"certdrop-issue": "certs/*/cert.pem", "lego": "data/certificates/*.issuer.crt",
                "certbot": "cfg/live/*/cert.pem", "dehydrated": "base/certs/*/cert.pem",
                "uacme": "conf/*/cert.pem", "acme-tiny": "certs/*.crt"}
        return [p for p in d.glob(pats[tool])
                if not p.parent.name.startswith(".") and p.stat().st_size > 0]

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
            (d / acct).parent.mkdir(parents=True, exist_ok=True)
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
        elif tool == "acme-tiny":  # its account key; the warm-up registers it
            pre = [["openssl", "genrsa", "-out", str(d / "account.key"), str(ACME_TINY_ACCOUNT_BITS)]]
            argv, env = self.cmd_acme_tiny(d, ["warmup.acme-tiny.example.test"])
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
    def measure(self, scenario, key, label, tool, argv, env, d, expect_certs, expect_names=None,
                rep=0, pair=None):
        """Run argv as one process tree under GNU time; record wall (monotonic),
        CPU (wait4 rusage of the tree), peak RSS (GNU time %M). Returns the
        record, or None if the run failed."""
        tf = d / "gnu-time.txt"
        gtime = ["/usr/bin/time", "-f", TIME_FMT, "-o", str(tf)]
        full = gtime + argv
        if argv[:1] == ["nsenter"]:  # time inside the namespace, around uacme itself
            i = argv.index("-m") + 1
            full = argv[:i] + gtime + argv[i:]
        timed_out = []

        def kill():
            timed_out.append(True)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        with open(d / "out.log", "w") as out:
            t0 = time.monotonic()
            p = subprocess.Popen(full, cwd=d, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
            started.append(p)  # so an interrupt stops it too
            timer = threading.Timer(CMD_TIMEOUT, kill)
            timer.start()
            try:
                # wait4: the rusage of the whole tree (the child and every
                # descendant it waited for), at microsecond resolution
                _, status, ru = os.wait4(p.pid, 0)
            finally:
                timer.cancel()
            wall = time.monotonic() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
            started.remove(p)
            rc = "timeout" if timed_out else p.returncode
        got = self.count_certs(tool, d)
        ok = rc == 0 and len(got) == expect_certs
        if ok and expect_names:
            n = self.names_in(tool, got[0])
            ok = n == expect_names
            if not ok:
                rc = f"{n} names in certificate"
        if not ok:
            tail = (d / "out.log").read_text(errors="replace").strip().splitlines()[-2:]
            self.failures.append(f"{scenario} {label} (rep {rep + 1}): exit {rc}, {len(got)}/{expect_certs} "
                                 f"certificates ({d}): " + " | ".join(tail))
            self.failed.append((scenario, key))
            log(f"  {scenario:2} {label:34} FAILED (exit {rc}, {len(got)}/{expect_certs})")
            return None
        gnu = tf.read_text().split()
        rec = dict(scenario=scenario, key=key, label=label, tool=tool, rep=rep, pair=pair,
                   wall=wall, user=ru.ru_utime, sys=ru.ru_stime, cpu=ru.ru_utime + ru.ru_stime,
                   rss=int(gnu[-3]), gnu_wall=float(gnu[-4]), gnu_user=float(gnu[-2]),
                   gnu_sys=float(gnu[-1]))
        self.results.append(rec)
        log(f"  {scenario:2} {label:34} {wall:7.2f} s  CPU {rec['cpu']:7.3f} s  "
            f"{rec['rss'] / 1024:6.1f} MiB" + (f"  (paired with {pair})" if pair else ""))
        if not self.args.keep:
            shutil.rmtree(d, ignore_errors=True)
        return rec

    def loop_script(self, d, cmds, env_extra=None):
        """One sh script for several commands, measured as one process tree.
        An argument ">" redirects the command's stdout to the next argument."""
        def line(c):
            c = [str(a) for a in c]
            if ">" in c:
                i = c.index(">")
                return " ".join(shq(a) for a in c[:i]) + " >" + shq(c[i + 1])  # stderr: out.log
            return " ".join(shq(a) for a in c) + " >/dev/null 2>&1"
        lines = ["set -e"] + [line(c) for c in cmds]
        (d / "loop.sh").write_text("\n".join(lines) + "\n")
        return ["sh", str(d / "loop.sh")]

    def one(self, scenario, tool, names, expect_names=None, rep=0, pair=None):
        d = self.fresh(tool, f"{scenario}-{tool}")
        argv, env = self.cmd(tool, d, names)
        return self.measure(scenario, tool, tool, tool, argv, env, d, 1, expect_names, rep, pair)

    def thirty_certdrop(self, key, rep=0, pair=None):
        label, concurrency, separate = C_VARIANTS[key]
        d = self.fresh("certdrop-issue", "c-" + key.replace(" ", "_"))
        lines = [(f"l{i:02d}", [f"n{i:02d}.c.certdrop.example.test"]) for i in range(1, 31)]
        self.certdrop_config(d, lines, concurrency)
        conf = str(d / "issue.toml")
        if separate:
            argv = self.loop_script(d, [[str(self.bin), "-c", conf, "issue", n] for n, _ in lines])
        else:
            argv = [str(self.bin), "-c", conf, "run"]
        return self.measure("c", key, label, "certdrop-issue", argv, self.env, d, 30, None, rep, pair)

    def thirty_peer(self, tool, rep=0):
        d = self.fresh(tool, f"c-{tool}")
        names = [f"n{i:02d}.c.{tool}.example.test" for i in range(1, 31)]
        if tool == "dehydrated":  # its own batch mode: one cron run over domains.txt
            argv, env = self.cmd_dehydrated(d, [])
            (d / "domains.txt").write_text("\n".join(names) + "\n")
            label = "dehydrated (domains.txt, 1 call)"
        elif tool == "acme-tiny":  # 30 x (openssl key + CSR, acme-tiny), one script
            steps = []
            for i, n in enumerate(names, 1):
                steps += self.acme_tiny_steps(d, [n], f"l{i:02d}")
            argv, env = self.loop_script(d, steps), self.acme_tiny_env()
            label = "acme-tiny (30 calls)"
        else:
            cmds = []
            for n in names:
                a, env = self.cmd(tool, d, [n])
                cmds.append(a[4:] if tool == "uacme" else a)  # loop runs inside the namespace
            argv = self.loop_script(d, cmds)
            if tool == "uacme":
                argv = ["nsenter", "-t", str(self.ns_pid), "-m"] + argv
            label = f"{tool} (30 calls)"
        return self.measure("c", tool, label, tool, argv, env, d, 30, None, rep)


def shq(s):
    s = str(s)
    return s if re.fullmatch(r"[\w@%+=:,./-]+", s) else "'" + s.replace("'", "'\\''") + "'"


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def summarize(b, peers):
    """Medians per scenario and key, and the paired ratios certdrop/peer."""
    out = {}
    for sc in "abc":
        recs = [r for r in b.results if r["scenario"] == sc]
        fails = [k for s_, k in b.failed if s_ == sc]
        if not recs and not fails:
            continue
        order = (list(C_VARIANTS) if sc == "c" else ["certdrop-issue"]) + peers
        keys = [k for k in order if any(r["key"] == k for r in recs) or k in fails]
        tools = {}
        for k in keys:
            rs = [r for r in recs if r["key"] == k]
            e = dict(label=rs[0]["label"] if rs else k, tool=rs[0]["tool"] if rs else k,
                     runs=[{f: r[f] for f in ("rep", "pair", "wall", "cpu", "user", "sys", "gnu_wall",
                                              "gnu_user", "gnu_sys")} | {"rss_kib": r["rss"]} for r in rs],
                     failed=fails.count(k))
            if rs:
                e["median"] = {f: median([r[f] for r in rs]) for f in ("wall", "cpu", "user", "sys")}
                e["median"]["rss_kib"] = median([r["rss"] for r in rs])
            if k in peers:
                ref = {r["rep"]: r for r in recs if r["key"] == "certdrop-issue" and r["pair"] == k}
                prs = [(ref[r["rep"]], r) for r in rs if r["rep"] in ref]
                e["ratios"] = {f: (median([c[g] / q[g] for c, q in prs if q[g] > 0]) if prs else None)
                               for f, g in (("wall", "wall"), ("cpu", "cpu"), ("rss", "rss"))}
                e["ratios"]["pairs"] = len(prs)
            tools[k] = e
        out[sc] = dict(title=SCENARIO_TITLE[sc], reference="certdrop-issue", tools=tools)
    return out


def judge(summ):
    """Issue 6's targets (met/MISSED) and the concurrency comparisons (information)."""
    targets, info = [], []

    def t(what, ok, numbers):
        targets.append(dict(target=what, verdict=("met" if ok else "MISSED") if ok is not None
                            else "not measured", numbers=numbers))

    def vs_lego(sc, f, limit, what):
        lg = summ.get(sc, {}).get("tools", {}).get("lego", {})
        cd = summ.get(sc, {}).get("tools", {}).get("certdrop-issue", {})
        r = lg.get("ratios", {})
        if not r.get("pairs") or r.get(f) is None:
            t(what, None, "no successful certdrop/lego pair")
            return
        unit = "wall" if f == "wall" else "CPU (user+sys)"
        t(what, r[f] <= limit,
          f"certdrop/lego {unit} = {r[f]:.3f} (median of {r['pairs']} per-repetition pairs; limit {limit:g}); "
          f"medians certdrop {cd['median'][f]:.3f} s, lego {lg['median'][f]:.3f} s")

    vs_lego("a", "wall", 0.5, "one certificate (a): wall <= 0.5x lego's")
    vs_lego("a", "cpu", 1.0, "one certificate (a): CPU no more than lego's")
    cd = summ.get("a", {}).get("tools", {}).get("certdrop-issue")
    if cd and cd["runs"]:
        worst = max(r["rss_kib"] for r in cd["runs"]) / 1024
        t("one certificate (a): certdrop-issue peak RSS <= 12 MiB", worst <= 12,
          f"largest of {len(cd['runs'])} runs {worst:.1f} MiB, median {cd['median']['rss_kib'] / 1024:.1f} MiB")
    else:
        t("one certificate (a): certdrop-issue peak RSS <= 12 MiB", None, "scenario a not run")
    vs_lego("c", "wall", 0.2, "30 certificates (c, certdrop at concurrency 8): wall <= 0.2x lego's")
    vs_lego("c", "cpu", 1.0, "30 certificates (c, certdrop at concurrency 8): CPU no more than lego's")

    c = summ.get("c", {}).get("tools", {})
    for k in ("certdrop-issue c4", "certdrop-issue", "certdrop-issue c16"):
        m = c.get(k, {}).get("median")
        for base_k, what in (("certdrop-issue c1", "the same run at concurrency 1"),
                             ("certdrop-issue separate", "30 separate `issue` calls")):
            base = c.get(base_k, {}).get("median")
            if m and base:
                x = base["wall"] / m["wall"]
                info.append(dict(what=f"30 certs in one run ({C_VARIANTS[k][0].split(', ')[1]}) "
                                      f"vs {what}", ratio=x,
                                 numbers=f"{base['wall']:.2f} s / {m['wall']:.2f} s = {x:.2f}x faster "
                                         "(medians; the old target was 5x)"))
    return targets, info


def write_json(out_json, doc):
    def rounded(x):  # microseconds are the resolution anyway
        if isinstance(x, float):
            return round(x, 6)
        if isinstance(x, dict):
            return {k: rounded(v) for k, v in x.items()}
        if isinstance(x, list):
            return [rounded(v) for v in x]
        return x
    out_json.write_text(json.dumps(rounded(doc), indent=1) + "\n")
    print(f"bench: wrote {out_json}")


def report_faults(b, versions, meta, out_md, fdoc):
    """Scenario f run alone: its table, targets and runs as the whole file."""
    faults.print_table(fdoc)
    md = ["# certdrop benchmark results: faults", "",
          f"Run {meta['date']} on {meta['host']} ({meta['cpus']} CPUs), load average "
          f"{' '.join(f'{x:.2f}' for x in meta['load_before'])} before, "
          f"{' '.join(f'{x:.2f}' for x in meta['load_after'])} after; {meta['elapsed']:.0f} s in all.",
          f"certdrop {versions['certdrop-issue']}. Made by `bench/run --scenarios f` "
          "(bench/README.md, scenario f).", ""]
    md += faults.markdown(fdoc)
    md += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in versions.items()]
    if b.skipped:
        md += ["", "## Skipped", ""] + [f"- {k}: {v}" for k, v in b.skipped.items()]
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text("\n".join(md) + "\n")
    print(f"\nbench: wrote {out_md}")
    write_json(out_md.with_suffix(".json"),
               dict(meta=dict(meta, versions=versions, skipped=b.skipped),
                    faults=dict(fdoc, targets=faults.targets(fdoc))))


def fmt_ratio(x):
    return "-" if x is None else f"{x:.3g}"


def report(b, peers, versions, meta, out_md, fdoc=None):
    summ = summarize(b, peers)
    if fdoc is not None and not summ:  # scenario f alone: its own file (e.g. results-faults.md)
        return report_faults(b, versions, meta, out_md, fdoc)
    targets, info = judge(summ)
    hdr = ("scenario", "tool", "runs", "median wall s", "min-max s", "median CPU s", "median peak RSS MiB",
           "wall certdrop/peer", "CPU certdrop/peer", "RSS certdrop/peer")
    txt = [hdr]
    for sc, S in summ.items():
        for k, e in S["tools"].items():
            if not e["runs"]:
                continue
            walls = [r["wall"] for r in e["runs"]]
            m, r = e["median"], e.get("ratios", {})
            txt.append((S["title"], e["label"], str(len(e["runs"])), f"{m['wall']:.3f}",
                        f"{min(walls):.2f}-{max(walls):.2f}", f"{m['cpu']:.3f}", f"{m['rss_kib'] / 1024:.1f}",
                        fmt_ratio(r.get("wall")), fmt_ratio(r.get("cpu")), fmt_ratio(r.get("rss"))))
    widths = [max(len(r[i]) for r in txt) for i in range(len(hdr))]
    for r in txt:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)))
    print()
    for t in targets:
        print(f"{t['verdict']:7} {t['target']}: {t['numbers']}")
    for t in info:
        print(f"info    {t['what']}: {t['numbers']}")

    md = ["# certdrop benchmark results", "",
          f"Run {meta['date']} on {meta['host']} ({meta['cpus']} CPUs), load average "
          f"{' '.join(f'{x:.2f}' for x in meta['load_before'])} before, "
          f"{' '.join(f'{x:.2f}' for x in meta['load_after'])} after; {meta['elapsed']:.0f} s in all.",
          f"certdrop {versions['certdrop-issue']}.", "",
          "Wall time: monotonic clock around each command (median). CPU: user + sys of the command's "
          "whole process tree (wait4 rusage; for a loop or a shell client, every process in it), median. "
          "Peak RSS: GNU time `%M` (for a loop or a shell client: the largest single process). "
          "Ratios are certdrop/peer, each the median over repetitions of a certdrop run divided by the "
          "peer run made right after it (in c: certdrop-issue run at the default concurrency 8); "
          "below 1 means certdrop is faster, leaner or smaller. acme-tiny's runs include making its "
          "certificate key and CSR with openssl.", "",
          "| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    md += ["| " + " | ".join(r) + " |" for r in txt[1:]]
    md += ["", "## Targets (issue 6)", "", "| target | verdict | numbers |", "|---|---|---|"]
    md += [f"| {t['target']} | {t['verdict']} | {t['numbers']} |" for t in targets]
    if info:
        md += ["", "## Concurrency (information)", "", "| comparison | numbers |", "|---|---|"]
        md += [f"| {t['what']} | {t['numbers']} |" for t in info]
    md += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in versions.items()]
    if b.skipped:
        md += ["", "## Skipped", ""] + [f"- {k}: {v}" for k, v in b.skipped.items()]
    if b.failures:
        md += ["", "## Failed runs (not in the medians)", ""] + [f"- {f}" for f in b.failures]
    md += ["", "## Every run", "",
           "In order. CPU = user + sys (wait4); GNU time's %e, %U, %S (10 ms resolution) as a cross-check.", "",
           "| scenario | rep | tool | paired with | wall s | CPU s | user s | sys s | peak RSS KiB "
           "| GNU %e | GNU %U | GNU %S |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['scenario']} | {r['rep'] + 1} | {r['label']} | {r['pair'] or ''} | {r['wall']:.3f} "
           f"| {r['cpu']:.3f} | {r['user']:.3f} | {r['sys']:.3f} | {r['rss']} | {r['gnu_wall']:.2f} "
           f"| {r['gnu_user']:.2f} | {r['gnu_sys']:.2f} |" for r in b.results]
    if fdoc is not None:
        print()
        faults.print_table(fdoc)
        md += [""] + faults.markdown(fdoc)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text("\n".join(md) + "\n")
    print(f"\nbench: wrote {out_md}")
    doc = dict(meta=dict(meta, versions=versions, skipped=b.skipped, failures=b.failures),
               scenarios=summ, targets=targets, info=info)
    if fdoc is not None:
        doc["faults"] = dict(fdoc, targets=faults.targets(fdoc))
    write_json(out_md.with_suffix(".json"), doc)

    plots = out_md.parent / "plots"
    series = ["certdrop-issue"] + PEERS  # all of them, so each tool keeps its colour
    short = {"a": "a: 1 name", "b": "b: 12 names", "c": "c: 30 certs"}
    note = (f"medians; {meta['date']}, {meta['host']}, {meta['cpus']} CPUs. c: certdrop one run at "
            "concurrency 8; peers 30 calls (dehydrated: one batch call)")
    for what, f, unit in (("wall", "wall", "median wall time, s"),
                          ("cpu", "cpu", "median CPU (user + sys), s")):
        values = {(short[sc], k): float(f"{e['median'][f]:.3g}") for sc, S in summ.items()
                  for k, e in S["tools"].items() if k in series and e.get("median") and e["median"][f] > 0}
        if not values:
            continue
        plots.mkdir(parents=True, exist_ok=True)
        path = plots / f"issue-{what}.svg"
        svg.bars(str(path), f"certdrop-issue and its peers: {unit.split(',')[0]}", unit,
                 [short[sc] for sc in summ], series, values, note)
        print(f"bench: wrote {path}")


def main():
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per tool and scenario (default 5)")
    ap.add_argument("--runs-slow", type=int, default=3,
                    help="runs of the 30-certificate scenario for certbot and dehydrated "
                         "(default 3; 0 skips them in c)")
    ap.add_argument("--runs-30", type=int, default=3,
                    help="runs of the 30-certificate scenario for lego, uacme and acme-tiny (default 3)")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--scenarios", default="a,b,c", help="a,b,c (default) and/or f (faults)")
    ap.add_argument("--fault-runs", type=int, default=20, help="f: faulted runs per tool (default 20)")
    ap.add_argument("--fault-rate", type=int, default=20,
                    help="f: percent of requests the proxy faults (default 20)")
    ap.add_argument("--nonce-reject", type=int, default=50,
                    help="f: PEBBLE_WFE_NONCEREJECT of the faulted Pebble (default 50)")
    ap.add_argument("--fault-seed", type=int, default=1, help="f: seed of the first faulted run (default 1)")
    ap.add_argument("--no-build", action="store_true", help="use the certdrop-issue already built "
                    "(target/release, or $CERTDROP_ISSUE)")
    ap.add_argument("--committed", action="store_true",
                    help="build and measure git HEAD, not the work tree (own build dir under $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--out", default=str(TOP / "bench/results.md"),
                    help="markdown results; FILE.json and plots/ next to it (default bench/results.md)")
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
    proxy_bin = Path(os.environ.get("CERTDROP_FAULT_PROXY", TOP / "target/release/certdrop-fault-proxy"))
    fdoc = None
    work = Path(tempfile.mkdtemp(prefix="certdrop-bench."))
    b = Bench(args, work / "abc")
    for p in peers:
        if not shutil.which(p):
            b.skipped[p] = "not installed (apt-get install -y " + p + ")"
    peers = [p for p in peers if p not in b.skipped]
    fault_tools = ["certdrop-issue"] + [p for p in faults.PEERS if p in peers]
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
            if "f" in scenarios:
                subprocess.run(["cargo", "build", "--release", "--locked", *PROXY_BUILD], cwd=src / "src",
                               check=True, env=dict(os.environ, CARGO_TARGET_DIR=str(src / "target")))
                proxy_bin = src / "target/release/certdrop-fault-proxy"
            b.bin = src / "target/release/certdrop-issue"
        elif not args.no_build:
            log("bench: cargo build --release -p certdrop-issue")
            subprocess.run(["cargo", "build", "--release", "-p", "certdrop-issue"], cwd=TOP, check=True)
            if "f" in scenarios:
                log("bench: cargo build --release " + " ".join(PROXY_BUILD))
                subprocess.run(["cargo", "build", "--release", *PROXY_BUILD], cwd=TOP, check=True)
        if not b.bin.is_file():
            raise SystemExit(f"bench: no {b.bin}")
        if "f" in scenarios and not proxy_bin.is_file():
            raise SystemExit(f"bench: no {proxy_bin} (cargo build --release {' '.join(PROXY_BUILD)})")
        if not any(sc in scenarios for sc in "abc"):
            peers = []  # only f: the other scenarios' Pebble and accounts are not needed
        if any(sc in scenarios for sc in "abc"):
            b.W.mkdir(parents=True)
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

        def paired(rep, now, run_certdrop, run_peer):
            """certdrop right before each peer: the pairs give the ratios."""
            if not now:
                run_certdrop(None)
            for t in now:
                run_certdrop(t)
                run_peer(t)

        if "a" in scenarios:
            log("bench: scenario a: one certificate, 1 name")
            for rep in range(args.runs):
                paired(rep, peers,
                       lambda pair: b.one("a", "certdrop-issue", ["a.certdrop-issue.example.test"], 1, rep, pair),
                       lambda t: b.one("a", t, [f"a.{t}.example.test"], 1, rep))
        if "b" in scenarios:
            log("bench: scenario b: one certificate, 12 names")
            names = lambda t: [f"n{i:02d}.b.{t}.example.test" for i in range(1, 13)]
            for rep in range(args.runs):
                # dehydrated: about 20 s a run, 3 runs are enough
                now = [t for t in peers if not (t in SLOW_B and rep >= 3)]
                paired(rep, now,
                       lambda pair: b.one("b", "certdrop-issue", names("certdrop-issue"), 12, rep, pair),
                       lambda t: b.one("b", t, names(t), 12, rep))
        if "c" in scenarios:
            log("bench: scenario c: 30 certificates")
            count = {t: args.runs_slow if t in SLOW_C else args.runs_30 for t in peers}
            for rep in range(max([args.runs] + list(count.values()))):
                if rep < args.runs:
                    for key in C_VARIANTS:
                        if key != "certdrop-issue":
                            b.thirty_certdrop(key, rep)
                paired(rep, [t for t in peers if rep < count[t]],
                       lambda pair: b.thirty_certdrop("certdrop-issue", rep, pair),
                       lambda t: b.thirty_peer(t, rep))
        if "f" in scenarios:
            log("bench: scenario f: one certificate under faults, " + ", ".join(fault_tools))

            def make_bench(w):
                fb = Bench(args, w)
                fb.bin = b.bin
                return fb
            fdoc = faults.run(make_bench, proxy_bin, fault_tools, args, work / "f", started, log)
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
    dirty = sh(["git", "-C", str(TOP), "status", "--porcelain", "--", "bins", "crates", "Cargo.lock"]).stdout.strip()
    if args.committed:
        source = f"git {head} as committed"
    elif args.no_build and "CERTDROP_ISSUE" in os.environ:
        source = f"binary {b.bin}"
    else:
        source = f"work tree at git {head}" + (
            ", with uncommitted changes under bins/ or crates/" if dirty else "")
    versions = {"certdrop-issue": f"{cd_version} ({source})"}
    for pkg in ["lego", "certbot", "dehydrated", "uacme", "acme-tiny", "pebble", "time"]:
        versions[pkg] = "Debian " + version_of(pkg)
    meta = dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), host=socket.gethostname(),
                cpus=os.cpu_count(), load_before=[round(x, 2) for x in load0],
                load_after=[round(x, 2) for x in os.getloadavg()],
                elapsed=round(time.monotonic() - t_start, 1),
                options=dict(runs=args.runs, runs_30=args.runs_30, runs_slow=args.runs_slow,
                             peers=peers, scenarios=scenarios, fault_runs=args.fault_runs,
                             fault_rate=args.fault_rate, nonce_reject=args.nonce_reject,
                             fault_seed=args.fault_seed))
    print()
    report(b, peers, versions, meta, Path(args.out).resolve(), fdoc)
    return 1 if b.failures else 0


if __name__ == "__main__":
    sys.exit(main())
