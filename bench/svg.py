"""Plots for the benchmark report as plain SVG (python3 stdlib only, so the
harness needs no plotting package): grouped horizontal bars on a log axis,
and lines on log-log axes. Used by bench/bench.py, bench/dns01/run,
bench/zone/run and bench/report.py."""

import math
from xml.sax.saxutils import escape

PALETTE = ["#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f",
           "#6c757d", "#2e4057"]
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'


def _ticks(lo, hi):
    """Powers of ten (and 2x, 5x when the span is short) between lo and hi."""
    out = []
    e = math.floor(math.log10(lo))
    span = math.log10(hi) - math.log10(lo)
    steps = (1, 2, 5) if span < 3 else (1,)
    while 10 ** e <= hi * 1.0001:
        for m in steps:
            v = m * 10 ** e
            if lo * 0.9999 <= v <= hi * 1.0001:
                out.append(v)
        e += 1
    return out


def _fmt(v):
    if v >= 1000:
        return f"{v / 1000:g}k" if v < 1e6 else f"{v / 1e6:g}M"
    if v >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


def bars(path, title, unit, groups, series, values, note=""):
    """Horizontal grouped bars, log x axis.

    groups: category labels (one block each, e.g. scenarios);
    series: names within a group (e.g. tools), one colour each;
    values[(group, series)] = number (missing keys are skipped)."""
    row, gap, left, right, top = 16, 10, 190, 90, 46
    nrows = sum(1 for g in groups for s in series if (g, s) in values)
    foot = 18 if note else 0  # the note has its own line below the axis label
    height = top + nrows * row + len(groups) * gap + 60 + foot
    width = 760
    vals = [v for v in values.values() if v and v > 0]
    lo = 10 ** math.floor(math.log10(min(vals)))
    hi = 10 ** math.ceil(math.log10(max(vals)))
    if hi / lo < 10:
        hi = lo * 10
    span = math.log10(hi) - math.log10(lo)
    plot_w = width - left - right

    def x(v):
        return left + plot_w * (math.log10(v) - math.log10(lo)) / span

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" {FONT} font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14" '
           f'font-weight="bold">{escape(title)}</text>']
    bottom = height - 40 - foot
    for t in _ticks(lo, hi):
        out.append(f'<line x1="{x(t):.1f}" y1="{top - 6}" x2="{x(t):.1f}" y2="{bottom}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{x(t):.1f}" y="{bottom + 14}" text-anchor="middle">'
                   f'{_fmt(t)}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{bottom + 30}" text-anchor="middle">'
               f'{escape(unit)} (log scale)</text>')
    y = top
    for g in groups:
        present = [s for s in series if (g, s) in values]
        if not present:
            continue
        out.append(f'<text x="8" y="{y + row * len(present) / 2 + 4:.1f}" '
                   f'font-weight="bold">{escape(g)}</text>')
        for s in present:
            v = values[(g, s)]
            colour = PALETTE[series.index(s) % len(PALETTE)]
            out.append(f'<text x="{left - 6}" y="{y + row - 5}" text-anchor="end">'
                       f'{escape(s)}</text>')
            out.append(f'<rect x="{left}" y="{y + 2}" width="{max(x(v) - left, 1):.1f}" '
                       f'height="{row - 4}" fill="{colour}"/>')
            out.append(f'<text x="{x(v) + 4:.1f}" y="{y + row - 5}">{_fmt(v)}</text>')
            y += row
        y += gap
    if note:
        out.append(f'<text x="8" y="{height - 8}" fill="#555">{escape(note)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def lines(path, title, xlabel, ylabel, series, note=""):
    """Lines on log-log axes. series: {name: [(x, y), ...]}."""
    width, height, left, right, top, bottom_m = 760, 440, 80, 160, 46, 60
    xs = [p[0] for pts in series.values() for p in pts]
    ys = [p[1] for pts in series.values() for p in pts if p[1] > 0]
    xlo, xhi = 10 ** math.floor(math.log10(min(xs))), 10 ** math.ceil(math.log10(max(xs)))
    ylo, yhi = 10 ** math.floor(math.log10(min(ys))), 10 ** math.ceil(math.log10(max(ys)))
    pw, ph = width - left - right, height - top - bottom_m

    def px(v):
        return left + pw * (math.log10(v) - math.log10(xlo)) / (math.log10(xhi) - math.log10(xlo))

    def py(v):
        return top + ph - ph * (math.log10(v) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" {FONT} font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14" '
           f'font-weight="bold">{escape(title)}</text>']
    for t in _ticks(xlo, xhi):
        out.append(f'<line x1="{px(t):.1f}" y1="{top}" x2="{px(t):.1f}" y2="{top + ph}" stroke="#ddd"/>')
        out.append(f'<text x="{px(t):.1f}" y="{top + ph + 14}" text-anchor="middle">{_fmt(t)}</text>')
    for t in _ticks(ylo, yhi):
        out.append(f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + pw}" y2="{py(t):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 24}" text-anchor="middle">'
               f'{escape(xlabel)} (log scale)</text>')
    out.append(f'<text x="16" y="{top + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {top + ph / 2})">{escape(ylabel)} (log scale)</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        pts = sorted(p for p in pts if p[1] > 0)
        d = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in pts)
        out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for a, b in pts:
            out.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3" fill="{colour}"/>')
        ly = top + 10 + i * 18
        out.append(f'<line x1="{left + pw + 12}" y1="{ly}" x2="{left + pw + 32}" y2="{ly}" '
                   f'stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{left + pw + 36}" y="{ly + 4}">{escape(name)}</text>')
    if note:
        out.append(f'<text x="8" y="{height - 6}" fill="#555">{escape(note)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
