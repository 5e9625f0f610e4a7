#!/usr/bin/env python3
"""Compose BENCHMARKS.md from what the harnesses wrote (python3 stdlib only):

  bench/results.md, results.json        issuance overhead  (bench/run)
  bench/issue-scale/results.md, .json   issuance at 30/300 certificates, fsyncs, busy disk
  bench/dns01/results.md, .json         dns-01 through the real path
  bench/zone/results.md, .json          zone build scaling
  bench/zone/results-before.json        the same, measured with certdrop-zone before issue 17
  bench/pipeline/results.md             trigger and publish passes
  bench/pipeline/results-scale.md       the trigger at 10..10,000 services (issue 17)
  bench/footprint/results.md, .json     binary sizes and run-time needs
  bench/results-faults.md, .json        one certificate under faults (bench/run --scenarios f)
  bench/probe/results.md, .json         the TLS probe per endpoint (bench/probe/run)
  bench/check/results.md, .json         certdrop-check over 100 lines; trigger and check sizes
  bench/cluster/results*.md, .json      cluster convergence for 1..16 sites (bench/cluster/run)
  bench/cluster/reading.md              the hand-written reading of those
  bench/persist/results.md, .json       dns-persist-01 renewal against dns-01 (issue 18)
  bench/notes.md                        the hand-written reading of them

Each section takes the harness's main tables as they are (the harness is the
one place a number is computed) and links its full results; the summary of
targets is read from the JSON files. `make bench` runs everything and then
this script; `python3 bench/report.py` alone recomposes the report.
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)


def read(rel):
    with open(os.path.join(TOP, rel)) as f:
        return f.read()


def load(rel):
    try:
        return json.loads(read(rel))
    except (OSError, ValueError) as e:
        sys.exit(f"report: {rel}: {e}")


def section(md, heading):
    """The text under `## heading` (prefix match) up to the next `## `."""
    lines = md.splitlines()
    out, inside = [], False
    for line in lines:
        if line.startswith("## "):
            if inside:
                break
            inside = line[3:].startswith(heading)
            continue
        if inside:
            out.append(line)
    return "\n".join(out).strip()


def tables(text, n=None):
    """The markdown tables in `text` (each a block of `|` lines)."""
    found, cur = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            found.append("\n".join(cur))
            cur = []
    return found if n is None else found[:n]


def preamble(md):
    """Text before the first table or heading after the title."""
    body = md.split("\n", 1)[1] if "\n" in md else ""
    out = []
    for line in body.splitlines():
        if line.startswith("|") or line.startswith("## "):
            break
        out.append(line)
    return "\n".join(out).strip()


def verdict(ok):
    return "met" if ok else "**MISSED**"


def zone_before_after(before, after):
    """Issue 17's curve: the zone build from scratch at each size measured
    both times, before (results-before.json) and after (results.json)."""
    def mib(k):
        return f"{k / 1024:.1f} MiB"

    def sec(x):
        return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"
    old = {r["size"]: r for r in before.get("sizes", [])}
    rows = []
    for r in after.get("sizes", []):
        b = old.get(r["size"])
        if not b or "own_rss_kib" not in r or "own_rss_kib" not in b:
            continue
        rows.append(f"| {r['records']:,} | {sec(b['build_wall_s'])} → **{sec(r['build_wall_s'])}** | "
                    f"{sec(b['build_cpu_s'])} → {sec(r['build_cpu_s'])} | "
                    f"{mib(b['own_rss_max_kib'])} → **{mib(r['own_rss_max_kib'])}** | "
                    f"{mib(b['build_rss_kib'])} → {mib(r['build_rss_kib'])} | "
                    f"{b['own_rss_max_kib'] * 1024 / b['records']:.0f} B → "
                    f"{r['own_rss_max_kib'] * 1024 / r['records']:.0f} B |")
    if not rows:
        return ""
    out = ["Before and after issue 17 (the zone held whole, then streamed): the build from "
           "scratch, median wall and CPU (with nsd-checkzone), certdrop-zone's own peak RSS "
           "(largest run with nsd-checkzone off PATH), the peak of the largest process "
           "(nsd-checkzone's once certdrop-zone's fell below it), and certdrop-zone's own peak "
           "per record in the zone. Before: commit "
           f"{before.get('commit', '?')[:10]}, load {before.get('load_start', ['?'])[0]}–"
           f"{before.get('load_end', ['?'])[0]}; after: commit {after.get('commit', '?')[:10]}, "
           f"load {after.get('load_start', ['?'])[0]}–{after.get('load_end', ['?'])[0]} "
           "(2 CPUs).\n",
           "| records in the zone | build wall | build CPU | certdrop-zone's own peak RSS | "
           "largest process | own peak a record |",
           "|---|---|---|---|---|---|", *rows, ""]
    big = after["sizes"][-1]
    if big.get("build_cpu_s"):
        out.append(f"At {big['records']:,} records the wall time was "
                   f"{big['build_wall_s'] / big['build_cpu_s']:.1f}× the CPU time of the whole "
                   "build (2 CPUs): on a machine this loaded, the CPU column is the one to "
                   "compare; the wall-time targets want a quiet machine.\n")
    for t in after.get("scale_targets", []):
        out.append(f"- {t['size']:,} static records: build ≤ {sec(t['build_max_s'])}: "
                   f"{sec(t['build_wall_s'])}, {verdict(t['build_met'])}; own peak RSS ≤ "
                   f"{mib(t['own_rss_max_kib'])}: {mib(t['own_rss_kib'])}, "
                   f"{verdict(t['own_rss_met'])}")
    return "\n".join(out) + "\n"


def main():
    issue = load("bench/results.json")
    dns = load("bench/dns01/results.json")
    zone = load("bench/zone/results.json")
    foot = load("bench/footprint/results.json")
    issue_md = read("bench/results.md")
    dns_md = read("bench/dns01/results.md")
    zone_md = read("bench/zone/results.md")
    pipe_md = read("bench/pipeline/results.md")
    foot_md = read("bench/footprint/results.md")
    faults = load("bench/results-faults.json")["faults"]
    faults_md = read("bench/results-faults.md")
    notes = read("bench/notes.md").strip()
    probe = load("bench/probe/results.json")
    probe_md = read("bench/probe/results.md")
    check = load("bench/check/results.json")
    check_md = read("bench/check/results.md")
    cluster = load("bench/cluster/results.json")
    # Issue 18: absent until bench/persist/run has run once.
    persist_rel = "bench/persist/results.json"
    persist = load(persist_rel) if os.path.exists(os.path.join(TOP, persist_rel)) else None

    meta = issue["meta"]
    out = []
    w = out.append
    w("# certdrop benchmarks\n")
    w("certdrop measured side by side with what a user would pick instead, in "
      "the same run on the same machine, on loopback. Written by "
      "`bench/report.py` from the results of the harnesses in `bench/`; "
      "`make bench` reruns all of them (about 25 minutes on 2 cores) and "
      "rewrites this file. Ratios are only comparable within one run.\n")
    w(f"Machine: {meta['host']}, {meta['cpus']} CPUs, "
      f"{zone.get('kernel', 'Linux')}; issuance runs on {meta['date']}, "
      f"load average {' '.join(str(x) for x in meta['load_before'])} before. "
      "Each section says when it ran and the load then.\n")

    # Targets.
    w("## Targets\n")
    w("| target | measured | verdict |")
    w("|---|---|---|")
    for t in issue.get("targets", []):
        w(f"| issuance: {t['target']} | {t['numbers']} | {verdict(t['verdict'] == 'met')} |")
    # Issue 17: many certificates in one run, and the busy disk.
    try:
        iscale = load("bench/issue-scale/results.json")
    except (OSError, ValueError):
        iscale = None
    if iscale:
        by = {(r["certs"], r["disk"]): r for r in iscale["rows"] if r["build"] == "after"}
        r300 = by.get((300, "quiet"))
        if r300:
            w(f"| issuance: 300 new certificates in one run ≤ 3 s, nothing visible before it is on "
              f"disk (issue 17) | median {r300['wall']['median']:.2f} s "
              f"({r300['wall']['min']:.2f}–{r300['wall']['max']:.2f} s), "
              f"{r300['syncs_per_cert']:.1f} fsyncs per certificate | "
              f"{verdict(r300['wall']['median'] <= 3)} |")
        q, b = by.get((1, "quiet")), by.get((1, "busy"))
        if q and b:
            ratio = b["wall"]["median"] / q["wall"]["median"]
            w(f"| issuance: one certificate on a busy disk ≤ 2× a quiet one (issue 17) | "
              f"{b['wall']['median']:.3f} s busy, {q['wall']['median']:.3f} s quiet "
              f"({ratio:.2f}×) | {verdict(ratio <= 2)} |")
    # Issue 17: the trigger's no-op pass beside the seed's loop.
    try:
        tscale = read("bench/pipeline/results-scale.md")
    except OSError:
        tscale = ""
    for line in tscale.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 9 and cells[0] == "1,000":
            w(f"| trigger no-op pass over 1,000 services ≤ the seed's shell loop (issue 17) | "
              f"certdrop-trigger {cells[1].split(' (')[0]}, the seed's loop {cells[5].split(' (')[0]} "
              f"({cells[7].split(' (')[0]}× the wall time) | {verdict(cells[8] == 'yes')} |")
    tg = dns["target"]
    w(f"| dns-01 through the drop directory on loopback: ≤ {tg['limit']:g} s to the certificate | "
      f"certdrop median {tg['unsigned']['median']:.3f} s unsigned, {tg['signed']['median']:.3f} s "
      f"signed (slowest {max(tg['unsigned']['max'], tg['signed']['max']):.3f} s) | "
      f"{verdict(tg['unsigned']['met'] and tg['signed']['met'])} |")
    zt = zone["targets"]
    w(f"| zone build at {zone['sizes'][-1]['records']:,} records ≥ {zt['speedup_min']:g}× faster "
      f"than the ldns-dane loop | {zt['speedup']:.0f}× | {verdict(zt['speedup_met'])} |")
    for t in zone.get("scale_targets", []):
        w(f"| zone build from scratch at {t['size']:,} static records ≤ {t['build_max_s']:g} s "
          f"and certdrop-zone ≤ {t['own_rss_max_kib'] // 1024} MiB peak RSS | "
          f"{t['build_wall_s']:.2f} s, {t['own_rss_kib'] / 1024:.0f} MiB | "
          f"{verdict(t['build_met'] and t['own_rss_met'])} |")
    for libc in ("glibc", "musl"):
        rows = [t for t in foot["targets"] if t["libc"] == libc]
        sizes = ", ".join(f"{t['binary'].removeprefix('certdrop-')} {t['stripped_bytes'] / 1e6:.2f} MB"
                          for t in rows)
        needs = sorted({n for t in rows for n in t["needs_beyond_libc"]})
        w(f"| zone, publish, trigger ≤ 3 MB stripped, no run-time dependency beyond libc ({libc} build) | "
          f"{sizes}; needs beyond libc: {', '.join(needs) or 'nothing'} | "
          f"{verdict(all(t['met'] for t in rows))} |")
    for t in faults.get("targets", []):
        w(f"| under faults (issue 11): {t['target']} | {t['numbers']} | {verdict(t['verdict'] == 'met')} |")
    for t in probe["targets"]:
        w(f"| probe (issue 13), {t['endpoint']}: no slower than openssl s_client | "
          f"certdrop-check probe {t['certdrop_s'] * 1000:.1f} ms, openssl s_client "
          f"{t['openssl_s'] * 1000:.1f} ms ({t['ratio']:.2f}×), without its CA store "
          f"{t['openssl_no_ca_s'] * 1000:.1f} ms ({t['ratio_no_ca']:.2f}×) | {verdict(t['met'])} |")
    w(f"| certdrop-check over {check['lines']} lines, no network: under {check['limit_ms']} ms | "
      f"slowest median of its forms (JSON, nagios, textfile) {check['slowest_median_ms']} ms; "
      f"the openssl x509 loop {check['loop_median_ms'] / 1000:.2f} s | {verdict(check['met'])} |")
    sizes = check.get("stripped_bytes", {})
    if sizes:
        w("| trigger and check under 4 MB stripped each (issue 13) | "
          + ", ".join(f"{b.removeprefix('certdrop-')} {n / 1e6:.2f} MB" for b, n in sorted(sizes.items()))
          + f" | {verdict(all(n < 4_000_000 for n in sizes.values()))} |")
    for r in cluster:
        if r["sites"] != 8 or r.get("pub_delivered_ms") is None:
            continue
        runs = [x["issue_ms"] + x["publish_ms"] + x["delivered_ms"] for x in r["each_pub_run"]]
        total = sorted(runs)[len(runs) // 2] / 1000
        w(f"| 8 sites converge after a renewal in under 10 s with short poll intervals (issue 15) | "
          f"issue to the last nginx serving it {total:.2f} s (median of {len(runs)}; pull + trigger "
          f"every 0.3 s per site); new TLSA set on every secondary {r['converged_ms'] / 1000:.2f} s "
          f"after the zone changed | {verdict(total < 10)} |")
    if persist:
        by = {s["kind"]: s for s in persist["summary"]}
        p, d, t = by.get("persist"), by.get("dns01"), persist["target"]
        if p and d and p["wall"] and d["wall"]:
            w(f"| dns-persist-01 renewal vs dns-01 through the drop directory (issue 18): faster, "
              f"nothing written to dnsextra/ | dns-persist-01 median {p['wall']['median']:.3f} s "
              f"({p['wall']['min']:.3f}–{p['wall']['max']:.3f}), dns-01 {d['wall']['median']:.3f} s "
              f"({d['wall']['min']:.3f}–{d['wall']['max']:.3f}), {t['ratio']:.1f}× faster; files in "
              f"dnsextra/ per renewal {p['files_per_renewal']['max']:g} against "
              f"{d['files_per_renewal']['median']:g} | {verdict(t['met'])} |")
    w("")
    w("The reading of these numbers — where a peer wins and why, what is not "
      "ours — is at the end: [Reading the numbers](#reading-the-numbers).\n")

    # Issuance.
    w("## 1. Issuance overhead (`bench/run`)\n")
    w(preamble(issue_md) + "\n")
    for t in tables(issue_md, 1):
        w(t + "\n")
    w("![median wall time per scenario and client](bench/plots/issue-wall.svg)\n")
    w("![median CPU time per scenario and client](bench/plots/issue-cpu.svg)\n")
    conc = section(issue_md, "Concurrency")
    if conc:
        w("Concurrency of certdrop-issue in scenario c (information, not a target):\n")
        for t in tables(conc, 1):
            w(t + "\n")
    w("Versions, every single run and the exact client commands: "
      "[bench/results.md](bench/results.md), [bench/README.md](bench/README.md).\n")
    scale_rel = "bench/issue-scale/results.md"
    if os.path.exists(os.path.join(TOP, scale_rel)):
        scale_md = read(scale_rel)
        w("### 1.1 At scale: 30 and 300 certificates in one run, fsyncs, busy disk "
          "(`bench/issue-scale/run`, issue 17)\n")
        w(preamble(scale_md) + "\n")
        for i, t in enumerate(tables(scale_md.split("## Every run")[0])):
            if i == 1:
                w("The peers in the same run, 30 certificates one after another "
                  "(one run each, quiet disk):\n")
            w(t + "\n")
        how = section(read("bench/issue-scale/README.md"), "How a run's certificates are made durable")
        if how:
            w(how + "\n")
        w(f"Every run: [{scale_rel}]({scale_rel}), [bench/issue-scale/README.md](bench/issue-scale/README.md).\n")

    # dns-01.
    w("## 2. dns-01 latency through the real path (`bench/dns01/run`)\n")
    w(preamble(dns_md) + "\n")
    by = {(x["variant"], x["tool"]): x for x in dns.get("summary", [])}
    if any(t == "certdrop-before" for _, t in by):
        # Before/after in the same run (issue 17): the commit before the
        # completion marker and the dense polls, its own watcher in turn.
        peers = [t for t in ("dehydrated", "lego") if any(k[1] == t for k in by)]
        w(f"Before and after, in the same run (before: {dns['versions'].get('certdrop-before', '?')}); "
          "seconds to the certificate, median (min–max):\n")
        w("| variant | certdrop before | certdrop after | faster | "
          + " | ".join(peers) + " |")
        w("|---|---|---|---|" + "---|" * len(peers))
        cell = lambda x: f"{x['median']:.3f} ({x['min']:.3f}–{x['max']:.3f})" if x else "–"
        for v in ("unsigned", "signed"):
            b, a = by.get((v, "certdrop-before")), by.get((v, "certdrop"))
            if not (a or b):
                continue
            ratio = f"{b['median'] / a['median']:.1f}×" if a and b else "–"
            w(f"| {v} | {cell(b)} | **{cell(a)}** | {ratio} | "
              + " | ".join(cell(by.get((v, t))) for t in peers) + " |")
        w("")
    for t in tables(dns_md, 1):
        w(t + "\n")
    waits = section(dns_md, "What each waits on")
    if waits:
        w("What each waits on (medians of the stages, seconds):\n")
        w(waits + "\n")
    w("![seconds to the certificate](bench/plots/dns01.svg)\n")
    w("Commands, versions, every run: [bench/dns01/results.md](bench/dns01/results.md).\n")

    # Zone.
    w("## 3. Zone build scaling (`bench/zone/run`)\n")
    w(section(zone_md, "Scaling") + "\n")
    if os.path.exists(os.path.join(TOP, "bench/zone/results-before.json")):
        w(zone_before_after(load("bench/zone/results-before.json"), zone) + "\n")
    w("![zone build time against size](bench/plots/zone-scaling.svg)\n")
    w("Breakdown of the 100k build, the same records both ways, every run: "
      "[bench/zone/results.md](bench/zone/results.md).\n")

    # Trigger.
    w("## 4. Trigger and publish passes (`bench/pipeline/run`)\n")
    w(preamble(pipe_md) + "\n")
    for t in tables(section(pipe_md, "Table"), 1):
        w(t + "\n")
    w("Where the trigger's time goes (system calls, memory): "
      "[bench/pipeline/results.md](bench/pipeline/results.md).\n")
    # Issue 17: the curve at 10 to 10,000 services and the first pass at
    # 1,000 (bench/pipeline/run writes them to results-scale.md).
    try:
        scale_md = read("bench/pipeline/results-scale.md")
    except OSError:
        scale_md = ""
    if scale_md:
        head = scale_md.split("\n## ", 1)[0].splitlines()
        w("### At scale (issue 17)\n")
        w("\n".join(l for l in head[1:] if l.strip()) + "\n")
        w(section(scale_md, "Scale").replace("\n### ", "\n#### ") + "\n")

    # Footprint.
    w("## 5. Footprint (`bench/footprint/run`)\n")
    w(preamble(foot_md) + "\n")
    for t in tables(section(foot_md, "certdrop binaries"), 1):
        w(t + "\n")
    for t in tables(section(foot_md, "Peers"), 1):
        w(t + "\n")
    w("![stripped size of each program](bench/plots/footprint.svg)\n")
    if sizes:
        w("certdrop-trigger and certdrop-check, which link the TLS client (issue 13: under "
          "4 MB stripped each), as `bench/check/run` measured them; the release profile now "
          "says `strip = true`, so the binary as built is the stripped one (the table above "
          "comes from the footprint run, which may predate it):\n")
        for t in tables(section(check_md, "Sizes"), 1):
            w(t + "\n")
    w("How the sizes were counted, and the commands: "
      "[bench/footprint/results.md](bench/footprint/results.md).\n")

    # Faults.
    w("## 6. One certificate under faults (`bench/run --scenarios f`)\n")
    f_section = section(faults_md, "f:")
    w(preamble("#\n" + f_section) + "\n")
    for t in tables(f_section, 1):
        w(t + "\n")
    w("Every run with the faults it met, and why the failed ones failed: "
      "[bench/results-faults.md](bench/results-faults.md); each client's own "
      "retry behaviour: [bench/README.md](bench/README.md).\n")

    # Probe and check.
    w("## 7. The TLS probe and certdrop-check (`bench/probe/run`, `bench/check/run`)\n")
    w(preamble(probe_md) + "\n")
    for t in tables(probe_md, 1):
        w(t + "\n")
    cmds = section(probe_md, "Commands")
    if cmds:
        w("The commands (ports change with each run):\n")
        w(cmds + "\n")
    vers = section(probe_md, "Versions")
    if vers:
        w(vers + "\n")
    w(preamble(check_md) + "\n")
    for t in tables(check_md, 1):
        w(t + "\n")
    w("Every run, the commands: [bench/probe/results.md](bench/probe/results.md), "
      "[bench/check/results.md](bench/check/results.md).\n")

    # Cluster convergence.
    w("## 8. Cluster convergence (`bench/cluster/run`, issue 15)\n")
    for rel, label in (("bench/cluster/results.md", None),
                       ("bench/cluster/results-reload0.md",
                        "The same with `xfrd-reload-timeout: 0` on the secondaries:")):
        if not os.path.exists(os.path.join(TOP, rel)):
            continue
        md = read(rel)
        if label:
            w(label + "\n")
        w(md.split("\n|", 1)[0].strip() + "\n")
        for t in tables(md):
            w(t + "\n")
    w(read("bench/cluster/reading.md").strip() + "\n")
    w("Every run: [bench/cluster/results.md](bench/cluster/results.md), "
      "[bench/cluster/results-reload0.md](bench/cluster/results-reload0.md) "
      "(and the `.json` beside each, with each run's numbers).\n")

    # dns-persist-01 (issue 18).
    if persist:
        persist_md = read("bench/persist/results.md")
        w("## 9. dns-persist-01 renewal against dns-01 through the drop directory "
          "(`bench/persist/run`, issue 18)\n")
        w(preamble(persist_md) + "\n")
        for t in tables(persist_md, 1):
            w(t + "\n")
        waits = section(persist_md, "Where the time goes")
        if waits:
            w("Where the time goes (medians of the stages, seconds):\n")
            w(waits + "\n")
        reading = section(read("bench/persist/README.md"), "Reading")
        if reading:
            w(reading + "\n")
        w("Every run, the issuer's -v output, versions: "
          "[bench/persist/results.md](bench/persist/results.md), "
          "[bench/persist/README.md](bench/persist/README.md).\n")

    # Versions and commands.
    w("## Versions and exact commands\n")
    versions = {}
    versions.update(issue["meta"].get("versions", {}))
    versions.update({k: v for k, v in dns.get("versions", {}).items() if k != "certdrop"})
    for k, v in foot.get("versions", {}).items():
        versions.setdefault(k, v)
    if persist:
        for k, v in persist.get("versions", {}).items():
            if k != "certdrop-issue":
                versions.setdefault(k, v)
    for v in zone.get("peers", []):
        name = {"OpenSSH": "ssh-keygen", "NSD": "nsd"}.get(
            v.split()[0].split("_")[0], v.split()[0])
        versions.setdefault(name, v)
    w("| program | version |")
    w("|---|---|")
    for k in sorted(versions):
        w(f"| {k} | {versions[k]} |")
    w("")
    w("Everything: `make bench` (scripts/install-deps, `cargo build --release`, "
      "then each harness in turn, then `python3 bench/report.py`):\n")
    w("```")
    w("sh bench/run --no-build            # issuance overhead; clients' flags: bench/README.md")
    w("python3 bench/issue-scale/run --no-build  # 1/30/300 certificates, fsyncs, quiet and busy disk")
    w("python3 bench/dns01/run --no-build # dns-01 through Pebble -> nsd")
    w("python3 bench/zone/run --no-build --tlsa-sample 200 --seed-runs 1  # zone builds at 10k/100k/1M records")
    w("python3 bench/pipeline/run --no-build  # trigger and publish passes")
    w("python3 bench/footprint/run        # sizes and run-time needs (builds musl too)")
    w("sh bench/run --scenarios f --fault-runs 40 --out bench/results-faults.md  # under faults")
    w("python3 bench/probe/run --no-build  # the TLS probe per endpoint (as root: postfix)")
    w("sh bench/check/run                 # certdrop-check over 100 lines; trigger and check sizes")
    w("python3 bench/cluster/run --no-build  # cluster convergence, 1..16 sites (as root: namespaces)")
    w("python3 bench/persist/run --no-build  # dns-persist-01 against dns-01 renewals (as root: namespaces)")
    w("python3 bench/report.py            # this file")
    w("```\n")
    cmds = section(dns_md, "Commands")
    if cmds:
        w("The dns-01 run's commands ($W is its temporary directory):\n")
        w(cmds + "\n")
    w("The issuance scenarios and each client's exact flags, key types and "
      "trust settings are in [bench/README.md](bench/README.md#what-is-measured); "
      "the zone scenario's generator and the seed loop in "
      "[bench/zone/README.md](bench/zone/README.md).\n")

    w("## Reading the numbers\n")
    w(notes + "\n")

    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text)
    path = os.path.join(TOP, "BENCHMARKS.md")
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    print(f"report: wrote {os.path.relpath(path, TOP)}")


if __name__ == "__main__":
    main()
