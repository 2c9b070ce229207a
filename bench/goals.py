#!/usr/bin/env python3
"""The hot path's goals, each beside its peer from the same `make bench` run, met or not.

    bench/goals.py OUT_DIR RESULTS.md

Reads the run's JSON reports (and retained.tsv, ttft.txt when present) from OUT_DIR and inserts a
"Goals" table after the first paragraph of RESULTS.md. A figure that was not measured says so.
"""
import json
import os
import re
import statistics
import sys

out, results = sys.argv[1], sys.argv[2]


def load(name):
    try:
        return json.load(open(os.path.join(out, name + ".json")))
    except (OSError, ValueError):
        return None


def g(r, *path):
    for k in path:
        if not isinstance(r, dict) or k not in r:
            return None
        r = r[k]
    return r


def fmt(v, unit="", d=1):
    return "not measured" if v is None else f"{v:,.{d}f}{unit}"


rows = []


def runs(name):
    """A point and its repeats (NAME, NAME_r2, NAME_r3, ...), as bench/run.sh names them."""
    out_runs, r = [load(name)], 2
    while (x := load(f"{name}_r{r}")) is not None:
        out_runs.append(x)
        r += 1
    return out_runs


def paired(ours_name, peer_name, figure, d=1):
    """The median of each side's figure over the pairs run back to back, the median of the pairs'
    ratios, and a note listing every pair. With one pair: that pair, and no note."""
    ours = [figure(r) for r in runs(ours_name)]
    peer = [figure(r) for r in runs(peer_name)]
    pairs = [(a, b) for a, b in zip(ours, peer) if a is not None and b is not None]
    lone = [a for a in ours if a is not None]
    if len(pairs) < 2:
        if len(lone) >= 2 and not any(b is not None for b in peer):
            return statistics.median(lone), None, None, (
                f"median of {len(lone)} runs: " + " / ".join(f"{a:,.{d}f}" for a in lone))
        return (ours[0], peer[0] if peer else None, None, "")
    ratio = statistics.median(a / b for a, b in pairs if b)
    note = (f"median of {len(pairs)} pairs run back to back; streamgate / peer: "
            + ", ".join(f"{a:,.{d}f} / {b:,.{d}f}" for a, b in pairs))
    return statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs), ratio, note


def row(goal, ours, peer_label, peer, ratio_limit=None, absolute=None, note="", ratio=None, d=1):
    """ratio_limit: ours/peer must be <= it; absolute: (limit, unit) ours must be below it.
    ratio: the median of paired ratios, when the figures are medians of pairs."""
    if ratio is None:
        ratio = ours / peer if ours is not None and peer else None
    met = None
    if ours is not None:
        met = True
        if ratio_limit is not None:
            met = ratio is not None and ratio <= ratio_limit
        if absolute is not None:
            met = met and ours <= absolute
    verdict = "–" if met is None else ("met" if met else "not met")
    rows.append((goal, ours, peer_label, peer, ratio, verdict, note, d))


# 1. CPU per delivered chunk versus Node, at each load measured. A chunk carries one token unless
# the server merged a lagging reader's chunks (past its capacity, or behind a full socket); the
# figure compared is CPU per delivered token, which is CPU per chunk whenever nothing merged. Node
# writes every token as a frame of its own, so its two figures are always the same.
def per_token(r):
    cpu, frames, tokens = g(r, "server", "cpu_us_per_chunk"), g(r, "chunks", "frames"), g(r, "chunks", "tokens")
    if cpu is None or not frames:
        return None
    return cpu * frames / tokens if tokens and tokens > frames else cpu


for n in (500, 2000, 10000):
    s, nd = load(f"streamgate_stream_{n}"), load(f"node_stream_{n}")
    if s is None and nd is None:
        continue
    cpu, peer_cpu, ratio, note = paired(f"streamgate_stream_{n}", f"node_stream_{n}", per_token)
    merged = [(g(r, "chunks", "tokens") / g(r, "chunks", "frames"), g(r, "server", "cpu_us_per_chunk"))
              for r in runs(f"streamgate_stream_{n}")
              if g(r, "chunks", "frames") and g(r, "chunks", "tokens") and g(r, "chunks", "tokens") > 1.05 * g(r, "chunks", "frames")]
    if merged:
        note = ("merged (past capacity): " + ", ".join(f"{t:.1f} tokens per frame, {c:.1f} µs per frame" for t, c in merged)
                + "; compared per delivered token" + (f". {note}" if note else ""))
    row(f"server CPU per delivered chunk, {n:,} streams ≤ 0.6× Node (µs)", cpu,
        "Node `ws`", peer_cpu, ratio_limit=0.6, note=note, ratio=ratio)
# 2. Lateness at half capacity.
hs, hn = load("streamgate_half"), load("node_half")
sl, nl = g(hs, "lateness_us", "p99"), g(hn, "lateness_us", "p99")


def buckets(path, name):
    """A histogram's cumulative bucket counts from a /metrics scrape: {upper bound in s: count}."""
    try:
        text = open(path).read()
    except OSError:
        return None
    got = {}
    for m in re.finditer(name + r'_bucket\{le="([^"]+)"\} (\d+)', text):
        got[float("inf") if m.group(1) == "+Inf" else float(m.group(1))] = int(m.group(2))
    return got or None


def over(name, bound_s):
    """Share (%) and count of the window's observations above `bound_s`, from the two scrapes."""
    a = buckets(os.path.join(out, "streamgate_half.metrics0"), name)
    b = buckets(os.path.join(out, "streamgate_half.metrics1"), name)
    if not a or not b or bound_s not in b:
        return None
    total = b[float("inf")] - a.get(float("inf"), 0)
    if total <= 0:
        return None
    within = b[bound_s] - a.get(bound_s, 0)
    return 100.0 * (total - within) / total, total


late_note = ""
written, woke = over("streamgate_chunk_lateness_seconds", 0.001), over("streamgate_event_loop_lag_seconds", 0.001)
if written and woke:
    late_note = (f"streamgate's own histograms over the window: {written[0]:.2f}% of {written[1]:,} chunks written more "
                 f"than 1 ms after due, {woke[0]:.2f}% of {woke[1]:,} event-loop wake-ups more than 1 ms after their "
                 "tick; what sgbench sees beyond that came after the write")
row(f"chunk lateness p99 at half capacity ({g(hs, 'connections') or '?'} streams) ≤ Node's and < 2,000 µs",
    sl, "Node `ws`, same load", nl, ratio_limit=1.0, absolute=2000, note=late_note)
# 3. Idle memory.
si, ni = load("streamgate_idle"), load("node_idle")
rss, rss_peer, rss_ratio, rss_note = paired("streamgate_idle", "node_idle",
                                            lambda r: g(r, "server", "rss_per_connection_kib"), d=3)
row(f"RSS per idle WebSocket ({g(si, 'connected') or '?'} open) ≤ 4 KiB", rss, "Node `ws`", rss_peer, absolute=4.0,
    note=rss_note, ratio=rss_ratio, d=3)
# 4. CPU per accepted WebSocket.
acc = lambda r: 1e6 / g(r, "connect", "per_server_cpu_s") if g(r, "connect", "per_server_cpu_s") else None
a_ours, a_peer, a_ratio, a_note = paired("streamgate_idle", "node_idle", acc)
# The accept floor (bench/floor/accept_floor.cpp), measured in the same runs: what any server pays.
a_floor = [x for x in (acc(r) for r in runs("floor_idle") if r) if x is not None]
if a_floor and a_ours is not None:
    fl = statistics.median(a_floor)
    a_note = (f"the accept floor: {fl:,.1f} µs (" + " / ".join(f"{x:,.1f}" for x in a_floor) + f"); streamgate "
              f"{a_ours / fl:.2f}x of it" + (f", Node {a_peer / fl:.2f}x" if a_peer else "") + (f". {a_note}" if a_note else ""))
row("server CPU per accepted WebSocket ≤ 50 µs", a_ours, "Node `ws`", a_peer, absolute=50, note=a_note, ratio=a_ratio)
# 5. Retained streams: RSS slope per retained stream over the retention window.
tsv = os.path.join(out, "retained.tsv")
if os.path.exists(tsv):
    pts = []
    for line in open(tsv).read().splitlines()[1:]:
        p = line.split("\t")
        try:
            pts.append((float(p[0]), float(p[1]), float(p[2])))
        except (ValueError, IndexError):
            pass
    per, note = None, "RSS growth / retained streams added while the retention window fills"
    if len(pts) >= 6:
        # The run keeps streams for half its length (bench/run.sh): from a third of the window (past
        # start-up) to its end, RSS growth per retained stream added; then RSS over the second half,
        # while streams expire as fast as they finish, should stay flat.
        end = pts[-1][0]
        fill = [p for p in pts if p[0] <= end / 2]
        a, b = fill[len(fill) // 3], fill[-1]
        if b[2] > a[2]:
            per = (b[1] - a[1]) * 1024 / (b[2] - a[2])
        after = [p for p in pts if p[0] >= end / 2]
        top = max(p[1] for p in after)
        note += (f"; after the window RSS went {after[0][1]:.1f} → {after[-1][1]:.1f} MiB "
                 f"(max {top:.1f}) holding {after[0][2]:,.0f} → {after[-1][2]:,.0f} streams")
    row("RSS per finished stream kept for resume ≤ 2 KiB + its text (~0.6 KiB)", per, "–", None, absolute=2.6,
        note=note)
else:
    row("RSS per finished stream kept for resume ≤ 2 KiB + its text", None, "–", None, note="retained run skipped")
# 6. Proxy path.
pd, pn, ps = load("proxy_direct"), load("proxy_nginx"), load("proxy_streamgate")
p_ours, p_peer, p_ratio, p_note = paired("proxy_streamgate", "proxy_nginx", lambda r: g(r, "server", "cpu_us_per_chunk"))
row("proxy CPU per chunk ≤ 1.25× nginx (µs)", p_ours, "nginx worker", p_peer, ratio_limit=1.25, note=p_note, ratio=p_ratio)


def added(r, q):
    a, b = g(r, "lateness_us", q), g(pd, "lateness_us", q)
    return None if a is None or b is None else max(a - b, 0)


# Added latency against one direct run: the median over the pairs of each side (a ratio of values
# clamped at 0 means little, so none is taken).
l_ours, l_peer, _, l_note = paired("proxy_streamgate", "proxy_nginx", lambda r: added(r, "p99"))
row("added latency per proxied chunk, p99 ≤ nginx's (µs)", l_ours, "nginx", l_peer, ratio_limit=1.0, note=l_note,
    ratio=(None if l_ours is None or l_peer is None else l_ours / l_peer if l_peer else (0.0 if l_ours == 0 else None)))
ttft = os.path.join(out, "ttft.txt")


def ttft_added_p99(key):
    if not os.path.exists(ttft):
        return None
    for line in open(ttft):
        if key in line:
            m = re.search(r"p99\s+(-?[\d.]+) ms", line)
            if m:
                return max(float(m.group(1)) * 1000, 0.0)  # below the direct path's p99: within its noise
    return None


# nginx in front of the same fake (when installed) is shown beside the completions row; the goal stays absolute.
nginx_ttft = ttft_added_p99("added by nginx, /v1/chat/completions")
for label, key in (("/v1/chat/completions", "added by streamgate, /v1/chat/completions"),
                   ("/v1/streams", "added by streamgate, /v1/streams")):
    peer = nginx_ttft if label == "/v1/chat/completions" else None
    row(f"TTFT added at p99, {label} < 1,000 µs", ttft_added_p99(key), "nginx, same fake" if peer is not None else "goal", peer,
        absolute=1000)
# 7. Two threads.
t1, t2 = load("threads_1"), load("threads_2")
row("delivered chunks/s at saturation, `--threads 2` ≥ 1.8× `--threads 1`", g(t2, "chunks", "frames_per_s"),
    "`--threads 1`", g(t1, "chunks", "frames_per_s"),
    note="not run: on 2 cores the load generator needs a core of its own" if t2 is None else "")
if t1 and t2:
    r = rows[-1]
    ratio = r[1] / r[3] if r[3] else None
    rows[-1] = (r[0], r[1], r[2], r[3], ratio, "met" if ratio and ratio >= 1.8 else "not met", r[6], r[7])

L = ["## Goals of the hot path\n",
     "Each goal beside its peer in this run; ratio = streamgate / peer (for chunks/s, above 1 is better). "
     "Where the note says \"median of N pairs\", the point was run N times, streamgate and its peer back to "
     "back each time (`PAIRS`, bench/run.sh): the figures are each side's median and the ratio is the "
     "median of the pairs' ratios; the note lists every pair.\n",
     "| goal | streamgate | peer | peer's figure | ratio | verdict | note |", "|---|---|---|---|---|---|---|"]
for goal, ours, peer_label, peer, ratio, verdict, note, d in rows:
    L.append(f"| {goal} | {fmt(ours, d=d)} | {peer_label} | {fmt(peer, d=d) if peer_label not in ('–', 'goal') else '–'} | "
             f"{'–' if ratio is None else f'{ratio:.2f}x'} | {verdict} | {note} |")
L.append("")
text = open(results).read()
# A table from an earlier pass over the same report is replaced.
old = re.search(r"## Goals of the hot path\n.*?(?=\n## )", text, re.S)
if old:
    text = text[:old.start()] + text[old.end() + 1:]
# After the header block (the first blank line following the bullet list of the machine).
marker = "\n## "
at = text.find(marker)
text = text[:at + 1] + "\n".join(L) + "\n" + text[at + 1:] if at >= 0 else text + "\n" + "\n".join(L) + "\n"
open(results, "w").write(text)
print("\n".join(L))
