#!/usr/bin/python3
"""Failover outage, CSIT-style: effective blocked time = packets lost / offered
rate, for shadownet's own failover and for DPDK's net_bonding active-backup
(mode 1, its default 10 ms link polling) under the same traffic and the same
fault, alternating runs in one invocation; p50 and max per case.

Rig (one shadownet process per run, both modes): the built-in traffic enters
on a virtual port at --rate and leaves on net_null0 (no-rx), whose shadow is
net_null1. With --failover shadownet the appliance watches the ports; with
--failover bond net_null0 and net_null1 become one bonding device (primary
net_null0) and the appliance forwards to it. A console script waits
--settle-ms, takes the port counters, applies the fault to net_null0, waits
--window-ms and takes them again:

- link-down: `set link-down port 0`. net_null has no link control, so the
  device is stopped: its link goes down and its queue takes nothing (a pulled
  cable). Lost = what the appliance could not transmit in the window (its
  tx_full drops on the ingress port) + what it still transmitted on port 0.
- silent: `port fail 0`: the queue takes nothing and the link says nothing.
  (A bonding device cannot see this fault at all.)

Blocked time = lost / offered, offered being the generator's achieved rate
over the run (summary JSON: traffic.sent / elapsed_s). One packet is
1/rate of resolution (2 us at the default 500 kpps).

A third case measures shadownet end to end on virtual cables (the generator
counts what came back by sequence number): --virtual-ports 3, traffic 0 -> 1,
shadow port 2, `set link-down port 1` (the cable is cut as well); lost =
sent - received.

    bench/failover.py --build build --runs 15 [--update-docs docs/resilience.md]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile

MARK_BEGIN = "<!-- failover-bench:begin -->"
MARK_END = "<!-- failover-bench:end -->"


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


def port_stats_docs(docs):
    return [d for d in docs if isinstance(d.get("ports"), list) and d["ports"] and "rx" in d["ports"][0]]


def run_shadownet(cmd, prefix):
    """Runs one appliance to the end of its script; its runtime directory goes with it."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
    if p.returncode != 0:
        raise RuntimeError(f"shadownet exit {p.returncode}: {p.stderr[-500:]}")
    return p


def run_null_rig(sn_bin, mode, fault, rate, settle_ms, window_ms, tag, cpus):
    prefix = f"fobench-{tag}"
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "fault.cmd")
        summary = os.path.join(d, "summary.json")
        fault_cmd = "set link-down port 0" if fault == "link-down" else "port fail 0"
        with open(script, "w") as f:
            f.write(f"wait {settle_ms}\nshow port stats all json\n{fault_cmd}\nwait {window_ms}\n"
                    "show port stats all json\nshow failover json\nquit\n")
        cmd = [sn_bin, "--lcores", f"0@{cpus[0]},1@{cpus[-1]}", "--no-huge", "-m", "512", "--no-pci",
               "--file-prefix", prefix, "--log-level", "*:error",
               "--vdev", "net_null0,no-rx=1", "--vdev", "net_null1,no-rx=1",
               "--", "--virtual-ports", "1", "--port-pairs", "2:0", "--shadow-ports", "0:1", "--traffic-ports", "2",
               "--traffic-rate", str(rate), "--policy", "off", "--failover", mode,
               "--cmdline-file", script, "-q", "--summary-json", summary]
        p = run_shadownet(cmd, prefix)
        docs = json_docs(p.stdout)
        stats = port_stats_docs(docs)
        gap_us = [d["failover"]["max_poll_gap_us"] for d in docs if "failover" in d][-1]
        if len(stats) < 2:
            raise RuntimeError(f"no port stats in the output: {p.stdout[-500:]}")
        before = {q["id"]: q for q in stats[0]["ports"]}
        after = {q["id"]: q for q in stats[1]["ports"]}
        ingress = 2
        lost = (after[ingress]["drops"] - before[ingress]["drops"])
        if 0 in after:  # shadownet mode: port 0 is an appliance port; what it still sent went into a dead link
            lost += after[0]["tx"] - before[0]["tx"]
        doc = json.load(open(summary))
        offered = doc["traffic"]["sent"] / doc["elapsed_s"]
        window_pkts = after[ingress]["rx"] - before[ingress]["rx"]
        return {"lost": lost, "offered_pps": offered, "blocked_ms": 1e3 * lost / offered,
                "window_packets": window_pkts, "whole_window": lost >= window_pkts > 0, "command": cmd,
                "gap_us": gap_us}


def run_cable_rig(sn_bin, rate, settle_ms, window_ms, tag, cpus):
    prefix = f"fobench-c-{tag}"
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "fault.cmd")
        summary = os.path.join(d, "summary.json")
        with open(script, "w") as f:
            f.write(f"wait {settle_ms}\nset link-down port 1\nwait {window_ms}\nquit\n")
        cmd = [sn_bin, "--lcores", f"0@{cpus[0]},1@{cpus[-1]}", "--no-huge", "-m", "512", "--no-pci",
               "--file-prefix", prefix, "--log-level", "*:error",
               "--", "--virtual-ports", "3", "--port-pairs", "0:1", "--shadow-ports", "1:2", "--traffic-ports", "0",
               "--traffic-rate", str(rate), "--policy", "off", "--cmdline-file", script, "-q",
               "--summary-json", summary]
        run_shadownet(cmd, prefix)
        doc = json.load(open(summary))
        t = doc["traffic"]
        offered = t["sent"] / doc["elapsed_s"]
        # What the cut cable swallowed that was already queued in it when cut is
        # the far end's lag, not the outage: counted apart.
        port1 = [q for q in doc["failover"]["ports"] if q["port"] == 1][0]
        lost = t["sent"] - t["received"] - port1["queued_at_cut"]
        return {"lost": lost, "offered_pps": offered, "blocked_ms": 1e3 * lost / offered, "whole_window": False,
                "window_packets": 0, "command": cmd, "gap_us": doc["failover"]["max_poll_gap_us"],
                "queued": port1["queued_at_cut"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=15, help="runs per case")
    ap.add_argument("--rate", type=float, default=500_000, help="offered packets/s")
    ap.add_argument("--settle-ms", type=int, default=1500)
    ap.add_argument("--window-ms", type=int, default=300)
    ap.add_argument("--update-docs", metavar="FILE", help="replace the generated section of FILE")
    args = ap.parse_args()
    sn_bin = os.path.join(args.build, "app/shadownet/shadownet")
    cpus = sorted(os.sched_getaffinity(0))
    # A bonding device cannot see a silent fault at all (its only signal is
    # its members' link status), and the appliance cannot inject one into a
    # bonded member: there is no silent/bond case.
    cases = [("link-down", "shadownet"), ("link-down", "bond"), ("silent", "shadownet"), ("cable", "shadownet")]
    results = {c: [] for c in cases}
    commands = {}
    for run in range(args.runs):
        for fault, mode in cases:  # alternating: every case once per round
            tag = f"{os.getpid()}-{run}-{fault}-{mode}"
            if fault == "cable":
                r = run_cable_rig(sn_bin, args.rate, args.settle_ms, args.window_ms, tag, cpus)
            else:
                r = run_null_rig(sn_bin, mode, fault, args.rate, args.settle_ms, args.window_ms, tag, cpus)
            results[(fault, mode)].append(r)
            commands[(fault, mode)] = r["command"]
            print(f"run {run + 1}/{args.runs} {fault:9} {mode:9} lost {r['lost']:7} at {r['offered_pps']:9.0f} pps "
                  f"-> blocked {r['blocked_ms']:8.3f} ms; control loop's longest gap {r['gap_us'] / 1e3:.1f} ms"
                  f"{' (the whole window: not detected)' if r['whole_window'] else ''}"
                  f"{'; ' + str(r['queued']) + ' queued in the cable when cut' if 'queued' in r else ''}",
                  flush=True)

    labels = {("link-down", "shadownet"): "link down (device stopped), shadownet",
              ("link-down", "bond"): "link down (device stopped), net_bonding mode 1",
              ("silent", "shadownet"): "silent fault (queue takes nothing, link up), shadownet",
              ("cable", "shadownet"): "link down + cable cut, virtual ports end to end, shadownet"}
    lines = ["| fault and failover | runs | blocked p50 ms | blocked max ms | lost p50 packets | offered kpps (median) "
             "| control loop's longest gap, p50 ms |",
             "|---|---|---|---|---|---|---|"]
    for c in cases:
        rs = results[c]
        undetected = sum(1 for r in rs if r["whole_window"])
        b = [r["blocked_ms"] for r in rs]
        p50 = f"{statistics.median(b):.3f}"
        mx = f"{max(b):.3f}"
        if undetected:
            p50 += f" ({undetected}/{len(rs)} never switched in {args.window_ms} ms)"
        lines.append(f"| {labels[c]} | {len(rs)} | {p50} | {mx} | {statistics.median(r['lost'] for r in rs):.0f} | "
                     f"{statistics.median(r['offered_pps'] for r in rs) / 1e3:.0f} | "
                     f"{statistics.median(r['gap_us'] for r in rs) / 1e3:.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.update_docs:
        cmd_lines = "\n".join(" ".join(commands[c]) for c in [("link-down", "shadownet"), ("link-down", "bond"),
                                                               ("cable", "shadownet")])
        section = (f"{MARK_BEGIN}\nGenerated by `bench/failover.py --runs {args.runs} --rate {args.rate:.0f} "
                   f"--window-ms {args.window_ms} --update-docs {args.update_docs}`.\n\n{table}\n\n"
                   f"Commands of the last runs (paths shortened; the script file holds the console commands "
                   f"described above):\n\n```\n{cmd_lines}\n```\n{MARK_END}")
        text = open(args.update_docs).read()
        a, b = text.find(MARK_BEGIN), text.find(MARK_END)
        if a < 0 or b < 0:
            raise SystemExit(f"{args.update_docs}: no {MARK_BEGIN} ... {MARK_END} section")
        open(args.update_docs, "w").write(text[:a] + section + text[b + len(MARK_END):])


if __name__ == "__main__":
    main()
