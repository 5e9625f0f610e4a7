"""Scenario f of bench/run: one certificate under faults (issue 11).

Two Pebbles run side by side, each behind the test kit's fault proxy
(`certdrop-fault-proxy`, crates/testkit/src/bin/), which serves TLS with
that Pebble's own certificate, so each client trusts the same throwaway CA
as in the other scenarios and only its directory URL changes:

  fault-free  Pebble with PEBBLE_WFE_NONCEREJECT=0, proxy faulting 0 %
  faults      Pebble with PEBBLE_WFE_NONCEREJECT=50 (half the good nonces
              rejected with badNonce), proxy faulting 20 % of all requests,
              every endpoint alike, each fault drawn evenly from: 500, 503
              with Retry-After: 1, a TCP reset instead of an answer, a lost
              answer (forwarded to Pebble, which acts on it, reply dropped)

Both proxies relay one request per connection (Connection: close), so the
fault-free runs pay the same reconnects as the faulted ones.

A run is one client obtaining one certificate for one name from scratch
(fresh store, the account copied in; http-01 with a webroot; Pebble
PEBBLE_VA_ALWAYS_VALID=1 as in a), b) and c)), one invocation with the
client's own retry behaviour, or failing. Each faulted run has its own
seed (--fault-seed + run index), so the same seed gives the same sequence
of faults to the same sequence of requests. Per run the proxy's counters
are read and reset: orders created and certificates issued at the CA
(finalize accepted), certificates downloaded, the faults applied and
Pebble's badNonce answers, each with its time in the run.

Reported per tool: runs that kept a certificate, of N; certificates
issued at the CA per certificate kept (over all faulted runs; 1.0 is
ideal, more means a certificate was issued but abandoned); median and p90
time to the certificate of the successful faulted runs against the same
tool's fault-free median; exit codes; for each failed run its exit code,
its last message line and the faults it met.
"""

import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

RUN_TIMEOUT = 180       # s, one faulted run (certdrop's own run budget is shorter)
PEERS = ["lego", "certbot"]
# What each client does on its own about a failed request, with its
# defaults (the benchmark sets nothing about retries): said in the report.
RETRIES = {
    "certdrop-issue": "its defaults (certdrop-issue(8)): each exchange retried up to six times "
                      "within the run (pauses from 200 ms doubling to 5 s, never before the CA's "
                      "Retry-After) on badNonce, 5xx, 429, a reset or no answer within 30 s "
                      "(instant-acme first resends a badNonce twice at once with the fresh nonce); "
                      "a lost finalize or challenge answer is recovered by fetching the order",
    "lego": "its defaults (lego 4.9): a badNonce answer is retried with exponential back-off "
            "(from 0.2 s, at most 20 s in all); any other failed request ends the run",
    "certbot": "its defaults (certbot 2.1, python-acme): a badNonce answer is retried once; "
               "any other failed request ends the run",
}
BOILERPLATE = ("Ask for help", "See the logfile", "Some challenges have failed",
               "certbot.errors", "Saving debug log")


def median(xs):
    return statistics.median(xs) if xs else None


def p90(xs):
    """Nearest-rank 90th percentile."""
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


class Proxy:
    """A running certdrop-fault-proxy in front of one Pebble, driven over
    its stdin (`rate P SEED`, `stats`); one answer line each."""

    def __init__(self, binary, b, logfile, started):
        self.p = subprocess.Popen(
            [str(binary), "--upstream", b.url, "--cert", str(b.W / "pebble.pem"),
             "--key", str(b.W / "pebble.key"), "--ca", str(b.ca), "--rate", "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(logfile, "w"),
            text=True, start_new_session=True)
        started.append(self.p)
        self.url = self.p.stdout.readline().strip()
        if not self.url.startswith("https://"):
            raise SystemExit(f"bench: certdrop-fault-proxy did not start; see {logfile}")

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline().strip()
        if not answer or answer.startswith("error"):
            raise SystemExit(f"bench: certdrop-fault-proxy: {line}: {answer or 'no answer'}")
        return answer

    def stats(self):
        return json.loads(self.ask("stats"))


def message_line(d):
    """The client's last informative line: stderr first, else stdout."""
    for name in ("err.log", "out.log"):
        lines = [l.strip() for l in (d / name).read_text(errors="replace").splitlines() if l.strip()]
        lines = [l for l in lines if not l.startswith(BOILERPLATE)]
        if lines:
            return lines[-1][:300]
    return ""


def one_run(b, proxy, tool, kind, rep, seed, rate, started, keep):
    """One issuance through `proxy`; returns its record."""
    d = b.fresh(tool, f"f-{kind}-{tool}")
    names = [f"r{rep:02d}.{kind}.{tool}.example.test"]
    argv, env = b.cmd(tool, d, names)
    proxy.ask(f"rate {rate} {seed}")
    proxy.stats()  # count from here
    with open(d / "out.log", "w") as out, open(d / "err.log", "w") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, cwd=d, env=env, stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        started.append(p)
        try:
            rc = p.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = "timeout"
        wall = time.monotonic() - t0
        started.remove(p)
    st = proxy.stats()
    kept = len(b.count_certs(tool, d))
    rec = dict(tool=tool, kind=kind, rep=rep, seed=seed if rate else None, wall=wall, exit=rc,
               ok=rc == 0 and kept == 1, kept=kept, orders=st["orders_created"],
               issued=st["certificates_issued"], downloaded=st["certificates_downloaded"],
               requests=st["requests"], faults=st["faults"], applied=st["applied"],
               bad_nonces=st["bad_nonces"], relay_errors=st["errors"], message="")
    if not rec["ok"]:
        rec["message"] = message_line(d)
        rec["dir"] = str(d)
    tag = "ok" if rec["ok"] else f"FAILED exit {rc}"
    print(f"  f  {kind:10} {tool:15} {wall:7.2f} s  {tag:16} requests {st['requests']:3}  "
          f"faults {sum(st['faults'].values()):2}  badNonce {len(st['bad_nonces']):2}  "
          f"orders {st['orders_created']}  issued {st['certificates_issued']}  kept {kept}",
          file=sys.stderr, flush=True)
    if rec["ok"] and not keep:
        shutil.rmtree(d, ignore_errors=True)
    return rec


def register_certbot(b, tries=10):
    """certbot's account on `b`'s Pebble by `certbot register` alone."""
    d = b.W / "accounts" / "certbot"
    for _ in range(tries):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        # the same store layout and trust as Bench.cmd_certbot
        argv = ["certbot", "register", "--server", b.url, "--config-dir", str(d / "cfg"),
                "--work-dir", str(d / "work"), "--logs-dir", str(d / "logs"), "--agree-tos",
                "-m", "bench@example.test", "--no-eff-email", "--non-interactive"]
        env = dict(b.env, REQUESTS_CA_BUNDLE=str(b.ca))
        r = subprocess.run(argv, cwd=d, env=env, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        if r.returncode == 0 and (d / b.ACCOUNT["certbot"]).is_dir():
            b.tpl["certbot"] = d
            return True
        b.skipped["certbot"] = f"certbot register failed {tries} times (exit {r.returncode}): " + \
            " | ".join((r.stderr or r.stdout).strip().splitlines()[-2:])
    return False


def run(make_bench, proxy_bin, tools, args, work, started, log):
    """Scenario f: fault-free and faulted runs, interleaved per tool."""
    setups, skipped = {}, {}
    for kind, nonce in (("fault-free", 0), ("faults", args.nonce_reject)):
        w = work / kind
        w.mkdir(parents=True)
        b = make_bench(w)
        b.pebble(nonce_reject=nonce)
        proxy = Proxy(proxy_bin, b, w / "proxy.log", started)
        b.url = proxy.url
        log(f"bench: f {kind}: Pebble (PEBBLE_WFE_NONCEREJECT={nonce}) behind {proxy.url}")
        setups[kind] = (b, proxy)
    # Accounts: made without proxy faults, by a warm-up issuance each; on
    # the faulted Pebble half the nonces are still rejected, so a client
    # may need a second try, and certbot, which gives up at the second
    # badNonce in a row, only registers there (newAccount alone).
    for kind, (b, _) in setups.items():
        for tool in list(tools):
            if kind == "faults" and tool == "certbot":
                ok = register_certbot(b)
            else:
                for _attempt in range(3):
                    b.skipped.pop(tool, None)
                    shutil.rmtree(b.W / "accounts" / tool, ignore_errors=True)
                    if ok := b.make_account(tool):
                        break
            if not ok:
                log(f"bench: f {kind}: skipping {tool}: {b.skipped[tool]}")
                skipped[tool] = f"{kind}: {b.skipped[tool]}"
                tools.remove(tool)
    records = []
    for rep in range(max(args.fault_runs, args.runs)):
        for i, tool in enumerate(tools):
            if rep < args.runs:
                b, proxy = setups["fault-free"]
                records.append(one_run(b, proxy, tool, "fault-free", rep, 0, 0, started, args.keep))
            if rep < args.fault_runs:
                b, proxy = setups["faults"]
                seed = args.fault_seed + rep * len(tools) + i
                records.append(one_run(b, proxy, tool, "faults", rep, seed, args.fault_rate,
                                       started, args.keep))
    return dict(settings=dict(runs=args.fault_runs, fault_free_runs=args.runs,
                              nonce_reject=args.nonce_reject, fault_rate=args.fault_rate,
                              fault_kinds=["500", "503 (Retry-After: 1)", "reset", "lost"],
                              first_seed=args.fault_seed, run_timeout=RUN_TIMEOUT),
                tools=summarize(records, tools), runs=records, retries={t: RETRIES[t] for t in tools},
                skipped=skipped)


def summarize(records, tools):
    out = {}
    for tool in tools:
        e = {}
        for kind in ("fault-free", "faults"):
            rs = [r for r in records if r["tool"] == tool and r["kind"] == kind]
            walls = [r["wall"] for r in rs if r["ok"]]
            kept = sum(r["kept"] for r in rs)
            issued = sum(r["issued"] for r in rs)
            e[kind] = dict(runs=len(rs), ok=sum(r["ok"] for r in rs), kept=kept, issued=issued,
                           orders=sum(r["orders"] for r in rs),
                           issued_per_kept=(issued / kept) if kept else None,
                           abandoned=issued - sum(min(r["issued"], r["kept"]) for r in rs),
                           median=median(walls), p90=p90(walls),
                           exits=dict(Counter(str(r["exit"]) for r in rs)),
                           faults=sum(sum(r["faults"].values()) for r in rs),
                           requests=sum(r["requests"] for r in rs),
                           bad_nonces=sum(len(r["bad_nonces"]) for r in rs))
        base, f = e["fault-free"]["median"], e["faults"]
        e["time_ratio"] = dict(median=(f["median"] / base) if base and f["median"] else None,
                               p90=(f["p90"] / base) if base and f["p90"] else None)
        out[tool] = e
    return out


def targets(doc):
    """Issue 11's targets for certdrop-issue (met / MISSED)."""
    cd = doc["tools"].get("certdrop-issue", {}).get("faults")
    if not cd:
        return []
    n = doc["settings"]["runs"]
    ipk = cd["issued_per_kept"]
    return [
        dict(target=f"certificates kept under faults: {n} of {n}",
             verdict="met" if cd["ok"] == n else "MISSED", numbers=f"{cd['ok']} of {cd['runs']}"),
        dict(target="certificates issued at the CA per certificate kept: 1.0",
             verdict="met" if ipk is not None and abs(ipk - 1.0) < 1e-9 else "MISSED",
             numbers=f"{cd['issued']} issued / {cd['kept']} kept = " + (f"{ipk:.2f}" if ipk else "-")),
    ]


def _s(x, fmt="{:.2f}"):
    return "-" if x is None else fmt.format(x)


def describe(r):
    """A failed run's faults, one line: the last fault or badNonce before its end first."""
    # a request with both (Pebble's badNonce, then its answer lost) has one
    # time: the proxy's fault is what the client saw, so it sorts last
    ev = [(ms, 1, f"{ep} {f}") for ms, ep, f in r["applied"]]
    ev += [(ms, 0, f"{ep} badNonce (Pebble)") for ms, ep in r["bad_nonces"]]
    ev = [(ms, w) for ms, _, w in sorted(ev)]
    last = f"last: {ev[-1][1]} at {ev[-1][0] / 1000:.2f} s; " if ev else "no fault met; "
    return last + "all: " + (", ".join(f"{w} @{ms / 1000:.2f}" for ms, w in ev) or "-")


def table_rows(doc):
    hdr = ("tool", "kept (faults)", "CA certs issued / kept", "issued, not kept", "orders / kept",
           "median s (faults)",
           "p90 s (faults)", "median s (fault-free)", "median x", "p90 x", "exit codes (faults)",
           "kept (fault-free)")
    rows = []
    for tool, e in doc["tools"].items():
        f, z = e["faults"], e["fault-free"]
        ipk = (_s(f["issued_per_kept"]) + f" ({f['issued']}/{f['kept']})" if f["kept"]
               else f"- ({f['issued']} issued, none kept)")
        rows.append((tool, f"{f['ok']}/{f['runs']}", ipk, str(f["abandoned"]),
                     _s(f["orders"] / f["kept"] if f["kept"] else None), _s(f["median"]), _s(f["p90"]),
                     _s(z["median"], "{:.3f}"), _s(e["time_ratio"]["median"], "{:.1f}"),
                     _s(e["time_ratio"]["p90"], "{:.1f}"),
                     " ".join(f"{k}x{v}" for k, v in sorted(f["exits"].items())), f"{z['ok']}/{z['runs']}"))
    return hdr, rows


def print_table(doc):
    hdr, rows = table_rows(doc)
    widths = [max(len(r[i]) for r in [hdr] + rows) for i in range(len(hdr))]
    for r in [hdr] + rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)))
    for t in targets(doc):
        print(f"{t['verdict']:7} {t['target']}: {t['numbers']}")


def markdown(doc):
    s = doc["settings"]
    hdr, rows = table_rows(doc)
    md = ["## f: one certificate under faults (issue 11)", "",
          f"Pebble with `PEBBLE_WFE_NONCEREJECT={s['nonce_reject']}` behind the test kit's fault proxy "
          f"faulting {s['fault_rate']} % of all requests (500; 503 with Retry-After: 1; a TCP reset; a "
          "lost answer, which Pebble acted on), each fault drawn evenly; "
          f"{s['runs']} runs per tool, seeds {s['first_seed']} and up (one per run). Fault-free: "
          f"the same through a proxy faulting nothing, Pebble rejecting no nonce, {s['fault_free_runs']} "
          "runs per tool, interleaved. A run is one invocation obtaining one certificate for one name; "
          f"killed after {s['run_timeout']} s. Times: wall, monotonic, of the successful runs; "
          "`median x` and `p90 x` divide them by the same tool's fault-free median. CA certs issued: "
          "finalize requests Pebble accepted, counted by the proxy, over all faulted runs, against the "
          "certificates the runs kept.", "",
          "| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ["", "| target (certdrop-issue) | verdict | numbers |", "|---|---|---|"]
    md += [f"| {t['target']} | {t['verdict']} | {t['numbers']} |" for t in targets(doc)]
    md += ["", "Retries, each client's own (nothing set):", ""]
    md += [f"- {t}: {w}" for t, w in doc["retries"].items()]
    md += ["", "Faults met, over all faulted runs:", "", "| tool | requests | proxy faults | Pebble badNonce |",
           "|---|---|---|---|"]
    md += [f"| {t} | {e['faults']['requests']} | {e['faults']['faults']} | {e['faults']['bad_nonces']} |"
           for t, e in doc["tools"].items()]
    if doc["skipped"]:
        md += ["", "Skipped: " + "; ".join(f"{t} ({w})" for t, w in doc["skipped"].items())]
    failed = [r for r in doc["runs"] if not r["ok"]]
    md += ["", "### Failed runs", ""]
    if not failed:
        md += ["None."]
    else:
        md += ["| tool | run | seed | exit | s | message (last line) | orders / issued / kept | faults met |",
               "|---|---|---|---|---|---|---|---|"]
        md += [f"| {r['tool']} | {r['kind']} {r['rep'] + 1} | {r['seed'] if r['seed'] is not None else ''} "
               f"| {r['exit']} | {r['wall']:.2f} | {r['message'].replace('|', '/')} "
               f"| {r['orders']} / {r['issued']} / {r['kept']} | {describe(r)} |" for r in failed]
    md += ["", "### Every run", "", "| tool | run | seed | exit | s | requests | faults | badNonce | orders "
           "| issued | downloaded | kept |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['tool']} | {r['kind']} {r['rep'] + 1} | {r['seed'] if r['seed'] is not None else ''} "
           f"| {r['exit']} | {r['wall']:.3f} | {r['requests']} "
           f"| {' '.join(f'{k}x{v}' for k, v in sorted(r['faults'].items())) or '-'} | {len(r['bad_nonces'])} "
           f"| {r['orders']} | {r['issued']} | {r['downloaded']} | {r['kept']} |" for r in doc["runs"]]
    return md
