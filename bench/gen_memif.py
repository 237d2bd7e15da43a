#!/usr/bin/python3
"""End-to-end rate through shadownet over net_memif, two processes:
shadowgen (memif client, TX port 0, RX port 1) -> shadownet (memif server,
forwarding 0 <-> 1) -> shadowgen. For each offered rate, one run of --duration
seconds; prints what shadowgen sent and received (from its summary JSON), the
loss, and shadownet's rx and drops by reason (from its summary JSON).

    bench/gen_memif.py --build build --rates 1e6,2e6,4e6,1e9 --duration 5

shadownet's forwarding lcore is pinned to the last CPU, its main lcore and
shadowgen's only lcore share the first (a 2-CPU machine has no third).
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--rates", default="1e6,2e6,4e6,1e9", help="offered pps, comma separated (1e9: as fast as it can)")
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    sn_bin = os.path.join(args.build, "app/shadownet/shadownet")
    gen_bin = os.path.join(args.build, "app/shadowgen/shadowgen")
    cpus = sorted(os.sched_getaffinity(0))
    rows = []
    for rate in [float(r) for r in args.rates.split(",")]:
        got = []
        for run in range(args.runs):
            tag = f"{os.getpid()}-{run}-{int(rate)}"
            sock = f"/tmp/gen-memif-{tag}.sock"
            sn_prefix, gen_prefix = f"gm-sn-{tag}", f"gm-gen-{tag}"
            with tempfile.TemporaryDirectory() as d:
                sn_out, gen_out = os.path.join(d, "sn.json"), os.path.join(d, "gen.json")
                sn_cmd = [sn_bin, "--lcores", f"0@{cpus[0]},1@{cpus[-1]}", "--no-huge", "-m", "512", "--no-pci",
                          "--file-prefix", sn_prefix, "--log-level", "*:error",
                          "--vdev", f"net_memif0,role=server,socket={sock},id=0",
                          "--vdev", f"net_memif1,role=server,socket={sock},id=1",
                          "--", "--summary-json", sn_out, "-q"]
                gen_cmd = [gen_bin, "--lcores", f"0@{cpus[0]}", "--no-huge", "-m", "512", "--no-pci",
                           "--file-prefix", gen_prefix, "--log-level", "*:error",
                           "--vdev", f"net_memif0,role=client,socket={sock},id=0,rsize=12",
                           "--vdev", f"net_memif1,role=client,socket={sock},id=1,rsize=12",
                           "--", "--tx-ports", "0", "--rx-ports", "1", "--rate", str(rate),
                           "--clients", str(args.clients), "--size", str(args.size),
                           "--duration", str(args.duration), "--drain", "1", "--summary-json", gen_out, "-q"]
                if run == 0 and rate == float(args.rates.split(",")[0]):
                    print("<!-- $ " + " ".join(sn_cmd) + " -->")
                    print("<!-- $ " + " ".join(gen_cmd) + " -->")
                sn = subprocess.Popen(sn_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                try:
                    for _ in range(200):
                        if os.path.exists(sock):
                            break
                        time.sleep(0.05)
                    g = subprocess.run(gen_cmd, capture_output=True, text=True, timeout=args.duration + 60)
                finally:
                    sn.send_signal(signal.SIGINT)
                    _, sn_err = sn.communicate(timeout=30)
                    for prefix in (sn_prefix, gen_prefix):
                        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
                    if os.path.exists(sock):
                        os.unlink(sock)
                if g.returncode != 0:
                    raise SystemExit(f"shadowgen exit {g.returncode}: {g.stderr}")
                if sn.returncode != 0:
                    print(f"run {run + 1} offered {rate:g}: shadownet exit {sn.returncode} {sn_err.strip()}; "
                          "run not counted", flush=True)
                    continue
                gd = json.load(open(gen_out))["totals"]
                sd = json.load(open(sn_out))
                drops = sum(sd["totals"]["dropped"].values())
                dur = args.duration
                r = dict(sent=gd["sent"] / dur / 1e6, refused=gd["backpressure"] / dur / 1e6,
                         received=gd["received"] / dur / 1e6, lost=100 * gd["lost"] / max(gd["sent"], 1),
                         rx=sd["totals"]["rx"] / dur / 1e6, drops=drops,
                         reasons={k: v for k, v in sd["totals"]["dropped"].items() if v})
                print(f"run {run + 1} offered {rate:g}: {r}", flush=True)
                got.append(r)
        if not got:
            continue
        med = {k: statistics.median(x[k] for x in got) for k in ("sent", "refused", "received", "lost", "rx", "drops")}
        rows.append((rate, med, len(got)))
    print()
    print("| offered Mpps | sent Mpps | refused by memif TX Mpps | received Mpps | lost % | shadownet rx Mpps | "
          "shadownet drops |")
    print("|---|---|---|---|---|---|---|")
    for rate, m, n in rows:
        print(f"| {'max' if rate >= 1e9 else f'{rate / 1e6:g}'} | {m['sent']:.2f} | {m['refused']:.2f} | "
              f"{m['received']:.2f} | {m['lost']:.2f} | {m['rx']:.2f} | {m['drops']:.0f} |")
    print(f"\nmedians of {args.runs} runs of {args.duration:g} s each")


if __name__ == "__main__":
    main()
