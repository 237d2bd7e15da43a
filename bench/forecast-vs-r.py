#!/usr/bin/python3
"""Fit time and SSE: shadownet's fit() against R's stats::HoltWinters.

    bench/forecast-vs-r.py --timer build-fc/bench/forecast/forecast_fit_timer \
        [--traffic ../shared/data/traffic] [--seconds 0.5] [--baseline OTHER_TIMER]

Same series, same model, same start values (R's decompose rule), both
minimising one-step SSE: R with optim L-BFGS-B from (0.3, 0.1, 0.1), ours with
the vectorised Levenberg-Marquardt of lib/forecast/fast_fit.cpp. Each side
repeats the fit for at least --seconds of process CPU time and reports the
mean CPU time per fit, measured inside the process (no start-up cost on
either side; CPU rather than wall time so a busy machine skews both less). R datasets come
from tests/unit/forecast/data/r_series.csv; trace slices are cut in memory
from the traffic folder (never copied). Needs Rscript (Debian r-base-core).
Standard library only.

--baseline times a second forecast_fit_timer (another build, e.g. main's)
against the same R run: R's times move by up to 2x between runs on a shared
box, so a before/after comparison is only fair within one run (ours and the
baseline are timed back to back on each series). With --synthetic,
--baseline counts the baseline's losses to R on the same series.
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "unit", "forecast", "data")

# (label, source, first, n, period, model); source "r:<name>" or a trace file.
CASES = [
    ("co2", "r:co2", 0, 0, 12, "hw-add"),
    ("AirPassengers", "r:AirPassengers", 0, 0, 12, "hw-mul"),
    ("UKgas", "r:UKgas", 0, 0, 4, "hw-mul"),
    ("nottem", "r:nottem", 0, 0, 12, "hw-add"),
    ("USAccDeaths", "r:USAccDeaths", 0, 0, 12, "hw-add"),
    ("Nile", "r:Nile", 0, 0, 1, "ses"),
    ("austres", "r:austres", 0, 0, 1, "holt"),
    ("inet_eu_hourly", "inet_eu_hourly.csv", 0, 0, 24, "hw-add"),
    ("inet_uk_hourly", "inet_uk_hourly.csv", 0, 0, 24, "hw-mul"),
    ("inet_eu_5min[:2016]", "inet_eu_5min.csv", 0, 2016, 288, "hw-add"),
    ("inet_eu_5min[:4032]", "inet_eu_5min.csv", 0, 4032, 288, "hw-add"),
    ("inet_eu_5min[:4032]", "inet_eu_5min.csv", 0, 4032, 288, "hw-mul"),
    ("google_cpu_5min[:4032]", "google_cpu_5min.csv", 0, 4032, 288, "hw-add"),
    ("inet_uk_5min (all)", "inet_uk_5min.csv", 0, 0, 288, "hw-add"),
]

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
cases <- read.csv(args[1], stringsAsFactors = FALSE)
secs <- as.numeric(args[2])
for (i in seq_len(nrow(cases))) {
  x <- read.csv(cases$file[i])$value
  m <- cases$period[i]
  model <- cases$model[i]
  xx <- if (m > 1) ts(x, frequency = m) else ts(x)
  fit <- function() {
    if (model == "ses") HoltWinters(xx, beta = FALSE, gamma = FALSE)
    else if (model == "holt") HoltWinters(xx, gamma = FALSE)
    else HoltWinters(xx, seasonal = if (model == "hw-mul") "multiplicative" else "additive")
  }
  h <- suppressWarnings(fit())
  n <- 0
  cpu <- function() { p <- proc.time(); p[["user.self"]] + p[["sys.self"]] }
  t0 <- cpu()
  while ((el <- cpu() - t0) < secs || n < 3) { h <- suppressWarnings(fit()); n <- n + 1 }
  cat(i, el / n, format(h$SSE, digits = 17), "\n")
}
"""


def read_r_series(name):
    ys = []
    with open(os.path.join(DATA, "r_series.csv")) as f:
        for r in csv.DictReader(f):
            if r["series"] == name:
                ys.append(float(r["value"]))
    return ys


def read_trace(folder, file, first, n):
    with open(os.path.join(folder, file)) as f:
        ys = [float(r["value"]) for r in csv.DictReader(f)]
    ys = ys[first:]
    return ys[:n] if n else ys


R_SSE_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
cases <- read.csv(args[1], stringsAsFactors = FALSE)
for (i in seq_len(nrow(cases))) {
  x <- ts(read.csv(cases$file[i])$value, frequency = cases$period[i])
  s <- if (cases$model[i] == "hw-mul") "multiplicative" else "additive"
  cat(i, format(suppressWarnings(HoltWinters(x, seasonal = s))$SSE, digits = 17), "\n")
}
"""


def synthetic(args):
    """SSE only, on random seasonal series (seeded): how often is our fit
    worse than R's HoltWinters by more than 1 %? (Both are local optimisers
    on multimodal surfaces; this counts the cases where R's basin was better.)"""
    import math
    import random
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="fc-synth-")
    cases = []
    for i in range(args.synthetic):
        long_ = i % 5 == 4
        m = rng.choice([24, 288]) if long_ else rng.choice([4, 7, 12, 24])
        n = rng.randint(1600, 4000) if long_ else 3 * m + 20 + rng.randint(0, 300)
        n = max(n, 3 * m + 20)
        lvl, amp = 10 + 1000 * rng.random(), 0.5 * rng.random()
        tr, nz, walk = (rng.random() - 0.5) * 0.02, 0.01 + 0.2 * rng.random(), rng.random() < 0.33
        rw, ys = 0.0, []
        for t in range(n):
            rw += rng.gauss(0, 1) * nz * 0.3
            v = lvl * (1 + tr * t + (rw if walk else 0)) * (1 + amp * math.sin(2 * math.pi * (t % m) / m + i)) * (1 + nz * rng.gauss(0, 1))
            ys.append(max(v, 0.1))
        path = os.path.join(tmp, f"s{i}.csv")
        with open(path, "w") as f:
            f.write("t,value\n" + "".join(f"{t},{v!r}\n" for t, v in enumerate(ys, 1)))
        for model in ("hw-add", "hw-mul"):
            cases.append(dict(file=path, period=m, model=model, n=n))
    manifest = os.path.join(tmp, "cases.csv")
    with open(manifest, "w") as f:
        w = csv.writer(f)
        w.writerow(["file", "period", "model"])
        for c in cases:
            w.writerow([c["file"], c["period"], c["model"]])
    rs = os.path.join(tmp, "sse.R")
    with open(rs, "w") as f:
        f.write(R_SSE_SCRIPT)
    out = subprocess.run(["Rscript", rs, manifest], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        i, sse = line.split()
        cases[int(i) - 1]["r"] = float(sse)
    timers = [("", args.timer)] + ([("baseline ", args.baseline)] if args.baseline else [])
    sses = {}
    for label, timer in timers:
        worse = {"short": 0, "long": 0}
        total = {"short": 0, "long": 0}
        better = 0
        ratios = []
        for c in cases:
            o = subprocess.run([timer, c["file"], c["model"], str(c["period"]), "", "0"], check=True,
                               capture_output=True, text=True).stdout.strip().split(",")
            sses.setdefault(label, []).append(float(o[1]))
            q = float(o[1]) / c["r"]
            ratios.append(q)
            k = "long" if c["n"] >= 1600 else "short"
            total[k] += 1
            worse[k] += q > 1.01
            if q > 1.01:
                print(f"  {label}worse: {c['file']} {c['model']} m={c['period']} n={c['n']} ours/R {q:.4f}")
            better += q < 0.99
        ratios.sort()
        print(f"{label}synthetic fits: {len(cases)}; SSE ours/R: median {ratios[len(ratios) // 2]:.4f}, "
              f"worst {ratios[-1]:.4f}; worse than R by > 1 %: {worse['short']}/{total['short']} short "
              f"(< 1600 points), {worse['long']}/{total['long']} long; better than R by > 1 %: {better}/{len(cases)}")
    if args.baseline:
        a, b = sses[""], sses["baseline "]
        print(f"against the baseline: SSE identical in {sum(x == y for x, y in zip(a, b))}/{len(a)} fits, "
              f"higher by > 1e-6 in {sum(x > y * (1 + 1e-6) for x, y in zip(a, b))}, "
              f"lower by > 1e-6 in {sum(x < y * (1 - 1e-6) for x, y in zip(a, b))}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timer", required=True, help="forecast_fit_timer binary")
    ap.add_argument("--traffic", default=os.path.join(HERE, "..", "..", "shared", "data", "traffic"))
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--synthetic", type=int, default=0, help="instead: SSE-only check on N random seasonal series")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--baseline", help="a second forecast_fit_timer to compare against in the same run")
    args = ap.parse_args()
    if args.synthetic:
        synthetic(args)
        return

    tmp = tempfile.mkdtemp(prefix="fc-vs-r-")
    rows = []
    for i, (label, src, first, n, m, model) in enumerate(CASES):
        if src.startswith("r:"):
            ys = read_r_series(src[2:])
        else:
            p = os.path.join(args.traffic, src)
            if not os.path.exists(p):
                continue
            ys = read_trace(args.traffic, src, first, n)
        path = os.path.join(tmp, f"case{i}.csv")
        with open(path, "w") as f:
            f.write("t,value\n")
            for t, v in enumerate(ys, 1):
                f.write(f"{t},{v!r}\n")
        rows.append(dict(i=len(rows) + 1, label=label, file=path, n=len(ys), period=m, model=model))

    manifest = os.path.join(tmp, "cases.csv")
    with open(manifest, "w") as f:
        w = csv.writer(f)
        w.writerow(["file", "period", "model"])
        for r in rows:
            w.writerow([r["file"], r["period"], r["model"]])
    rs = os.path.join(tmp, "time.R")
    with open(rs, "w") as f:
        f.write(R_SCRIPT)
    out = subprocess.run(["Rscript", rs, manifest, str(args.seconds)], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        i, sec, sse = line.split()
        rows[int(i) - 1].update(r_sec=float(sec), r_sse=float(sse))

    def time_fit(timer, r):
        o = subprocess.run([timer, r["file"], r["model"], str(r["period"]), "", str(args.seconds)], check=True,
                           capture_output=True, text=True).stdout.strip().split(",")
        return float(o[0]), float(o[1])

    if args.baseline:
        print("| series | n | m | model | R HoltWinters ms | baseline ms | shadownet ms | speed-up baseline | "
              "speed-up | R SSE | shadownet SSE | SSE ours/R | SSE ours/baseline |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    else:
        print("| series | n | m | model | R HoltWinters ms | shadownet ms | speed-up | R SSE | shadownet SSE | SSE ours/R |")
        print("|---|---|---|---|---|---|---|---|---|---|")
    speedups, base_speedups = [], []
    for r in rows:
        sec, sse = time_fit(args.timer, r)
        if args.baseline:
            base_sec, base_sse = time_fit(args.baseline, r)
        sp = r["r_sec"] / sec
        speedups.append(sp)
        if args.baseline:
            bsp = r["r_sec"] / base_sec
            base_speedups.append(bsp)
            print(f"| {r['label']} | {r['n']} | {r['period']} | {r['model']} | {1e3 * r['r_sec']:.2f} | "
                  f"{1e3 * base_sec:.3f} | {1e3 * sec:.3f} | {bsp:.0f}x | {sp:.0f}x | {r['r_sse']:.6g} | {sse:.6g} | "
                  f"{sse / r['r_sse']:.4f} | {sse / base_sse:.6f} |")
        else:
            print(f"| {r['label']} | {r['n']} | {r['period']} | {r['model']} | {1e3 * r['r_sec']:.2f} | {1e3 * sec:.3f} | "
                  f"{sp:.0f}x | {r['r_sse']:.6g} | {sse:.6g} | {sse / r['r_sse']:.4f} |")
        sys.stdout.flush()
    if speedups:
        speedups.sort()
        print(f"\nmedian speed-up {speedups[len(speedups) // 2]:.0f}x, min {speedups[0]:.0f}x")
    if base_speedups:
        base_speedups.sort()
        print(f"baseline: median speed-up {base_speedups[len(base_speedups) // 2]:.0f}x, min {base_speedups[0]:.0f}x")


if __name__ == "__main__":
    main()
