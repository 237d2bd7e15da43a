#!/usr/bin/python3
"""Failover outage, CSIT-style: effective blocked time = packets lost / offered
rate, for shadownet's own failover and for DPDK's net_bonding active-backup
(mode 1, its default 10 ms link polling) under the same traffic and the same
fault, alternating runs in one invocation; p50 and max per case.

Rig (one shadownet and one shadowgen process per run): shadowgen sends into
the appliance over net_memif at --rate from its own process, so traffic keeps
arriving whatever the appliance's control threads are doing; the appliance
forwards it to net_null0 (no-rx), whose shadow is net_null1. With --failover
shadownet the appliance watches the ports; with --failover bond net_null0 and
net_null1 become one bonding device (primary net_null0) and the appliance
forwards to it. A console script waits --settle-ms, takes the port counters,
applies the fault to net_null0 (port 1), waits --window-ms and takes them
again:

- link-down: `set link-down port 1`. net_null has no link control, so the
  device is stopped: its link goes down and its queue takes nothing (a pulled
  cable).
- silent: `port fail 1`: the queue takes nothing and the link says nothing.
  A bonding device cannot see this fault at all (its only signal is its
  members' link status), and the appliance cannot inject it into a bonded
  member: there is no bonding case for it.

Lost = what the appliance could not transmit in the window: its drops, all
counted on the ingress port. (A stopped net_null device refuses what it is
given, and a faulted queue takes nothing, so nothing goes out on port 1 after
the fault: every packet lost is a counted drop, in both modes. Counting port
1's transmissions from the first reading would blame the failover for what
left before the fault.) Offered = what arrived on the ingress port in the
window / the window. Blocked time = lost / offered; packets arrive in bursts
(up to 32 per receive), so a burst is the unit of loss: at 500 kpps, 64 us.

    bench/failover.py --build build --runs 15 [--update-docs docs/resilience.md]
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

MARK_BEGIN = "<!-- failover-bench:begin -->"
MARK_END = "<!-- failover-bench:end -->"
RUNTIME = "/var/run/dpdk"


def json_docs(text):
    """Every top-level JSON object printed in text, in order."""
    dec = json.JSONDecoder()
    out, i = [], 0
    while True:
        j = text.find("{", i)
        if j < 0:
            return out
        try:
            doc, end = dec.raw_decode(text[j:])
            out.append(doc)
            i = j + end
        except json.JSONDecodeError:
            i = j + 1


def one_run(args, mode, fault, tag, cpus):
    sn_bin = os.path.join(args.build, "app/shadownet/shadownet")
    gen_bin = os.path.join(args.build, "app/shadowgen/shadowgen")
    sn_prefix, gen_prefix = f"fobench-sn-{tag}", f"fobench-gen-{tag}"
    sock = f"/tmp/fobench-{tag}.sock"
    gen = None
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "fault.cmd")
        fault_cmd = "set link-down port 1" if fault == "link-down" else "port fail 1"
        with open(script, "w") as f:
            # Then paused (no RX polled) while the bench disconnects shadowgen,
            # and quit with no peer: a memif server whose peer disconnects
            # while it polls, or that exits while its peer is connected, can
            # crash in DPDK 22.11 (docs/resilience.md).
            f.write(f"wait {args.settle_ms}\nshow port stats all json\n{fault_cmd}\nwait {args.window_ms}\n"
                    "show port stats all json\nshow failover json\nstop\nwait 2000\nquit\n")
        sn_cmd = [sn_bin, "--lcores", f"0@{cpus[0]},1@{cpus[-1]}", "--no-huge", "-m", "512", "--no-pci",
                  "--file-prefix", sn_prefix, "--log-level", "*:error",
                  "--vdev", f"net_memif0,role=server,socket={sock},id=0",
                  "--vdev", "net_null0,no-rx=1", "--vdev", "net_null1,no-rx=1",
                  "--", "--port-pairs", "0:1", "--shadow-ports", "1:2", "--policy", "off", "--failover", mode,
                  "--cmdline-file", script, "-q"]
        gen_cmd = [gen_bin, "--lcores", f"0@{cpus[0]}", "--no-huge", "-m", "256", "--no-pci",
                   "--file-prefix", gen_prefix, "--log-level", "*:error",
                   "--vdev", f"net_memif0,role=client,socket={sock},id=0,rsize=12",
                   "--", "--tx-ports", "0", "--rate", str(args.rate), "--clients", "16", "--duration", "600", "-q"]
        try:
            sn = subprocess.Popen(sn_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            ready = f"{RUNTIME}/{sn_prefix}/shadownet.sock"  # the ports are started: a memif peer may connect
            for _ in range(1200):
                if os.path.exists(ready) or sn.poll() is not None:
                    break
                time.sleep(0.05)
            gen = subprocess.Popen(gen_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # The script pauses forwarding once the window's counters are out
            # (`show failover json` is the last reply before `stop`).
            out = ""
            while '"failover"' not in out and sn.poll() is None:
                line = sn.stdout.readline()
                out += line
            time.sleep(0.5)
            gen.send_signal(signal.SIGINT)
            gen.wait(timeout=30)
            # Read on through the same buffered pipe (communicate() would miss
            # what readline() has buffered already).
            out += sn.stdout.read()
            err = sn.stderr.read()
            sn.wait(timeout=300)
        finally:
            if gen is not None and gen.poll() is None:
                gen.send_signal(signal.SIGTERM)
                try:
                    gen.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    gen.kill()
                    gen.wait()
            for prefix in (sn_prefix, gen_prefix):
                shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
    if sn.returncode != 0:
        raise RuntimeError(f"shadownet exit {sn.returncode}: {err[-500:]}")
    docs = json_docs(out)
    stats = [x for x in docs if isinstance(x.get("ports"), list) and x["ports"] and "rx" in x["ports"][0]]
    if len(stats) < 2:
        raise RuntimeError(f"no port stats in the output: {out[-500:]}")
    before = {q["id"]: q for q in stats[0]["ports"]}
    after = {q["id"]: q for q in stats[1]["ports"]}
    view = [x["failover"] for x in docs if "failover" in x][-1]
    gap_us = view["max_poll_gap_us"]
    # When the fault was made, when it was found (shadownet: the failure event).
    made = [e["t"] for e in view["events"] if e["what"] in ("link-down", "fault-injected")]
    found = [e["t"] for e in view["events"] if e["what"] == "port-failed"]
    detect_us = (found[0] - made[0]) * 1e6 if made and found else None
    ingress = 0
    lost = after[ingress]["drops"] - before[ingress]["drops"]
    reasons = {k: after[ingress]["dropped"][k] - before[ingress]["dropped"][k] for k in after[ingress]["dropped"]}
    reasons = {k: v for k, v in reasons.items() if v}
    arrived = after[ingress]["rx"] - before[ingress]["rx"]
    if arrived == 0:
        raise RuntimeError("no traffic arrived in the window")
    offered = arrived / (args.window_ms * 1e-3)
    return {"lost": lost, "reasons": reasons, "offered_pps": offered,
            "blocked_ms": 1e3 * lost / offered,
            "never_switched": lost >= arrived, "gap_us": gap_us, "detect_us": detect_us,
            "commands": (sn_cmd, gen_cmd)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=15, help="runs per case")
    ap.add_argument("--rate", type=float, default=500_000, help="offered packets/s")
    ap.add_argument("--settle-ms", type=int, default=2000)
    ap.add_argument("--window-ms", type=int, default=300)
    ap.add_argument("--update-docs", metavar="FILE", help="replace the generated section of FILE")
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    # Off the forwarding lcore's CPU: the harness wakes to read every reply,
    # and a forwarding lcore it preempts refuses a burst's worth or more.
    os.sched_setaffinity(0, {cpus[0]})
    cases = [("link-down", "shadownet"), ("link-down", "bond"), ("silent", "shadownet")]
    labels = {("link-down", "shadownet"): "link down (device stopped), shadownet",
              ("link-down", "bond"): "link down (device stopped), net_bonding mode 1",
              ("silent", "shadownet"): "silent fault (queue takes nothing, link up), shadownet"}
    results = {c: [] for c in cases}
    commands = {}
    for run in range(args.runs):
        for fault, mode in cases:  # alternating: every case once per round
            r = one_run(args, mode, fault, f"{os.getpid()}-{run}-{mode}-{fault}", cpus)
            results[(fault, mode)].append(r)
            commands[(fault, mode)] = r["commands"]
            print(f"run {run + 1}/{args.runs} {fault:9} {mode:9} lost {r['lost']:7} {r['reasons']} at {r['offered_pps']:9.0f} pps "
                  f"-> blocked {r['blocked_ms']:8.3f} ms; monitor's longest gap {r['gap_us'] / 1e3:.1f} ms"
                  f"{'' if r['detect_us'] is None else '; failure found %.0f us after the fault' % r['detect_us']}"
                  f"{' (never switched in the window)' if r['never_switched'] else ''}", flush=True)

    lines = ["| fault and failover | runs | blocked p50 ms | blocked max ms | lost p50 packets | offered kpps (median) "
             "| monitor's longest gap, p50 ms |",
             "|---|---|---|---|---|---|---|"]
    for c in cases:
        rs = results[c]
        b = [r["blocked_ms"] for r in rs]
        never = sum(1 for r in rs if r["never_switched"])
        p50 = f"{statistics.median(b):.3f}" + (f" ({never}/{len(rs)} never switched)" if never else "")
        lines.append(f"| {labels[c]} | {len(rs)} | {p50} | {max(b):.3f} | {statistics.median(r['lost'] for r in rs):.0f} | "
                     f"{statistics.median(r['offered_pps'] for r in rs) / 1e3:.0f} | "
                     f"{statistics.median(r['gap_us'] for r in rs) / 1e3:.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.update_docs:
        sn_cmd, gen_cmd = commands[("link-down", "shadownet")]
        bond_cmd = commands[("link-down", "bond")][0]
        section = (f"{MARK_BEGIN}\nGenerated by `bench/failover.py --runs {args.runs} --rate {args.rate:.0f} "
                   f"--window-ms {args.window_ms} --update-docs {args.update_docs}` on "
                   f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n{table}\n\n"
                   "Commands of the last runs (the script file holds the console commands described above):\n\n"
                   f"```\n{' '.join(sn_cmd)}\n{' '.join(bond_cmd)}\n{' '.join(gen_cmd)}\n```\n{MARK_END}")
        text = open(args.update_docs).read()
        a, b = text.find(MARK_BEGIN), text.find(MARK_END)
        if a < 0 or b < 0:
            raise SystemExit(f"{args.update_docs}: no {MARK_BEGIN} ... {MARK_END} section")
        open(args.update_docs, "w").write(text[:a] + section + text[b + len(MARK_END):])


if __name__ == "__main__":
    main()
