#!/usr/bin/env python3
"""Turn the vhostd-bench JSON reports of scripts/bench.sh into
docs/bench/results.md (a Markdown table with min/median/max over the
rounds, and the issue's goals checked against the medians) and the data
and script for the gnuplot chart (results.dat, results.gp).

usage: bench_report.py JSON_DIR OUT_DIR LOAD_BEFORE LOAD_AFTER ROUNDS DURATION
"""

import glob
import json
import os
import statistics
import sys

jdir, out, load0, load1, rounds, dur = sys.argv[1:7]

runs = {}
order = []
for path in sorted(glob.glob(os.path.join(jdir, "*.json"))):
    label, kind, _ = os.path.basename(path)[:-5].split("@")
    with open(path) as f:
        r = json.load(f)
    if (label, kind) not in runs:
        runs[(label, kind)] = []
    runs[(label, kind)].append(r)
    if label not in order:
        order.append(label)

ROWS = ["disk-4k-rand-qd32", "disk-4k-rand-qd1", "disk-128k-seq-qd4",
        "shm-4k-rand-qd32", "shm-4k-rand-qd32-2q", "shm-4k-rand-qd1",
        "shm-128k-seq-qd4", "rng-64-qd1", "rng-64-qd32", "rng-64k-qd8",
        "vsock-64k-g2h", "vsock-64k-h2g"]
labels = [l for l in ROWS if l in order] + [l for l in order if l not in ROWS]


def mmm(xs):
    """(min, median, max) of a list, None when empty."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return (min(xs), statistics.median(xs), max(xs))


def fmt(t, f="%.0f"):
    if t is None:
        return "-"
    return "/".join(f % x for x in t)


def dev(label, kind, key, sub=None):
    rs = runs.get((label, kind), [])
    if sub is None:
        return mmm([r["device"][key] for r in rs])
    return mmm([r["device"][key][sub] for r in rs])


def raw(label, kind, name, key):
    rs = runs.get((label, kind), [])
    vals = []
    for r in rs:
        for x in r["raw"]:
            if x["name"] == name:
                vals.append(x[key])
    return mmm(vals)


def med(t):
    return None if t is None else t[1]


lines = []
lines.append("| workload | back-end | ops/s min/med/max | MB/s med | "
             "p50 µs med | p99 µs min/med/max | CPU µs/op med | "
             "baseline | baseline ops/s med | device/baseline min/med/max |")
lines.append("|---|---|---|---|---|---|---|---|---|---|")
dat = []
for label in labels:
    for kind in ("vhostd", "qsd"):
        rs = runs.get((label, kind))
        if not rs:
            continue
        base = rs[0]["raw"][0]["name"] if rs[0]["raw"] else None
        ops = dev(label, kind, "ops_per_s")
        mb = dev(label, kind, "mb_per_s")
        p50 = dev(label, kind, "lat_us", "p50")
        p99 = dev(label, kind, "lat_us", "p99")
        cpu = dev(label, kind, "cpu_us_per_op")
        bops = raw(label, kind, base, "ops_per_s") if base else None
        rat = raw(label, kind, base, "ratio") if base else None
        lines.append("| %s | %s | %s | %.1f | %.1f | %s | %s | %s | %s | %s |" % (
            label, "qemu-storage-daemon" if kind == "qsd" else kind,
            fmt(ops), med(mb), med(p50), fmt(p99, "%.0f"),
            "%.2f" % med(cpu) if cpu else "-", base or "-",
            "%.0f" % med(bops) if bops else "-", fmt(rat, "%.2f")))
        if label.startswith("rng-64-qd1"):
            pp = raw(label, kind, "eventfd-pingpong", "ops_per_s")
            pr = raw(label, kind, "eventfd-pingpong", "ratio")
            if pp:
                lines.append("| %s | (round trip) | | | | | | "
                             "eventfd-pingpong | %.0f | %s |" % (
                                 label, med(pp), fmt(pr, "%.2f")))
    v = dev(label, "vhostd", "ops_per_s")
    q = dev(label, "qsd", "ops_per_s")
    base = None
    rs = runs.get((label, "vhostd")) or runs.get((label, "qsd"))
    if rs and rs[0]["raw"]:
        base = raw(label, "vhostd" if (label, "vhostd") in runs else "qsd",
                   rs[0]["raw"][0]["name"], "ops_per_s")
    row = [label]
    for t in (v, q, base):
        row += ["%.0f %.0f %.0f" % (t[1], t[0], t[2]) if t else "NaN NaN NaN"]
    dat.append(" ".join(row))

# The goals of issue 9, on the medians.
goals = []


def goal(text, value, ok):
    if value is None:
        goals.append("| %s | not measured | |" % text)
    else:
        goals.append("| %s | %.2f | %s |" % (text, value, "met" if ok(value) else "**short**"))


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def r_raw(label, kind="vhostd"):
    rs = runs.get((label, kind))
    if not rs or not rs[0]["raw"]:
        return None
    return med(raw(label, kind, rs[0]["raw"][0]["name"], "ratio"))


m = lambda label, kind="vhostd": med(dev(label, kind, "ops_per_s"))
p99 = lambda label, kind="vhostd": med(dev(label, kind, "lat_us", "p99"))
goal("disk 4K rand QD32 1q: vhostd / qemu-storage-daemon IOPS (≥ 1.2)",
     ratio(m("disk-4k-rand-qd32"), m("disk-4k-rand-qd32", "qsd")), lambda x: x >= 1.2)
goal("disk 4K rand QD32 1q: vhostd / raw io_uring (≥ 0.8)",
     r_raw("disk-4k-rand-qd32"), lambda x: x >= 0.8)
goal("shm 4K rand QD32 1q: vhostd / qemu-storage-daemon IOPS (≥ 1.5)",
     ratio(m("shm-4k-rand-qd32"), m("shm-4k-rand-qd32", "qsd")), lambda x: x >= 1.5)
goal("shm 4K rand QD32: vhostd 2 queues / 1 queue (≥ 1.3)",
     ratio(m("shm-4k-rand-qd32-2q"), m("shm-4k-rand-qd32")), lambda x: x >= 1.3)
goal("shm 4K rand QD1: vhostd / qemu-storage-daemon p99 latency (≤ 0.8)",
     ratio(p99("shm-4k-rand-qd1"), p99("shm-4k-rand-qd1", "qsd")), lambda x: x <= 0.8)
goal("shm 128K seq read: vhostd / raw (≥ 0.9)",
     r_raw("shm-128k-seq-qd4"), lambda x: x >= 0.9)
a, b = r_raw("shm-4k-rand-qd32-2q"), r_raw("shm-4k-rand-qd32")
goal("shm 4K QD32: 2q ratio to raw (2 threads) / 1q ratio to raw (≥ 0.9)",
     ratio(a, b), lambda x: x >= 0.9)
goal("rng 64 B QD32: vhostd / getrandom(64) calls (≥ 1.0)",
     r_raw("rng-64-qd32"), lambda x: x >= 1.0)
goal("rng 64 KiB QD8: vhostd / getrandom(64K) (≥ 0.9)",
     r_raw("rng-64k-qd8"), lambda x: x >= 0.9)
goal("vsock 64 KiB guest to host: vhostd / unix-socket stream (≥ 0.6)",
     r_raw("vsock-64k-g2h"), lambda x: x >= 0.6)
goal("vsock 64 KiB host to guest: vhostd / unix-socket stream (≥ 0.6)",
     r_raw("vsock-64k-h2g"), lambda x: x >= 0.6)
pr = raw("rng-64-qd1", "vhostd", "eventfd-pingpong", "ratio")
goal("rng 64 B QD1: round trip / eventfd ping-pong (≤ 1.3)",
     None if pr is None else 1 / med(pr), lambda x: x <= 1.3)

with open(os.path.join(out, "results.md"), "w") as f:
    f.write("<!-- written by scripts/bench.sh; do not edit -->\n")
    f.write("Measured by `scripts/bench.sh` with vhostd-bench: %s rounds of "
            "%s s per run, vhostd and qemu-storage-daemon alternated; "
            "load average %s before, %s after (2 cores shared with "
            "other work).  Figures are min/median/max over the rounds; "
            "the baseline is measured in the same run as the device.\n\n"
            % (rounds, dur, load0, load1))
    f.write("\n".join(lines) + "\n\n")
    f.write("| goal (issue 9), on medians | measured | |\n|---|---|---|\n")
    f.write("\n".join(goals) + "\n")

with open(os.path.join(out, "results.dat"), "w") as f:
    f.write("# label vhostd(med min max) qsd(med min max) baseline(med min max), ops/s\n")
    f.write("\n".join(dat) + "\n")

with open(os.path.join(out, "results.gp"), "w") as f:
    f.write("""# written by scripts/bench.sh: gnuplot results.gp
set terminal pngcairo size 1200,600 noenhanced font ",10"
set output '%(out)s/results.png'
set title "vhostd-bench: median ops/s (bars: min..max over %(rounds)s rounds)"
set style data histograms
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "ops/s (log)"
set yrange [1000:*]
set xtics rotate by -30
set key outside bottom center horizontal
set grid ytics
plot '%(out)s/results.dat' using 2:3:4:xtic(1) title "vhostd", \\
     '' using 5:6:7 title "qemu-storage-daemon", \\
     '' using 8:9:10 title "baseline (getrandom / io_uring / unix stream)"
""" % {"out": out, "rounds": rounds})
