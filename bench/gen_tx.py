#!/usr/bin/python3
"""Maximum TX rate of shadowgen against dpdk-testpmd --forward-mode=txonly on the
same vdev, in the same run: the tools alternate (shadowgen, testpmd, shadowgen,
...), each sending from one lcore pinned to the same CPU, and each rate is read
from the process's own port counters through DPDK telemetry (/ethdev/stats) over
a window after a warm-up, the same way for both (bench/e2e/dpdkrun.py). Prints
each run, the medians and the median of the per-pair ratios.

    bench/gen_tx.py --build build --runs 5 --window 3
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
import dpdkrun  # noqa: E402


def rate(proc, port, warmup, window):
    """Packets sent per second on `port` over `window` seconds after `warmup`."""
    sock = os.path.join(proc.runtime_dir, "dpdk_telemetry.v2")
    deadline = time.monotonic() + 60
    while proc.tel is None:
        if not proc.alive():
            raise dpdkrun.RunError(f"{proc.name} exited:\n{proc.log_tail()}")
        if time.monotonic() > deadline:
            raise dpdkrun.RunError(f"{proc.name}: no telemetry socket\n{proc.log_tail()}")
        if os.path.exists(sock):
            try:
                proc.tel = dpdkrun.Telemetry(sock)
            except OSError:
                pass  # not accepting yet
        time.sleep(0.1)
    time.sleep(warmup)
    t0, s0 = proc.sample([port])
    time.sleep(window)
    t1, s1 = proc.sample([port])
    return (s1[port]["opackets"] - s0[port]["opackets"]) / (t1 - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--cpu", type=int, default=1, help="the CPU both tools send from")
    ap.add_argument("--vdev", default="net_null0,no-rx=1")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--testpmd", default="dpdk-testpmd")
    ap.add_argument("--gen-args", default="", help="extra shadowgen options")
    args = ap.parse_args()

    gen = os.path.join(args.build, "app/shadowgen/shadowgen")
    eal = ["--no-huge", "-m", "512", "--no-pci", "--log-level", "*:error", "--vdev", args.vdev]
    tools = {
        # shadowgen's main lcore sends (one TX lcore); testpmd's forwarding lcore is the second one.
        "shadowgen": lambda p: [gen, "-l", str(args.cpu), "--file-prefix", p] + eal +
        ["--", "--rate", "1e9", "--clients", str(args.clients), "--duration", "0", "-q"] + args.gen_args.split(),
        "testpmd": lambda p: [args.testpmd, "--lcores", f"0@{args.cpu},1@{args.cpu}", "--file-prefix", p] + eal +
        ["--", "--forward-mode=txonly", "--stats-period", "1", "--total-num-mbufs=8192"],
    }
    results = {t: [] for t in tools}
    for run in range(args.runs):
        for name, argv in tools.items():
            prefix = f"gentx-{name}-{os.getpid()}-{run}"
            log = f"/tmp/{prefix}.log"
            p = dpdkrun.DpdkProcess(name, argv(prefix), prefix, log)
            p.start()
            try:
                r = rate(p, 0, args.warmup, args.window)
            finally:
                p.stop()
            os.unlink(log)
            results[name].append(r)
            print(f"run {run + 1} {name:9s} {r / 1e6:6.2f} Mpps", flush=True)
    ratios = [g / t for g, t in zip(results["shadowgen"], results["testpmd"])]
    print()
    print("| tool | Mpps (median) | runs |")
    print("|---|---|---|")
    for name in tools:
        print(f"| {name} | {statistics.median(results[name]) / 1e6:.1f} | "
              + ", ".join(f"{x / 1e6:.1f}" for x in results[name]) + " |")
    print(f"\nshadowgen / testpmd, median of {len(ratios)} pairs: {statistics.median(ratios):.2f} "
          f"(pairs: {', '.join(f'{x:.2f}' for x in ratios)})")


if __name__ == "__main__":
    main()
