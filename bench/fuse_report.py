#!/usr/bin/env python3
"""Summarises bench/fuse_bench.sh results: medians per target and workload, the ratios the
issue's goals are stated in (median over median, judged against the goal), the same ratio run
by run (each run measures every target in the same minutes, so its spread shows the machine's
noise), and (with a second argument) a PNG bar chart drawn by gnuplot.

Usage: fuse_report.py RESULTS.txt [PLOT.png]
RESULTS.txt holds lines "TARGET run=N RESULT wK key=value ...", as fuse_bench.sh writes them.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

# workload: (metric, label, goal ratio, goal baseline)
WORKLOADS = {
    "w1": ("MBps", "W1 1 MiB writes", 0.9, "backing"),
    "w2": ("MBps", "W2 4 KiB writes", 0.8, "null"),
    "w3": ("opsps", "W3 random+fsync", 0.7, "backing"),
    "w4": ("MBps", "W4 cold read", 0.7, "backing"),
    "w5": ("opsps", "W5 metadata", 0.3, "backing"),
}
TARGETS = ("backing", "errseqfs", "null")


def parse(path):
    runs = {}  # (target, workload) -> {key: [values]}
    by_run = {}  # (target, workload, key) -> {run number: value}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4 or parts[2] != "RESULT":
                continue
            target, wl = parts[0], parts[3]
            run = parts[1].split("=", 1)[1] if parts[1].startswith("run=") else None
            for kv in parts[4:]:
                if "=" in kv:
                    k, v = kv.split("=", 1)
                    try:
                        runs.setdefault((target, wl), {}).setdefault(k, []).append(float(v))
                        if run is not None:
                            by_run.setdefault((target, wl, k), {})[run] = float(v)
                    except ValueError:
                        pass
    return runs, by_run


def run_ratios(by_run, wl, key, base):
    """errseqfs over `base`, run by run (each run measures every target in the same minutes):
    how far the ratio swings between repetitions."""
    ours = by_run.get(("errseqfs", wl, key), {})
    theirs = by_run.get((base, wl, key), {})
    return [ours[r] / theirs[r] for r in sorted(ours, key=int) if r in theirs and theirs[r]]


def median(runs, target, wl, key):
    vals = runs.get((target, wl), {}).get(key)
    return statistics.median(vals) if vals else None


def w3_bound(runs):
    """A reference for W3: the ratio a FUSE server reaches here if its requests cost what the
    null fs's cost and, after them, its host writes and fsync cost what the backing run's cost,
    one after the other (a page reaches the host only when it is written back, at the fsync:
    before, a later fault, crash or revert must still find the old data there). A batch then
    takes T_null + T_backing, and the ratio is T_backing / (T_backing + T_null). Writing back
    through the host's page cache, that is a bound; errseqfs writes an fsync's pages with direct
    I/O, all at once, which costs the host less than the backing run's own writes and fsync, so
    it could pass it (docs/benchmarks.md, "fsync writes with direct I/O")."""
    b = median(runs, "backing", "w3", "opsps")
    n = median(runs, "null", "w3", "opsps")
    if not b or not n or median(runs, "errseqfs", "w3", "opsps") is None:
        return None
    return (1 / b) / (1 / b + 1 / n)


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        runs, by_run = parse(sys.argv[1])
    except OSError as e:
        print(f"fuse_report: {e}", file=sys.stderr)
        return 2
    rows = []
    print("| workload | backing | errseqfs | null FUSE | errseqfs ratio | goal "
          "| ratio run by run: median (each) |")
    print("|---|---|---|---|---|---|---|")
    for wl, (key, label, goal, base) in WORKLOADS.items():
        med = {t: median(runs, t, wl, key) for t in TARGETS}
        if med["errseqfs"] is None or med[base] is None:
            continue
        ratio = med["errseqfs"] / med[base]
        null_ratio = med["null"] / med["backing"] if med["null"] and med["backing"] else None
        verdict = "met" if ratio >= goal else "**missed**"
        cells = " | ".join(f"{med[t]:.0f}" if med[t] is not None else "-" for t in TARGETS)
        rr = run_ratios(by_run, wl, key, base)
        per_run = (f"{statistics.median(rr):.2f} ({', '.join(f'{r:.2f}' for r in rr)})"
                   if rr else "-")
        print(f"| {label} ({key}) | {cells} | {ratio:.2f}x {base} | >= {goal}x: {verdict} | "
              f"{per_run} |")
        rows.append((label, med["errseqfs"] / med["backing"], null_ratio, goal if base == "backing"
                     else goal * (null_ratio or 0)))
    p50 = {t: median(runs, t, "w3", "p50_us") for t in TARGETS}
    p99 = {t: median(runs, t, "w3", "p99_us") for t in TARGETS}
    if p50["errseqfs"] is not None:
        print("| W3 fsync p50 / p99 (us) | " + " | ".join(
            f"{p50[t]:.0f} / {p99[t]:.0f}" if p50[t] is not None else "-" for t in TARGETS) +
              " | | | |")
    bound = w3_bound(runs)
    if bound is not None:
        ours = median(runs, "errseqfs", "w3", "opsps") / median(runs, "backing", "w3", "opsps")
        print(f"W3 reference: {bound:.2f}x backing for a FUSE server with the null fs's requests "
              f"and the backing run's writes and fsync, one after the other (errseqfs reaches "
              f"{ours / bound:.0%} of it)")
    n = max((len(v) for (t, _), kv in runs.items() if t == "errseqfs" for v in kv.values()),
            default=0)
    print(f"(medians of {n} runs per target)")
    if len(sys.argv) == 3:
        return plot(rows, sys.argv[2])
    return 0


def plot(rows, png):
    if not shutil.which("gnuplot"):
        print("fuse_report: gnuplot not found (apt-get install gnuplot-nox)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "ratios.dat")
        with open(data, "w", encoding="utf-8") as f:
            for label, ours, null, goal in rows:
                f.write(f'"{label}" {ours:.3f} {null if null is not None else 0:.3f} {goal:.3f}\n')
        script = f"""
set terminal png size 1000,520 font ",11"
set output "{png}"
set title "errseqfs and a null FUSE file system, as a fraction of the backing directory (medians)"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:2]
set grid ytics
set ylabel "throughput / backing directory"
set xtics noenhanced
set key top right
plot "{data}" using 2:xtic(1) title "errseqfs", \\
     "" using 3 title "null FUSE (the FUSE limit)", \\
     "" using ($0-0.17):4 with points pt 7 ps 1.5 lc rgb "red" title "goal (W2: 0.8x null)", \\
     "" using ($0+0.17):($3 > 2 ? 1.9 : 1/0):(sprintf("%.1fx", $3)) with labels notitle
"""
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        if r.returncode != 0:
            print(f"fuse_report: gnuplot failed: {r.stderr.strip()}", file=sys.stderr)
            return 1
    print(f"plot written to {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
