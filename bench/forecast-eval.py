#!/usr/bin/python3
"""Accuracy of shadownet-forecast --online on the real traces (docs/forecasting.md).

    bench/forecast-eval.py --tool build-fc/app/shadownet-forecast/shadownet-forecast \
        [--traffic ../shared/data/traffic] [--markdown]

For each trace: one-step-ahead MAPE / sMAPE, two-sided 95 % interval coverage
and p95 capacity coverage of the automatic model with continuous learning;
then day-ahead (h = one period) accuracy of the same engine against seasonal
naive, on exactly the same target points (joined on t). Standard library only.
"""
import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile
import time

TRACES = [
    ("inet_eu_5min.csv", 288), ("inet_uk_5min.csv", 288), ("inet_eu_hourly.csv", 24),
    ("inet_uk_hourly.csv", 24), ("google_cpu_5min.csv", 288), ("google_mem_5min.csv", 288),
]


def run(tool, path, period, horizon, model, extra=()):
    with tempfile.NamedTemporaryFile("r", suffix=".csv") as out:
        t0 = time.perf_counter()
        subprocess.run([tool, path, "--period", str(period), "--online", "--horizon", str(horizon), "--model", model,
                        "-o", out.name, *extra], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        rows = {}
        for r in csv.DictReader(out):
            a = float(r["actual"]) if r["actual"] != "NA" else math.nan
            rows[r["t"]] = (a, float(r["forecast"]), float(r["lower"]), float(r["upper"]), float(r["capacity"]))
        return rows, dt


def metrics(rows, keys):
    ape = sape = ae = 0.0
    n_ape = n = cov = cap = 0
    for k in keys:
        a, f, lo, hi, c = rows[k]
        if math.isnan(a):
            continue
        n += 1
        e = abs(a - f)
        ae += e
        if a != 0:
            ape += e / abs(a)
            n_ape += 1
        if abs(a) + abs(f) > 0:
            sape += 2 * e / (abs(a) + abs(f))
        cov += lo <= a <= hi
        cap += a <= c
    return dict(n=n, mape=100 * ape / max(n_ape, 1), smape=100 * sape / max(n, 1), mae=ae / max(n, 1),
                cov=100 * cov / max(n, 1), cap=100 * cap / max(n, 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--traffic", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "traffic"))
    args = ap.parse_args()
    print("One step ahead, automatic model, continuous learning (--online --model auto)\n")
    print("| trace | period | points | MAPE % | sMAPE % | 95 % interval coverage % | p95 capacity coverage % | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for f, m in TRACES:
        p = os.path.join(args.traffic, f)
        if not os.path.exists(p):
            continue
        rows, dt = run(args.tool, p, m, 1, "auto")
        r = metrics(rows, rows.keys())
        print(f"| {f} | {m} | {r['n']} | {r['mape']:.2f} | {r['smape']:.2f} | {r['cov']:.2f} | {r['cap']:.2f} | {dt:.1f} |")
        sys.stdout.flush()
    print("\nOne period ahead (day-ahead), same target points, engine vs seasonal naive\n")
    print("| trace | h | points | MAPE % engine / snaive | sMAPE % engine / snaive | MAE ratio engine/snaive | p95 capacity coverage % engine / snaive |")
    print("|---|---|---|---|---|---|---|")
    for f, m in TRACES:
        p = os.path.join(args.traffic, f)
        if not os.path.exists(p):
            continue
        eng, _ = run(args.tool, p, m, m, "auto")
        sn, _ = run(args.tool, p, m, m, "snaive")
        keys = [k for k in eng if k in sn]
        a, b = metrics(eng, keys), metrics(sn, keys)
        print(f"| {f} | {m} | {a['n']} | {a['mape']:.2f} / {b['mape']:.2f} | {a['smape']:.2f} / {b['smape']:.2f} | "
              f"{a['mae'] / b['mae']:.3f} | {a['cap']:.2f} / {b['cap']:.2f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
