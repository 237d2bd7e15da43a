#!/usr/bin/python3
r"""End-to-end forwarding benchmark: shadownet vs dpdk-testpmd (io) vs l3fwd (exact match).

One forwarding core per tool, the same packet source for all: a pcap of 64 B
UDP/IPv4 frames replayed by net_pcap (infinite_rx=1) into a net_null sink
(no-rx=1, so the sink generates nothing and every tool forwards pcap -> null
only). Runs alternate between the tools (shadownet, testpmd, l3fwd,
shadownet, ...) for each flow count; medians in Mpps and the ratios
shadownet/l3fwd and shadownet/testpmd are printed, and with --update-docs
written into the e2e section of docs/benchmarks.md.

The rate of a run is the sink port's transmitted packets (rte_eth_stats
opackets, read from the tool through DPDK telemetry) over a steady-state
window that starts --warmup seconds after the first packet and lasts
--duration seconds; it is reported per wall-clock second and per CPU-second
of the forwarding thread (/proc schedstat), the latter being what stays
comparable on a machine shared with other work. The tools' own figures
(testpmd's Tx-pps, shadownet's summary JSON) are collected as cross-checks.

Debian's /usr/bin/python3, stdlib only (python3-scapy, when present, checks the
generated pcaps). Run from the repository root:

    bench/e2e.py                          # 16, 4096, 1M:100k flows, 3 reps of 10 s
    bench/e2e.py --flows 4096 --reps 1 --duration 3
    bench/e2e.py --tools shadownet,testpmd,l3fwd,rxonly   # rxonly: the source alone
    bench/e2e.py --shadownet build-bench/app/shadownet/shadownet --json build/bench/e2e-results.json \
                 --update-docs            # also rewrite the e2e section of docs/benchmarks.md
    bench/e2e.py --from-json build/bench/e2e-results.json --update-docs   # re-render, no measuring

Needs dpdk-testpmd (package dpdk-dev) and the l3fwd sources (package dpdk-doc):
scripts/setup --bench installs them; this script installs nothing.
"""

import argparse
import atexit
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "e2e"))

import dpdkrun  # noqa: E402
import l3fwd_build  # noqa: E402
import pcapgen  # noqa: E402

TOOLS = ("shadownet", "testpmd", "l3fwd")
# testpmd rxonly: what the source alone costs; baseline: a second shadownet build (--baseline), run
# alternating with the first, for before/after comparisons in one run (neither in the default set)
EXTRA_TOOLS = ("rxonly", "baseline")
LABEL = {"shadownet": "shadownet", "testpmd": "testpmd io", "l3fwd": "l3fwd-EM", "rxonly": "source only",
         "baseline": "shadownet baseline"}
DEFAULT_FLOWS = "16,4096,1000000:100000"
DOC_BEGIN = "<!-- e2e:begin -->"
DOC_END = "<!-- e2e:end -->"
SRC_PORT, SINK_PORT = 0, 1          # vdev order: net_pcap0 then net_null0
FWD_CPU = 1                          # lcore 1 = CPU 1 forwards in every tool (-l 0-1, or -l 1 for l3fwd)
# With --no-huge the mempool will not let an object cross a 4 KiB page, so each
# 2 176 B mbuf (+ header) takes a whole page: 1 M mbufs need 4 GiB.
MBUF_BYTES = 4096
BASE_MEM_MB = 640                    # EAL + l3fwd's two 4 M-entry EM hash tables (~430 MB) + slack
PCAP_TXQ = 4                         # TX queues of the pcap port (shadownet sets up a primary + a shadow one)

current = None  # the DpdkProcess running now, for the signal handler


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(msg, code=2):
    log("e2e: error: " + msg)
    sys.exit(code)


# ---------------------------------------------------------------- environment

def check_environment(args):
    missing = []
    if "l3fwd" in args.tools and not l3fwd_build.available():
        missing.append("the l3fwd sources (%s/l3fwd, package dpdk-doc)" % l3fwd_build.EXAMPLES)
    if any(t in args.tools for t in ("testpmd", "rxonly")) and not shutil.which(args.testpmd):
        missing.append("%s (package dpdk-dev)" % args.testpmd)
    if args.perf and not shutil.which("perf"):
        missing.append("perf (package linux-perf)")
    if "l3fwd" in args.tools and not (shutil.which(os.environ.get("CC", "cc")) and shutil.which("pkg-config")):
        missing.append("a C compiler and pkg-config to build l3fwd")
    if missing:
        die("missing " + "; ".join(missing) + ".\n  Run scripts/setup --bench (installs dpdk-doc, "
            "linux-perf, hyperfine), then run this script again.")
    if "baseline" in args.tools and not (args.baseline and os.access(args.baseline, os.X_OK)):
        die("--tools baseline needs --baseline BIN, an executable shadownet build")
    if "shadownet" in args.tools and not os.access(args.shadownet, os.X_OK):
        die("%s is not built: ninja -C build, or point --shadownet at a build of your own" % args.shadownet)
    if os.geteuid() != 0 and not os.access(dpdkrun.RUNTIME_ROOT, os.W_OK):
        log("e2e: warning: not root and %s is not writable; DPDK will use $XDG_RUNTIME_DIR, "
            "telemetry will not be found" % dpdkrun.RUNTIME_ROOT)


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    virt = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"Hypervisor vendor:\s*(\S+)", out)
        if m:
            virt = ", %s guest" % m.group(1)
    except OSError:
        pass
    dpdk = subprocess.run(["pkg-config", "--modversion", "libdpdk"], capture_output=True, text=True).stdout.strip()
    return "%s, %d CPUs%s; Linux %s; DPDK %s" % (model, os.cpu_count() or 0, virt, platform.release(), dpdk or "?")


def git_state():
    r = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True, text=True)
    d = r.stdout.strip()
    if d.endswith("-dirty"):
        d = d[:-6] + " plus uncommitted changes"
    return d or "?"


def cpu_hz():
    """Nominal clock, when no shadownet summary reported its TSC rate."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1]) * 1e6
    except (OSError, ValueError):
        pass
    return None


def perf_supported():
    if not shutil.which("perf"):
        return False, "perf is not installed (scripts/setup --bench)"
    r = subprocess.run(["perf", "stat", "-x,", "-e", "cycles,instructions", "true"], capture_output=True, text=True)
    if "not supported" in r.stderr or r.returncode != 0:
        return False, "perf stat: cycles/instructions <not supported> (no PMU in this VM)"
    return True, ""


# ---------------------------------------------------------------- commands

def flow_specs(text):
    specs = []
    for item in text.split(","):
        item = item.strip().lower().replace("_", "")
        if not item:
            continue
        flows_s, _, clients_s = item.partition(":")

        def num(s):
            mult = 1
            if s.endswith("k"):
                s, mult = s[:-1], 1000
            elif s.endswith("m"):
                s, mult = s[:-1], 1000000
            return int(float(s) * mult)
        flows = num(flows_s)
        clients = num(clients_s) if clients_s else flows
        if flows < 1 or not 1 <= clients <= flows:
            raise argparse.ArgumentTypeError("bad flow spec %r (FLOWS[:CLIENTS], 1 <= CLIENTS <= FLOWS)" % item)
        specs.append((flows, clients))
    if not specs:
        raise argparse.ArgumentTypeError("no flow counts")
    return specs


def pool_size(pcap_packets):
    """Same mbuf pool for every tool: the pcap (kept in mbufs by infinite_rx) plus a working set."""
    n = pcap_packets + 16384
    return (1 << n.bit_length()) - 1  # 2^k - 1: the mempool's sweet spot


def eal_args(args, lcores, prefix, mem_mb, pcap):
    src = "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap
    # tx_pcap=/dev/null gives the pcap port TX queues beyond the single tx_drop
    # queue net_pcap makes by default; nothing is sent there unless a tool sends
    # a packet back out of the port it came in on (l3fwd does on an EM miss).
    src += ",tx_pcap=/dev/null" * PCAP_TXQ
    return ["-l", lcores, "--no-huge", "-m", str(mem_mb), "--no-pci", "--file-prefix", prefix,
            "--vdev", src, "--vdev", "net_null0,no-rx=1"]


def shadownet_client_args(args, clients):
    """Room for every client of the flow spec, if the appliance has a client table.

    At least 65 536 (the appliance's default when this was written), more when the
    pcap has more sources (1 M flows / 100 k clients), so that the benchmark
    measures 100 k real clients rather than overflow into the default client.
    --shadownet-args '--max-clients N' wins."""
    if "--max-clients" not in args.shadownet_help or "--max-clients" in args.shadownet_args:
        return []
    return ["--max-clients", str(max(65536, 1 << (clients - 1).bit_length()))]


def command(tool, args, prefix, mem_mb, mbufs, files, summary_path, clients):
    pcap, rule_v4, rule_v6 = files
    env = None
    if tool in ("shadownet", "baseline"):
        argv = [args.shadownet if tool == "shadownet" else args.baseline] + eal_args(args, "0-1", prefix, mem_mb, pcap) + [
            # --duration: only a backstop, the harness stops it with SIGINT long before.
            "--", "--duration", "%d" % (args.start_timeout + args.warmup + args.duration + 60), "-q",
            "--port-pairs", "%d:%d" % (SRC_PORT, SINK_PORT),
            "--mbufs", str(mbufs), "--summary-json", summary_path] + shadownet_client_args(args, clients) + \
            shlex.split(args.shadownet_args)
    elif tool in ("testpmd", "rxonly"):
        mode = "io" if tool == "testpmd" else "rxonly"
        argv = [args.testpmd] + eal_args(args, "0-1", prefix, mem_mb, pcap) + [
            "--", "--forward-mode=%s" % mode, "--nb-cores=1", "--rxq=1", "--txq=1",
            "--total-num-mbufs=%d" % mbufs, "--stats-period=1", "--no-mlockall"]
    elif tool == "l3fwd":
        # -l 1: l3fwd forwards on every EAL lcore, the main one included, so one
        # lcore is one forwarding core. Its lcore polls both ports' queue 0.
        argv = [args.l3fwd_bin] + eal_args(args, "1", prefix, mem_mb, pcap) + [
            "--", "-p", "0x3", "-E", "--parse-ptype", "--config", "(0,0,1),(1,0,1)",
            "--rule_ipv4", rule_v4, "--rule_ipv6", rule_v6]
        env = dict(os.environ, L3FWD_BENCH_NB_MBUF=str(mbufs))
    else:
        raise ValueError(tool)
    return argv, env


# ---------------------------------------------------------------- one run

def own_figures(tool, log_path, summary_path):
    """The tool's own view, as a cross-check of the telemetry window."""
    out = {}
    try:
        with open(log_path, "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        text = ""
    if tool in ("testpmd", "rxonly"):
        # Periodic "Throughput (since last show)" blocks, one per --stats-period;
        # take the sink port's Tx-pps (rxonly: the source's Rx-pps), skip the
        # first two (start-up) and the last (partial).
        blocks = re.split(r"#+ NIC statistics for port (\d+)\s+#+", text)
        want_port = SINK_PORT if tool == "testpmd" else SRC_PORT
        key = "Tx-pps" if tool == "testpmd" else "Rx-pps"
        pps = []
        for i in range(1, len(blocks) - 1, 2):
            if int(blocks[i]) == want_port:
                m = re.search(key + r":\s+(\d+)", blocks[i + 1])
                if m:
                    pps.append(int(m.group(1)))
        if len(pps) > 3:
            out["own_mpps"] = statistics.median(pps[2:-1]) / 1e6
            out["own_source"] = "testpmd %s, median of %d periodic samples" % (key, len(pps[2:-1]))
        m = re.search(r"Accumulated forward statistics.*?TX-packets:\s+(\d+)\s+TX-dropped:\s+(\d+)", text, re.S)
        if m:
            out["own_tx"] = int(m.group(1))
            out["own_tx_dropped"] = int(m.group(2))
    elif tool in ("shadownet", "baseline"):
        try:
            with open(summary_path) as f:
                s = json.load(f)
            tot = s.get("totals", {})
            el = float(s.get("elapsed_s") or 0)
            if el > 0:
                out["own_mpps"] = tot.get("tx", 0) / el / 1e6
                out["own_source"] = "summary JSON totals.tx / elapsed_s (whole run, start-up included)"
            out["own_tx"] = tot.get("tx")
            out["drops"] = tot.get("drops", 0)
            out["dropped"] = {k: v for k, v in (tot.get("dropped") or {}).items() if v}
            # The lcore that moved the packets (its role name has changed as the fast path grew).
            lc = sorted((x for x in s.get("lcores", []) if x.get("packets")), key=lambda x: -x["packets"])
            if lc and "cycles_per_packet" in lc[0]:
                out["busy_cycles_per_packet"] = lc[0]["cycles_per_packet"]
            if lc and lc[0].get("stage_cycles") and lc[0].get("packets"):
                # A profiling build (meson -Dstage_cycles=true): TSC cycles per
                # stage of the busy iterations; "other" is the rest of them.
                n = lc[0]["packets"]
                st = {k: v / n for k, v in lc[0]["stage_cycles"].items()}
                st["other"] = lc[0]["busy_cycles"] / n - sum(st.values())
                out["stage_cycles_per_packet"] = st
            if "tsc_hz" in s:
                out["tsc_hz"] = s["tsc_hz"]
            out["sn_lcores"] = s.get("lcores")
            cl = s.get("clients")
            if isinstance(cl, dict):  # the client table, when the appliance has one
                out["sn_clients"] = {k: v for k, v in cl.items() if not isinstance(v, (list, dict))}
        except (OSError, ValueError) as e:
            out["summary_error"] = str(e)
    elif tool == "l3fwd":
        out["em_rules_loaded"] = text.count("EM: Adding route")
        m = re.search(r"Hash: Adding 0x([0-9a-fA-F]+) keys", text)
        if m:
            out["em_rules_read"] = int(m.group(1), 16)
    return out


def start_perf(tid, seconds):
    return subprocess.Popen(["perf", "stat", "-x,", "-e", "cycles,instructions", "-t", str(tid),
                             "--", "sleep", "%.3f" % seconds],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish_perf(p):
    _, err = p.communicate()
    vals = {}
    for line in err.splitlines():
        parts = line.split(",")
        if len(parts) >= 3 and parts[2] in ("cycles", "instructions"):
            try:
                vals[parts[2]] = int(parts[0])
            except ValueError:
                vals[parts[2]] = None
    return vals


def run_once(tool, spec, files, args, run_no):
    global current
    flows, clients = spec
    prefix = "e2e-%s-%d-%d" % (tool, os.getpid(), run_no)
    logdir = os.path.join(args.outdir, "logs")
    os.makedirs(logdir, exist_ok=True)
    log_path = os.path.join(logdir, prefix + ".log")
    summary_path = os.path.join(logdir, prefix + ".summary.json")
    mbufs = pool_size(flows)
    mem_mb = args.mem or (BASE_MEM_MB + (mbufs * MBUF_BYTES >> 20) + 255) // 256 * 256
    argv, env = command(tool, args, prefix, mem_mb, mbufs, files, summary_path, clients)
    p = dpdkrun.DpdkProcess(tool, argv, prefix, log_path, env)
    current = p
    res = {"tool": tool, "flows": flows, "clients": clients, "prefix": prefix, "mem_mb": mem_mb, "mbufs": mbufs,
           "argv": argv}
    ok = False
    rc = None
    t_start = time.monotonic()
    try:
        p.start(cpus=args.all_cpus)
        p.wait_forwarding(SRC_PORT, timeout=args.start_timeout)
        res["startup_s"] = time.monotonic() - t_start
        res["ports"] = p.port_names()
        w0 = dpdkrun.thread_runtimes(p.proc.pid)
        time.sleep(args.warmup)
        w1 = dpdkrun.thread_runtimes(p.proc.pid)
        # The forwarding thread: of the threads pinned to the forwarding CPU, the
        # one that ran most during the warm-up.
        pinned = dpdkrun.threads_pinned_to(p.proc.pid, FWD_CPU) & set(w1)
        fwd_tid = max(pinned or w1, key=lambda t: w1[t][0] - w0.get(t, (0, 0))[0]) if w1 else None
        res["fwd_tid_pinned"] = bool(pinned)
        ports = (SRC_PORT, SINK_PORT)
        t0, s0 = p.sample(ports)
        perf = start_perf(fwd_tid, args.duration) if (args.perf and args.perf_ok and fwd_tid) else None
        r0 = dpdkrun.thread_runtimes(p.proc.pid).get(fwd_tid)
        st0 = dpdkrun.cpu_steal_s(FWD_CPU)
        time.sleep(args.duration)
        t1, s1 = p.sample(ports)
        r1 = dpdkrun.thread_runtimes(p.proc.pid).get(fwd_tid)
        st1 = dpdkrun.cpu_steal_s(FWD_CPU)
        if st0 is not None and st1 is not None:
            res["fwd_cpu_steal_s"] = st1 - st0
        dt = t1 - t0

        def d(port, key):
            return s1[port].get(key, 0) - s0[port].get(key, 0)
        res["window_s"] = dt
        res["sink_tx"] = d(SINK_PORT, "opackets")
        res["src_rx"] = d(SRC_PORT, "ipackets")
        res["src_tx"] = d(SRC_PORT, "opackets")  # sent back out of the source port (l3fwd: EM misses)
        res["rx_nombuf"] = d(SRC_PORT, "rx_nombuf")
        res["oerrors"] = d(SINK_PORT, "oerrors") + d(SRC_PORT, "oerrors")
        counted = res["src_rx"] if tool == "rxonly" else res["sink_tx"]
        warn = []
        if res["rx_nombuf"]:
            warn.append("%d rx_nombuf on the source port" % res["rx_nombuf"])
        if res["oerrors"]:
            warn.append("%d oerrors" % res["oerrors"])
        if tool != "rxonly":
            out = res["sink_tx"] + res["src_tx"]
            # The ports are read one after the other: allow for what moves meanwhile.
            skew = (s0["_skew_s"] + s1["_skew_s"]) * counted / dt
            if abs(res["src_rx"] - out) > max(4096, res["src_rx"] * 1e-3, 2 * skew):
                warn.append("received %d but transmitted %d in the window" % (res["src_rx"], out))
            if res["src_tx"] and tool != "l3fwd":
                warn.append("%d packets sent back out of the source port" % res["src_tx"])
        res["warnings"] = warn
        res["mpps"] = counted / dt / 1e6
        if r0 and r1 and r1[0] > r0[0]:
            res["fwd_cpu_share"] = (r1[0] - r0[0]) / (dt * 1e9)
            res["fwd_runq_wait_s"] = (r1[1] - r0[1]) / 1e9
            # Source and sink are pulled by the forwarding thread itself, so packets
            # scale with the CPU time it gets: this rate is robust to CPU theft.
            res["mpps_per_cpu"] = counted / ((r1[0] - r0[0]) / 1e9) / 1e6
        if perf:
            pv = finish_perf(perf)
            if pv.get("cycles") and counted:
                res["perf_cycles_per_packet"] = pv["cycles"] / counted
            if pv.get("instructions") and counted:
                res["perf_instructions_per_packet"] = pv["instructions"] / counted
        ok = True
    except (dpdkrun.RunError, OSError, ValueError, KeyError, TypeError) as e:
        res["error"] = (str(e).splitlines() or [repr(e)])[0]
        log("e2e: %s: %s" % (tool, e))
    finally:
        t_stop = time.monotonic()
        rc = p.stop()
        res["stop_s"] = time.monotonic() - t_stop
        current = None
    res["rc"] = rc
    res.update(own_figures(tool, log_path, summary_path))
    if ok and not args.keep_logs:
        for path in (log_path, summary_path):
            try:
                os.unlink(path)
            except OSError:
                pass
    elif tool == "l3fwd":
        _strip_route_lines(log_path)
    return res


def _strip_route_lines(path):
    """l3fwd prints one line per EM rule (a million for 1 M flows): keep a count instead."""
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines(True)
    except OSError:
        return
    n = sum(1 for ln in lines if ln.startswith("EM: Adding route"))
    if n < 50:
        return
    kept, noted = [], False
    for ln in lines:
        if ln.startswith("EM: Adding route"):
            if not noted:
                kept.append("[e2e: %d 'EM: Adding route' lines elided]\n" % n)
                noted = True
            continue
        kept.append(ln)
    with open(path, "w") as f:
        f.writelines(kept)


# ---------------------------------------------------------------- report

def median(xs):
    return statistics.median(xs) if xs else None


METRICS = {
    "mpps": "Mpps (wall clock)",
    "mpps_per_cpu": "Mpps per CPU-second of the forwarding thread",
}


def summarise(results, specs, tools):
    rows = []
    for flows, clients in specs:
        row = {"flows": flows, "clients": clients}
        for t in tools:
            runs = [r for r in results if r["tool"] == t and r["flows"] == flows and r["clients"] == clients]
            good = [r for r in runs if "mpps" in r]
            row[t + "_failed"] = len(runs) - len(good)
            for m in METRICS:
                vals = [r[m] for r in good if m in r]
                row[(t, m)] = median(vals)
                row[(t, m, "runs")] = vals
            row[t + "_steal"] = sum(r.get("fwd_cpu_steal_s", 0) for r in good)
            shares = [r["fwd_cpu_share"] for r in good if "fwd_cpu_share" in r]
            row[t + "_cpu_share"] = median(shares)
            # run time + run-queue wait = the window when the thread never sleeps
            gaps = [abs(r["fwd_cpu_share"] + r["fwd_runq_wait_s"] / r["window_s"] - 1)
                    for r in good if "fwd_runq_wait_s" in r]
            row[t + "_sleep_gap"] = max(gaps) if gaps else None
            own = [r["own_mpps"] for r in good if "own_mpps" in r]
            row[t + "_own"] = median(own)
            row[t + "_warnings"] = sorted({w for r in good for w in r.get("warnings", [])})
            if t == "l3fwd" and good:
                hits = sum(r["sink_tx"] for r in good)
                misses = sum(r["src_tx"] for r in good)
                row["l3fwd_hit"] = hits / (hits + misses) if hits + misses else None
                row["l3fwd_rules"] = good[0].get("em_rules_loaded")
            if t == "shadownet" and good:
                row["shadownet_drops"] = max(r.get("drops", 0) or 0 for r in good)
                reasons = {}
                for r in good:
                    for k, v in (r.get("dropped") or {}).items():
                        reasons[k] = reasons.get(k, 0) + v
                row["shadownet_dropped"] = reasons
                cpp = [r["busy_cycles_per_packet"] for r in good if "busy_cycles_per_packet" in r]
                row["shadownet_cpp"] = median(cpp)
                stages = [r["stage_cycles_per_packet"] for r in good if "stage_cycles_per_packet" in r]
                if stages:
                    row["shadownet_stages"] = {k: median([x[k] for x in stages]) for k in stages[0]}
                row["shadownet_clients"] = good[-1].get("sn_clients")
                row["shadownet_stop_s"] = max(r.get("stop_s", 0) for r in good)
                row["shadownet_killed"] = sum(1 for r in good if r.get("rc") == -signal.SIGKILL)
            pc = [r["perf_cycles_per_packet"] for r in good if "perf_cycles_per_packet" in r]
            pi = [r["perf_instructions_per_packet"] for r in good if "perf_instructions_per_packet" in r]
            row[t + "_perf_cpp"] = median(pc)
            row[t + "_perf_ipp"] = median(pi)
        for m in METRICS:
            sn, tp, l3 = row.get(("shadownet", m)), row.get(("testpmd", m)), row.get(("l3fwd", m))
            row[("sn/l3fwd", m)] = sn / l3 if sn and l3 else None
            row[("sn/testpmd", m)] = sn / tp if sn and tp else None
            bl = row.get(("baseline", m))
            row[("sn/baseline", m)] = sn / bl if sn and bl else None
        rows.append(row)
    ref = next((r for r in rows if r["flows"] == 4096), None)
    for r in rows:
        for m in METRICS:
            if ref and r is not ref and r.get(("shadownet", m)) and ref.get(("shadownet", m)):
                r[("sn/4096", m)] = r[("shadownet", m)] / ref[("shadownet", m)]
    return rows


def fmt(x, digits=2):
    return "—" if x is None else ("%.*f" % (digits, x))


def fmt_flows(n):
    if n >= 1000000 and n % 1000000 == 0:
        return "%d M" % (n // 1000000)
    if n >= 10000 and n % 1000 == 0:
        return "%d k" % (n // 1000)
    return "%d" % n


def table(rows, tools, metric="mpps"):
    unit = "Mpps" if metric == "mpps" else "Mpps/CPU"
    head = ["flows", "clients"] + ["%s %s" % (LABEL[t], unit) for t in tools]
    ratios = []
    if "shadownet" in tools and "l3fwd" in tools:
        ratios.append(("sn/l3fwd", "shadownet / l3fwd-EM"))
    if "shadownet" in tools and "testpmd" in tools:
        ratios.append(("sn/testpmd", "shadownet / testpmd io"))
    if "shadownet" in tools and "baseline" in tools:
        ratios.append(("sn/baseline", "shadownet / baseline"))
    if "shadownet" in tools and any(r["flows"] == 4096 for r in rows) and len(rows) > 1:
        ratios.append(("sn/4096", "shadownet / its 4 096-flow rate"))
    head += [h for _, h in ratios]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [fmt_flows(r["flows"]), fmt_flows(r["clients"])] + [fmt(r.get((t, metric))) for t in tools]
        cells += [fmt(r.get((k, metric))) for k, _ in ratios]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def notes(rows, tools, args):
    out = []
    for r in rows:
        parts = []
        for t in tools:
            runs = r.get((t, "mpps", "runs")) or []
            if runs or r.get(t + "_failed"):
                s = "%s runs %s Mpps" % (LABEL[t], ", ".join("%.2f" % x for x in runs) or "none")
                if r.get(t + "_failed"):
                    s += " (%d failed)" % r[t + "_failed"]
                if r.get(t + "_cpu_share") is not None:
                    s += ", forwarding thread on CPU %.0f%% of the window (median)" % (100 * r[t + "_cpu_share"])
                if r.get(t + "_own") is not None:
                    s += ", own counters %.2f Mpps" % r[t + "_own"]
                if r.get((t, "mpps_per_cpu")) and args.tsc_hz:
                    cpp = args.tsc_hz / 1e6 / r[(t, "mpps_per_cpu")]
                    s += ", ≈%.0f cycles/packet (%.2f GHz ÷ Mpps per CPU-second" % (cpp, args.tsc_hz / 1e9)
                    src = r.get(("rxonly", "mpps_per_cpu"))
                    if src and t != "rxonly":
                        s += "; %.0f above the source alone" % (cpp - args.tsc_hz / 1e6 / src)
                    s += ")"
                if r.get(t + "_warnings"):
                    s += ", WARNING: " + ", ".join(r[t + "_warnings"])
                if r.get(t + "_perf_cpp") is not None:
                    s += ", perf %.1f cycles / %.1f instructions per packet" % (r[t + "_perf_cpp"],
                                                                                 r[t + "_perf_ipp"] or 0)
                parts.append(s)
        if "l3fwd" in tools and r.get("l3fwd_hit") is not None:
            parts.append("l3fwd EM: %s rules loaded, %.2f%% of forwarded packets hit the table" %
                         (r.get("l3fwd_rules"), 100 * r["l3fwd_hit"]))
        if "shadownet" in tools and r.get(("shadownet", "mpps")) is not None:
            s = "shadownet drops %s" % (r.get("shadownet_drops") or 0)
            if r.get("shadownet_dropped"):
                s += " (%s)" % ", ".join("%s %d" % kv for kv in sorted(r["shadownet_dropped"].items()))
            if r.get("shadownet_clients"):
                s += ", client table %s" % ", ".join("%s %s" % kv for kv in r["shadownet_clients"].items())
            if r.get("shadownet_cpp") is not None:
                s += (", its own busy cycles/packet %.1f (TSC over the whole run, so it includes the time the"
                      " thread was descheduled)" % r["shadownet_cpp"])
            if r.get("shadownet_stages"):
                s += (", stage cycles/packet (profiling build, TSC, medians): " +
                      ", ".join("%s %.1f" % kv for kv in r["shadownet_stages"].items() if abs(kv[1]) >= 0.05))
            if r.get("shadownet_killed"):
                s += (", %d run(s) did not exit within %d s of SIGINT and were killed (no summary JSON)"
                      % (r["shadownet_killed"], dpdkrun.STOP_GRACE_S))
            elif r.get("shadownet_stop_s", 0) > 5:
                s += ", up to %.0f s from SIGINT to exit" % r["shadownet_stop_s"]
            parts.append(s)
        out.append("- **%s flows / %s clients**" % (fmt_flows(r["flows"]), fmt_flows(r["clients"])))
        out += ["  - %s." % x for x in parts]
    return "\n".join(out)


def print_report(rows, tools, args):
    for m, title in METRICS.items():
        print()
        print(title + ", medians:")
        print(table(rows, tools, m))
    print()
    print(notes(rows, tools, args))
    if args.perf and not args.perf_ok:
        print("- perf: %s" % args.perf_note)


# ---------------------------------------------------------------- docs

DOC_INTRO = """# Benchmarks

Measured figures and the commands that made them. Each section is owned by the
script that writes it; edit the scripts, not the generated sections.
"""


def run_meta(args):
    """What the docs say about the run besides the figures (kept in --json for --from-json)."""
    try:
        sn_built = datetime.datetime.fromtimestamp(os.path.getmtime(args.shadownet),
                                                   datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except OSError:
        sn_built = "?"
    return {"machine": machine(), "shadownet": os.path.relpath(args.shadownet, REPO), "shadownet_built": sn_built,
            "git": git_state(), "tsc_hz": args.tsc_hz}


TARGETS = ((4096, 4096, "sn/l3fwd", 1.5, "shadownet / l3fwd-EM at 4 096 flows"),
           (4096, 4096, "sn/testpmd", 0.5, "shadownet / testpmd io at 4 096 flows"),
           (1000000, 100000, "sn/4096", 0.8, "shadownet at 1 M flows / its 4 096-flow rate"))


def targets(rows):
    out = []
    for flows, clients, key, want, what in TARGETS:
        r = next((x for x in rows if x["flows"] == flows and x["clients"] == clients), None)
        if r is None or r.get((key, "mpps")) is None:
            continue
        got = [r.get((key, m)) for m in METRICS]
        met = all(g is not None and g >= want for g in got)
        out.append("%s %s (target %.1f: %s)" % (what, " / ".join(fmt(g) for g in got), want,
                                                  "met" if met else "not met"))
    return "; ".join(out) or "not measured"


def budget(rows, tsc_hz):
    """What the 4 096-flow targets mean in cycles per packet on this source."""
    r = next((x for x in rows if x["flows"] == 4096), None)
    if not r or not tsc_hz:
        return ""
    l3, tp, src = (r.get((t, "mpps_per_cpu")) for t in ("l3fwd", "testpmd", "rxonly"))
    need = [x for x in (1.5 * l3 if l3 else None, 0.5 * tp if tp else None) if x]
    if not need:
        return ""
    mpps = max(need)
    cyc = tsc_hz / 1e6 / mpps
    s = (" On this source the 4 096-flow targets need ≥ %.1f Mpps per CPU-second from shadownet, i.e. ≤ %.0f"
         " cycles per packet at %.2f GHz" % (mpps, cyc, tsc_hz / 1e9))
    if src:
        s += ", of which receiving from the source and freeing (testpmd rxonly) takes %.0f" % (tsc_hz / 1e6 / src)
    return s + "."


def doc_section(rows, tools, args, cmdline, started, meta):
    patches = "\n".join("  - `%s`: %s" % (f, what) for f, what in l3fwd_build.patch_summary())
    diff_path = os.path.join(args.outdir, "l3fwd", "patches.diff")
    diff = ""
    if os.path.exists(diff_path):
        with open(diff_path) as f:
            diff = "".join(ln for ln in f if not ln.startswith(("---", "+++")))
    perf_line = ""
    if args.perf:
        perf_line = ("\n- perf: " + (args.perf_note if not args.perf_ok else
                                     "`perf stat -e cycles,instructions -t <forwarding thread>` over the window"))
    commands = "\n".join(cmd_text(args.last_argv[t]) for t in tools if t in args.last_argv)
    steal = sum(r.get(t + "_steal", 0) for r in rows for t in tools)
    windows = args.duration * sum(len(r.get((t, "mpps", "runs")) or []) for r in rows for t in tools)
    steal_note = ""
    if windows:
        steal_note = (" The hypervisor's steal time on CPU 1 was %.1f%% of the measured windows (a guest cannot"
                      " see it in thread run times, so it is not corrected for)." % (100 * steal / windows))
    cpu_note = ""
    shares = [r.get(t + "_cpu_share") for r in rows for t in tools if r.get(t + "_cpu_share") is not None]
    if shares:
        lo, hi = round(100 * min(shares)), round(100 * max(shares))
        cpu_note = (" During the measured windows the forwarding thread held its CPU %s of the time "
                    "(from /proc schedstat; the rest went to other processes on this shared VM)."
                    % ("%d%%" % lo if lo == hi else "%d–%d%%" % (lo, hi)))
    gaps = [r.get(t + "_sleep_gap") for r in rows for t in tools if r.get(t + "_sleep_gap") is not None]
    if gaps:
        worst = max(gaps)
        if worst < 0.01:
            cpu_note += (" In every run the forwarding thread's run time plus its run-queue wait made up the"
                         " whole window (it never slept), so the missing share is time other processes"
                         " held the CPU, which is what the per-CPU-second figures take out.")
        else:
            cpu_note += (" In some run a forwarding thread slept for up to %.0f%% of the window (run time + run-"
                         "queue wait < window): its per-CPU-second figure overstates it." % (100 * worst))
    return f"""{DOC_BEGIN}
## End to end: shadownet vs testpmd io vs l3fwd exact match

Generated by `bench/e2e.py --update-docs` on {started:%Y-%m-%d %H:%M} UTC.

- Machine: {meta["machine"]}.
- shadownet: `{meta["shadownet"]}` built {meta["shadownet_built"]} from `{meta["git"]}`.
- Command: `{cmdline}`
- One forwarding core per tool (CPU 1): shadownet and testpmd `-l 0-1` (main lcore 0 + one forwarding
  lcore), l3fwd `-l 1` (it forwards on its main lcore). Same source for all: 64 B UDP/IPv4 frames (60 B +
  FCS) from a pcap replayed by `net_pcap` (`infinite_rx=1`) into a `net_null` sink (`no-rx=1`), so
  every tool forwards pcap → null only. `--no-huge --no-pci`, a fresh `--file-prefix` per run, the same mbuf
  pool size and `-m` for all three.
- Mpps: median over {args.reps} run{"s" if args.reps > 1 else ""} per tool and flow count, runs alternating
  between the tools. A run's rate is the sink port's transmitted packets (`rte_eth_stats.opackets`, read from the tool over DPDK telemetry)
  over a {args.duration:g} s window starting {args.warmup:g} s after the first packet (start-up excluded).
  Cross-checks, in the notes below the tables: testpmd's own Tx-pps (its `--stats-period 1` output) and
  shadownet's summary JSON (`totals.tx / elapsed_s`, whole run); l3fwd prints no counters of its own.

Medians, Mpps (wall clock):

{table(rows, tools, "mpps")}

The same runs per CPU-second of the forwarding thread (packets in the window ÷ CPU time the
forwarding thread got in it, from `/proc/<pid>/task/<tid>/schedstat`). net_pcap and net_null are
pulled by the forwarding thread itself, so nothing queues up while it is descheduled and this
figure stays comparable when other processes share the core; it is the fairer comparison on this
shared VM (it still carries their cache pollution):

{table(rows, tools, "mpps_per_cpu")}

{notes(rows, tools, args)}

Notes
- Targets for the appliance (issue 3), one forwarding core, 4 096 flows: shadownet ≥ 1.5× l3fwd-EM and
  ≥ 0.5× testpmd io; with 1 M flows / 100 k clients ≥ 0.8× its 4 096-flow rate. This run
  (wall clock / per CPU-second): {targets(rows)}.{budget(rows, meta.get("tsc_hz"))}
- The source is part of every figure: `net_pcap` infinite_rx copies each frame from an mbuf ring holding
  the whole pcap into a fresh mbuf, so at 1 M flows the copy itself misses cache. testpmd io is close to
  the ceiling of this source, and ratios are compressed by its cost. `--tools rxonly` measures the
  source alone (testpmd rxonly).
- Memory: infinite_rx keeps the whole pcap in mbufs of the port's pool, so every tool gets the same pool
  of 2^k − 1 ≥ flows + 16 384 mbufs (default 2 176 B data room) and the same `-m`. Under `--no-huge`
  the mempool does not let an object cross a 4 KiB page: each mbuf takes a page (1 M flows: 4 GiB per
  run), and every mbuf header sits at the same page offset, which costs all three tools some cache
  associativity compared with hugepages.
- Flows: flow *i* has source 10.0.0.0 + (*i* mod clients), destination in 198.18.0.0/15, UDP source port
  1024 + ⌊*i* / clients⌋, destination port 9; the pcap holds each flow once, in that order.
- l3fwd-EM is the Debian `dpdk-doc` example, built by the script under `build/bench/l3fwd` with its
  Makefile (`make shared`, pkg-config libdpdk), run with `-E --parse-ptype` (virtual ports do not report
  packet types; without it l3fwd stops at "ptype check fails") and a rule file
  holding exactly the pcap's 5-tuples (`--rule_ipv4`, one `R<dst> <src> <dport> <sport> 17 1` line per
  flow; l3fwd reads rule files only when `--rule_ipv6` is given too). A miss would go back out of the
  port it came in on (the pcap port), so hits and misses are both counted. Without the rule files l3fwd
  loads its 16 built-in routes (198.18.*x*.0 → 198.18.*x*.1, port 9 → 9; only the 2 whose output port
  exists), none of the pcap's flows hits, and every packet goes back out of the pcap port while the sink
  sees nothing. Unpatched, l3fwd stops at
  start-up with `Ethdev port_id=0 requested Rx offloads 0xe doesn't match Rx offloads capabilities 0x0
  in rte_eth_dev_configure()`. Patches applied to the copy (by `bench/e2e/l3fwd_build.py`, nothing
  else differs from the Debian sources):
{patches}

```diff
{diff.rstrip()}
```
- The pcap port also gets {PCAP_TXQ} `tx_pcap=/dev/null` TX queues: net_pcap gives a receive-only
  port a single TX queue and shadownet sets up a primary and a reserved shadow TX queue per port.
  No tool sends anything there in this benchmark except l3fwd on an EM miss.
- Noise: a 2-CPU VM shared with other engineers' builds; the harness pins itself to CPU 0 and reads
  counters twice per run, but compilers on CPU 1 take time from the forwarding core.{cpu_note}{steal_note}
  Some noise is invisible from inside the guest (another VM on the SMT sibling, host cache and memory
  traffic): a forwarding thread that held its CPU ~100% of a window can still run 10–25% slower than in
  a quiet moment. Medians over alternating runs limit, not remove, these effects; compare ratios (best
  the per-CPU-second ones) rather than absolute Mpps.{perf_line}

Commands of the last run of each tool (paths shortened):

```
{commands}
```
{DOC_END}"""


def cmd_text(argv):
    out = []
    for a in argv:
        a = a.replace(REPO + "/", "")
        out.append(shlex.quote(a))
    return " ".join(out)


def update_docs(section, path):
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = None
    if text is None:
        text = DOC_INTRO + "\n" + section + "\n"
    elif DOC_BEGIN in text and DOC_END in text:
        a = text.index(DOC_BEGIN)
        b = text.index(DOC_END) + len(DOC_END)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    tmp = path + ".e2e.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    log("e2e: updated %s" % os.path.relpath(path, os.getcwd()))


# ---------------------------------------------------------------- main

def on_signal(sig, frame):
    raise KeyboardInterrupt


def cleanup():
    if current is not None:
        current.stop(grace=5)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Flow specs are FLOWS[:CLIENTS], CLIENTS defaulting to FLOWS; k and M "
                                        "suffixes work (1M:100k).")
    ap.add_argument("--flows", type=flow_specs, default=flow_specs(DEFAULT_FLOWS),
                    help="comma-separated flow specs (default %s)" % DEFAULT_FLOWS)
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help="comma-separated subset of %s, plus rxonly (testpmd rxonly: the source alone) and "
                         "baseline (a second shadownet build, --baseline)"
                         % ",".join(TOOLS))
    ap.add_argument("--reps", type=int, default=3, help="runs per tool and flow count (default 3)")
    ap.add_argument("--duration", type=float, default=10, help="measured window per run, seconds (default 10)")
    ap.add_argument("--warmup", type=float, default=2,
                    help="seconds between the first packet and the window (default 2)")
    ap.add_argument("--shadownet", default=os.path.join(REPO, "build/app/shadownet/shadownet"),
                    help="the appliance binary (default build/app/shadownet/shadownet)")
    ap.add_argument("--shadownet-args", default="", help="extra shadownet options, e.g. '--max-clients 200000'")
    ap.add_argument("--baseline", default=None,
                    help="a second shadownet binary (e.g. a build of the commit before a change): "
                         "--tools shadownet,baseline,... runs it alternating with --shadownet, same options")
    ap.add_argument("--testpmd", default="/usr/bin/dpdk-testpmd")
    ap.add_argument("--outdir", default=os.path.join(REPO, "build/bench"),
                    help="pcaps, rule files, the l3fwd build and failed runs' logs (default build/bench)")
    ap.add_argument("--mem", type=int, default=0, help="EAL -m in MB for every tool (default: from the pool size)")
    ap.add_argument("--start-timeout", type=float, default=180, help="seconds allowed for start-up (default 180)")
    ap.add_argument("--perf", action="store_true",
                    help="perf stat cycles and instructions per packet of each forwarding thread")
    ap.add_argument("--retry-below", type=float, default=0, metavar="SHARE",
                    help="run again (up to --max-retries times) when the forwarding thread had its CPU less "
                         "than SHARE (0-1) of the window; default 0: keep every run")
    ap.add_argument("--max-retries", type=int, default=2)
    ap.add_argument("--json", help="write every run's raw figures to this file")
    ap.add_argument("--keep-logs", action="store_true", help="keep the tools' logs of successful runs too")
    ap.add_argument("--update-docs", action="store_true",
                    help="rewrite the e2e section of docs/benchmarks.md with the results")
    ap.add_argument("--from-json", metavar="FILE",
                    help="measure nothing: print (and with --update-docs write) the report of a --json file")
    ap.add_argument("--docs", default=os.path.join(REPO, "docs", "benchmarks.md"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in args.tools:
        if t not in TOOLS + EXTRA_TOOLS:
            die("--tools: unknown tool %r (choose from %s)" % (t, ", ".join(TOOLS + EXTRA_TOOLS)))
    if args.reps < 1 or args.duration <= 0 or args.warmup < 0:
        die("--reps must be >= 1, --duration > 0, --warmup >= 0")
    if args.from_json:
        return rerender(args)
    args.outdir = os.path.abspath(args.outdir)
    args.shadownet = os.path.abspath(args.shadownet)
    if args.baseline:
        args.baseline = os.path.abspath(args.baseline)
    check_environment(args)
    args.shadownet_help = ""
    if "shadownet" in args.tools or "baseline" in args.tools:
        args.shadownet_help = subprocess.run([args.shadownet if "shadownet" in args.tools else args.baseline,
                                              "--help"], capture_output=True, text=True).stdout
    args.perf_ok, args.perf_note = perf_supported() if args.perf else (False, "")
    if args.perf and not args.perf_ok:
        log("e2e: --perf: %s; measuring without it" % args.perf_note)

    started = datetime.datetime.now(datetime.timezone.utc)
    cmdline = "bench/e2e.py" + "".join(" " + shlex.quote(a) for a in sys.argv[1:])
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(cleanup)

    # The harness stays off the forwarding CPU; tools get every CPU back.
    try:
        args.all_cpus = os.sched_getaffinity(0)
        if len(args.all_cpus) > 1 and 0 in args.all_cpus:
            os.sched_setaffinity(0, {0})
    except (AttributeError, OSError):
        args.all_cpus = None

    if "l3fwd" in args.tools:
        try:
            args.l3fwd_bin = l3fwd_build.build(os.path.join(args.outdir, "l3fwd"), log=log)
        except (RuntimeError, FileNotFoundError) as e:
            die(str(e), 1)
    files = {}
    for spec in args.flows:
        files[spec] = pcapgen.generate(args.outdir, spec[0], spec[1], log=log)

    for name in dpdkrun.remove_stale_runtime_dirs():
        log("e2e: removed %s/%s, left by an earlier run that was killed" % (dpdkrun.RUNTIME_ROOT, name))
    results = []
    args.last_argv = {}
    discarded = []
    run_no = 0
    try:
        for spec in args.flows:
            for rep in range(args.reps):
                for tool in args.tools:
                    run_no += 1
                    log("e2e: %s flows / %s clients, rep %d/%d: %s ..." %
                        (fmt_flows(spec[0]), fmt_flows(spec[1]), rep + 1, args.reps, LABEL[tool]))
                    r = run_once(tool, spec, files[spec], args, run_no)
                    tries = 0
                    while (args.retry_below and r.get("fwd_cpu_share", 1) < args.retry_below
                           and tries < args.max_retries):
                        tries += 1
                        log("e2e:   forwarding thread had its CPU %.0f%% of the window (< %.0f%%): "
                            "discarding %.2f Mpps, running again" %
                            (100 * r["fwd_cpu_share"], 100 * args.retry_below, r["mpps"]))
                        r["discarded"] = True
                        discarded.append(r)
                        run_no += 1
                        r = run_once(tool, spec, files[spec], args, run_no)
                    results.append(r)
                    args.last_argv[tool] = r["argv"]
                    if "mpps" in r:
                        extra = ""
                        if tool == "l3fwd" and r["sink_tx"] + r["src_tx"]:
                            extra = ", EM hits %.2f%%" % (100 * r["sink_tx"] / (r["sink_tx"] + r["src_tx"]))
                        if "fwd_cpu_share" in r:
                            extra += ", fwd thread on CPU %.0f%%" % (100 * r["fwd_cpu_share"])
                        log("e2e:   %.2f Mpps%s" % (r["mpps"], extra))
    except KeyboardInterrupt:
        log("e2e: interrupted; partial results follow")
        cleanup()
        args.update_docs = False

    args.tsc_hz = next((r["tsc_hz"] for r in results if r.get("tsc_hz")), None) or cpu_hz()
    meta = run_meta(args)
    rows = summarise(results, args.flows, args.tools)
    print_report(rows, args.tools, args)
    if args.json:
        settings = {k: getattr(args, k) for k in SAVED_SETTINGS}
        with open(args.json, "w") as f:
            json.dump({"command": cmdline, "started": started.isoformat(), "meta": meta, "settings": settings,
                       "runs": results, "discarded_runs": discarded,
                       "summary": [{"/".join(k) if isinstance(k, tuple) else k: v for k, v in r.items()}
                                   for r in rows]}, f, indent=1, default=str)
    if args.update_docs and not write_docs(rows, args, cmdline, started, meta):
        return 1
    return 0 if all("mpps" in r for r in results) else 1


SAVED_SETTINGS = ("flows", "tools", "reps", "duration", "warmup", "perf", "perf_ok", "perf_note", "last_argv")


def write_docs(rows, args, cmdline, started, meta):
    if any(r.get((t, "mpps")) is None for r in rows for t in args.tools):
        log("e2e: some tool has no successful run; docs not updated")
        return False
    update_docs(doc_section(rows, args.tools, args, cmdline, started, meta), args.docs)
    return True


def rerender(args):
    """--from-json: the report (and with --update-docs the docs) of an earlier run, without measuring."""
    with open(args.from_json) as f:
        saved = json.load(f)
    for k, v in saved["settings"].items():
        setattr(args, k, v)
    args.flows = [tuple(x) for x in args.flows]
    meta = saved["meta"]
    args.tsc_hz = meta.get("tsc_hz")
    rows = summarise(saved["runs"], args.flows, args.tools)
    print_report(rows, args.tools, args)
    started = datetime.datetime.fromisoformat(saved["started"])
    if args.update_docs and not write_docs(rows, args, saved["command"], started, meta):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
