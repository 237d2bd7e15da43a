#!/usr/bin/python3
"""Smoke tests: the real `shadownet` binary, run for a few seconds, its summary
JSON and exit codes checked. Usage: smoke.py SHADOWNET_BINARY SCENARIO"""
import csv
import glob
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
RUNTIME = "/var/run/dpdk"


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def run(args, timeout=60):
    p = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def check_accounting(doc):
    """Every packet received is transmitted or dropped with a reason."""
    for key in ("ports", "totals", "elapsed_s", "lcores"):
        check(key in doc, f"summary has no '{key}'")
    total_rx = total_tx = 0
    for p in doc["ports"]:
        for key in ("id", "rx", "tx", "drops", "dropped", "forwarded"):
            check(key in p, f"port entry has no '{key}': {p}")
        check(p["rx"] == p["forwarded"] + p["drops"], f"port {p['id']}: rx != forwarded + drops: {p}")
        check(p["drops"] == sum(p["dropped"].values()), f"port {p['id']}: drops != sum of reasons")
        total_rx += p["rx"]
        total_tx += p["tx"]
    t = doc["totals"]
    check(t["rx"] == total_rx and t["tx"] == total_tx, "totals do not sum the ports")
    check(t["drops"] == sum(t["dropped"].values()), "total drops != sum of reasons")
    check(t["rx"] == t["tx"] + t["drops"], f"rx {t['rx']} != tx {t['tx']} + dropped {t['drops']}")


def scenario_embedded():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        p = subprocess.Popen([BIN, "--duration", "3", "--summary-json", out],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = p.communicate(timeout=60)
        check(p.returncode == 0, f"exit {p.returncode}: {stderr}")
        progress = [line for line in stdout.splitlines() if line.startswith("[")]
        check(len(progress) >= 2, f"expected a progress line per second, got: {stdout}")
        check("Mpps" in progress[0], f"progress line without rates: {progress[0]}")
        doc = json.load(open(out))
        check_accounting(doc)
        check(len(doc["ports"]) == 2, f"embedded default has 2 ports, got {len(doc['ports'])}")
        check(doc["totals"]["tx"] > 0, "nothing was forwarded")
        check(2.5 <= doc["elapsed_s"] <= 10, f"elapsed_s {doc['elapsed_s']}")
        tr = doc["traffic"]
        check(tr["sent"] == doc["totals"]["rx"], f"generator sent {tr['sent']} != appliance rx")
        check(tr["received"] == doc["totals"]["tx"], f"generator received {tr['received']} != appliance tx")
        check(tr["reordered"] == 0, "packets were reordered")
        # The embedded default made its own file prefix and must remove it.
        left = glob.glob(f"{RUNTIME}/shadownet-{p.pid}-*")
        check(not left, f"runtime directory left behind: {left}")
    print(f"ok: forwarded {doc['totals']['tx']} packets, accounting balances")


def scenario_bare_double_dash():
    """`shadownet -- ...`: nothing before `--` is no EAL arguments, so the embedded default runs
    (its virtual ports and built-in traffic), not an EAL started with no arguments at all."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        p = subprocess.Popen([BIN, "--", "--duration", "2", "--summary-json", out, "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = p.communicate(timeout=60)
        check(p.returncode == 0, f"exit {p.returncode}: {stderr}")
        doc = json.load(open(out))
        check_accounting(doc)
        check(len(doc["ports"]) == 2 and "traffic" in doc, f"not the embedded default: {doc['ports']}")
        t = doc["totals"]
        check(t["tx"] > 0, f"nothing was forwarded: {t}")
        check(t["rx"] == t["tx"] + t["drops"], f"rx {t['rx']} != tx {t['tx']} + drops {t['drops']}")
        left = glob.glob(f"{RUNTIME}/shadownet-{p.pid}-*")
        check(not left, f"runtime directory left behind: {left}")
    print(f"ok: a bare '--' runs the embedded default: forwarded {t['tx']} packets, accounting balances")


def scenario_signal():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        p = subprocess.Popen([BIN, "--summary-json", out, "--stats-period", "0.5"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        check(p.poll() is None, "exited before the signal")
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=30)
        check(p.returncode == 0, f"SIGINT: exit {p.returncode}: {stderr}")
        check("total rx" in stdout, f"no final counters: {stdout}")
        doc = json.load(open(out))
        check_accounting(doc)
        check(doc["totals"]["rx"] > 0, "nothing received")
    print("ok: SIGINT stops cleanly with final counters")


def scenario_eal_args():
    """net_null makes zero-filled frames: every one must be dropped, and counted, as not IP."""
    prefix = f"shadownet-smoke-{os.getpid()}"
    try:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.json")
            code, stdout, stderr = run([
                "--no-huge", "-m", "256", "--no-pci", "--file-prefix", prefix, "-l", "0-1",
                "--vdev", "net_null0", "--vdev", "net_null1", "--log-level", "*:warning",
                "--", "--duration", "2", "--summary-json", out, "-q"])
            check(code == 0, f"exit {code}: {stderr}")
            doc = json.load(open(out))
            check_accounting(doc)
            names = sorted(p["name"] for p in doc["ports"])
            check(names == ["net_null0", "net_null1"], f"ports {names}")
            check("traffic" not in doc, "no built-in traffic when the user gave the ports")
            t = doc["totals"]
            check(t["rx"] > 0, "net_null ports received nothing")
            check(t["tx"] == 0 and t["dropped"]["unsupported_ethertype"] == t["rx"],
                  f"zero frames must be dropped as unsupported_ethertype: {t}")
    finally:
        shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
    print("ok: user EAL arguments, net_null garbage counted as drops")


def scenario_pcap_clients():
    """A pcap replayed by net_pcap into a net_null sink: one client per source address."""
    # python3-scapy, installed by scripts/setup
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap
    prefix = f"shadownet-smoke-pcap-{os.getpid()}"
    try:
        with tempfile.TemporaryDirectory() as d:
            pcap = os.path.join(d, "in.pcap")
            frames = []
            # Explicit MACs: otherwise scapy tries to resolve them on this host's network.
            mac = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            for i in range(60):
                if i % 3 == 0:
                    frames.append(Ether(**mac) / IPv6(src=f"2001:db8::{i % 4 + 1}", dst="2001:db8::ff") /
                                  TCP(sport=1000 + i, dport=80) / bytes(10))
                else:
                    frames.append(Ether(**mac) / IP(src=f"10.9.0.{i % 5 + 1}", dst="198.18.0.1") /
                                  UDP(sport=1000 + i, dport=9) / bytes(18))
            frames.append(Ether(type=0x88cc, **mac) / bytes(46))  # LLDP: not forwarded, counted
            wrpcap(pcap, frames)
            out = os.path.join(d, "out.json")
            snm_log = os.path.join(d, "snm.csv")
            code, stdout, stderr = run([
                "--no-huge", "-m", "256", "--no-pci", "--file-prefix", prefix, "-l", "0-1",
                "--vdev", f"net_pcap0,rx_pcap={pcap},infinite_rx=1", "--vdev", "net_null0,no-rx=1",
                "--log-level", "*:error", "--", "--duration", "2", "--summary-json", out, "-q",
                "--snm-log", snm_log])
            check(code == 0, f"exit {code}: {stderr}")
            doc = json.load(open(out))
            check_accounting(doc)
            c = doc["clients"]
            check(c["count"] == 9, f"5 IPv4 + 4 IPv6 sources make 9 clients, got {c['count']}")
            keys = sorted(x["key"] for x in c["busiest"])
            check("10.9.0.1" in keys and "2001:db8::1" in keys, f"client keys {keys}")
            t = doc["totals"]
            check(t["tx"] > 1000, f"forwarded only {t['tx']}")
            check(t["drops"] > 0 and t["dropped"]["unsupported_ethertype"] == t["drops"],
                  f"the odd frame is dropped as unsupported_ethertype: {t}")
            attributed = sum(x["rx_packets"] for x in c["busiest"]) + c["default"]["rx_packets"]
            check(attributed == t["rx"] - t["drops"], f"client rx {attributed} != parsed rx {t['rx'] - t['drops']}")
            # The manager's per-tick log names each client by its key (the
            # scenario runner attributes losses to client groups by it).
            with open(snm_log) as f:
                logged = {(r["id"], r["key"]) for r in csv.DictReader(f) if r["kind"] == "client"}
            summary = {(str(x["id"]), x["key"]) for x in c["busiest"]}
            check(logged and logged <= summary and {k for _, k in logged} >= {"10.9.0.1", "2001:db8::1"},
                  f"--snm-log client keys {sorted(logged)} against the summary's {sorted(summary)}")
    finally:
        shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
    print(f"ok: pcap replay, {doc['clients']['count']} clients, {doc['totals']['tx']} forwarded")


def scenario_config_file():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        conf = os.path.join(d, "shadownet.conf")
        with open(conf, "w") as f:
            f.write(f"# four virtual ports, two pairs\nvirtual-ports = 4\nduration = 1\nsummary-json = {out}\n"
                    "shadow-txq = 2\ntraffic-rate = 400000\nquiet = true\n")
        code, stdout, stderr = run(["--config", conf])
        check(code == 0, f"exit {code}: {stderr}")
        check("[" not in stdout.split("shadownet: ran")[0], "quiet run printed progress")
        doc = json.load(open(out))
        check_accounting(doc)
        check(len(doc["ports"]) == 4, f"config file asked for 4 ports, got {len(doc['ports'])}")
    print("ok: options from a config file")


def write_pcap(path, frames):
    """Raw frames to a pcap file (scapy would refuse some of the malformed ones)."""
    import struct
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i, 0, len(fr), len(fr)))
            f.write(fr)


def random_traffic(seed, n, malformed_share):
    """Valid frames of many kinds, and a share of them broken in random ways."""
    import random
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import ARP, Dot1Q, Ether
    rnd = random.Random(seed)
    mac = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    out = []
    for i in range(n):
        src4 = f"10.{rnd.randrange(4)}.{rnd.randrange(8)}.{rnd.randrange(1, 30)}"
        kind = rnd.randrange(8)
        if kind == 0:
            fr = Ether(**mac) / IP(src=src4, dst="198.18.0.1") / UDP(sport=rnd.randrange(1024, 65535), dport=53) / bytes(rnd.randrange(0, 200))
        elif kind == 1:
            fr = Ether(**mac) / IP(src=src4, dst="198.18.0.1", options=b"\x01\x01\x01\x00") / TCP(sport=rnd.randrange(1024, 65535), dport=443, flags="S")
        elif kind == 2:
            fr = Ether(**mac) / Dot1Q(vlan=rnd.randrange(1, 4095)) / IP(src=src4, dst="198.18.0.2") / ICMP()
        elif kind == 3:
            fr = Ether(**mac) / Dot1Q(vlan=10) / Dot1Q(vlan=20) / IP(src=src4, dst="198.18.0.3") / UDP() / bytes(20)
        elif kind == 4:
            fr = Ether(**mac) / IPv6(src=f"2001:db8::{rnd.randrange(1, 40):x}", dst="2001:db8::ff") / TCP(dport=80)
        elif kind == 5:
            fr = Ether(**mac) / IPv6(src=f"2001:db8::{rnd.randrange(1, 40):x}", dst="2001:db8::ff") / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(offset=rnd.randrange(0, 2)) / UDP() / bytes(8)
        elif kind == 6:
            fr = Ether(**mac) / IPv6(src="2001:db8::99", dst="2001:db8::ff") / ICMPv6EchoRequest()
        else:
            fr = Ether(**mac) / ARP(psrc=src4, pdst="10.0.0.254")
        b = bytearray(bytes(fr))
        if rnd.random() < malformed_share:
            how = rnd.randrange(5)
            if how == 0:
                b = b[:rnd.randrange(1, len(b))]          # truncated anywhere
            elif how == 1 and len(b) > 14:
                b[14] = rnd.randrange(256)                # version / IHL
            elif how == 2 and len(b) > 17:
                b[16:18] = rnd.randrange(65536).to_bytes(2, "big")  # IPv4 total / IPv6 flow label
            elif how == 3:
                for _ in range(4):
                    j = rnd.randrange(len(b))
                    b[j] = rnd.randrange(256)
            else:
                b = bytearray(rnd.randbytes(rnd.randrange(1, 120)))
        out.append(bytes(b))
    return out


def run_accounting(label, eal_lcores, app_args):
    prefix = f"shadownet-smoke-acct-{label}-{os.getpid()}"
    try:
        with tempfile.TemporaryDirectory() as d:
            pcap = os.path.join(d, "random.pcap")
            write_pcap(pcap, random_traffic(seed=7, n=3000, malformed_share=0.3))
            out = os.path.join(d, "out.json")
            code, stdout, stderr = run([
                "--no-huge", "-m", "512", "--no-pci", "--file-prefix", prefix, "--lcores", eal_lcores,
                "--vdev", f"net_pcap0,rx_pcap={pcap},infinite_rx=1", "--vdev", "net_null0,no-rx=1",
                "--log-level", "*:error", "--", "--duration", "2", "--summary-json", out, "-q"] + app_args,
                timeout=90)
            check(code == 0, f"{label}: exit {code}: {stderr}")
            doc = json.load(open(out))
            check_accounting(doc)
            t = doc["totals"]
            reasons = {k: v for k, v in t["dropped"].items() if v}
            check(t["rx"] > 10000 and t["tx"] > 0, f"{label}: too little traffic: {t}")
            check(len(reasons) >= 4, f"{label}: malformed frames should hit several reasons: {reasons}")
            for m in doc["mempools"]:
                check(m["in_use"] == m["baseline"],
                      f"{label}: mempool {m['name']} has {m['in_use']} in use, {m['baseline']} at start")
            for r in doc["rings"]:
                check(r["count"] == 0, f"{label}: ring {r['name']} still holds {r['count']}")
            c = doc["clients"]
            attributed = sum(x["rx_packets"] for x in c["busiest"]) + c["default"]["rx_packets"]
            check(attributed == t["rx"] - t["drops"] + c["default"]["drops"] + sum(x["drops"] for x in c["busiest"]),
                  f"{label}: every parsed packet belongs to a client: clients {attributed}, rx {t['rx']}, "
                  f"drops {t['drops']}, client drops {c['default']['drops'] + sum(x['drops'] for x in c['busiest'])}, "
                  f"clients {c['count']} listed {len(c['busiest'])} {reasons}")
    finally:
        shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
    print(f"ok: {label}: rx {t['rx']} = tx {t['tx']} + dropped {t['drops']} {reasons}")


def scenario_accounting_property():
    """Random traffic with a malformed share through the real appliance, both modes."""
    cpus = sorted(os.sched_getaffinity(0))
    run_accounting("rtc", f"0@{cpus[0]},1@{cpus[-1]}", ["--summary-clients", "100000"])
    cpus = sorted(os.sched_getaffinity(0))
    last = cpus[-1]
    run_accounting("pipeline", f"0@{cpus[0]},1@{last},2@{last}", ["--mode", "pipeline", "--summary-clients", "100000"])


BAD = [
    # (arguments, expected exit code, text the one-line error must contain)
    (["--frobnicate"], 2, "unknown option '--frobnicate'"),
    (["-l", "0-1"], 2, "before '--'"),
    (["--duration", "-3"], 2, "--duration"),
    (["--duration", "soon"], 2, "duration"),
    (["--burst", "0"], 2, "--burst"),
    (["--packet-size", "10"], 2, "--packet-size"),
    (["--virtual-ports", "3", "--duration", "1"], 2, "cannot be paired"),
    (["--port-pairs", "0:5", "--duration", "1"], 2, "port 5 is not an appliance port"),
    (["--ports", "9", "--duration", "1"], 2, "port 9 does not exist"),
    (["--fwd-lcores", "7", "--duration", "1"], 2, "lcore 7 is not enabled"),
    (["--config", "/nonexistent/shadownet.conf"], 2, "cannot open"),
    (["--summary-json", "/nonexistent/dir/out.json", "--duration", "0.5"], 2, "cannot write"),
    (["--no-huge", "-m", "64", "--no-pci", "--file-prefix", "shadownet-smoke-noport", "--", "--duration", "1"],
     2, "no ports"),
    (["--no-such-eal-flag", "--"], 1, "cannot initialise DPDK EAL"),
]


def scenario_bad_command_lines():
    with tempfile.TemporaryDirectory() as d:
        bad_conf = os.path.join(d, "bad.conf")
        with open(bad_conf, "w") as f:
            f.write("burst = lots\n")
        unknown_conf = os.path.join(d, "unknown.conf")
        with open(unknown_conf, "w") as f:
            f.write("colour = blue\n")
        cases = BAD + [(["--config", bad_conf], 2, "burst"), (["--config", unknown_conf], 2, "colour")]
        for args, want_code, want_text in cases:
            code, stdout, stderr = run(args)
            check(code >= 0, f"{args}: killed by signal {-code}")
            check(code == want_code, f"{args}: exit {code}, wanted {want_code}; stderr: {stderr}")
            errors = [line for line in stderr.splitlines() if line.startswith("shadownet: error:")]
            check(len(errors) == 1, f"{args}: wanted one error line, got: {stderr!r}")
            check(want_text in errors[0], f"{args}: error {errors[0]!r} lacks {want_text!r}")
    shutil.rmtree(f"{RUNTIME}/shadownet-smoke-noport", ignore_errors=True)
    code, stdout, _ = run(["--help"])
    check(code == 0 and "--summary-json" in stdout, "--help")
    code, stdout, _ = run(["--version"])
    check(code == 0 and stdout.startswith("shadownet "), "--version")
    print(f"ok: {len(cases)} bad command lines each get their error")


def check_client_latency(doc, clients):
    """shadowgen's clients[] carry their own latency percentiles, consistent with their counts."""
    check(len(doc["clients"]) == clients, f"{clients} clients in the summary, got {len(doc['clients'])}")
    for c in doc["clients"]:
        check("latency_ns" in c, f"client {c['index']} has no latency_ns: {c}")
        lat = c["latency_ns"]
        order = [lat[k] for k in ("p50", "p90", "p99", "p99.9", "max")]
        check(order == sorted(order), f"client {c['index']}: percentiles out of order: {lat}")
        check((c["received"] > 0) == (lat["max"] > 0), f"client {c['index']}: received {c['received']}, {lat}")
        check(lat["max"] <= doc["totals"]["latency_ns"]["max"], f"client {c['index']}: max above the totals' max")


def shadowgen_bin():
    check(len(sys.argv) > 3, "this scenario needs the shadowgen binary as third argument")
    return sys.argv[3]


def gen_pacing(lcores, tx_lcores):
    """shadowgen alone on a looped-back net_ring port: the rate it sends is the rate asked for
    (within 1 %), and everything it sends comes back counted, in order."""
    gen = shadowgen_bin()
    prefix = f"shadowgen-smoke-{os.getpid()}"
    try:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "gen.json")
            series = os.path.join(d, "series.csv")
            p = subprocess.run([gen, "-l", lcores, "--no-huge", "-m", "256", "--no-pci", "--file-prefix", prefix,
                                "--log-level", "*:error", "--vdev", "net_ring0", "--", "--rate", "200000",
                                "--clients", "20", "--duration", "3", "--tx-lcores", str(tx_lcores),
                                "--summary-json", out, "--timeseries-csv", series, "-q"],
                               capture_output=True, text=True, timeout=60)
            check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
            doc = json.load(open(out))
            t = doc["totals"]
            check(abs(t["sent"] + t["backpressure"] - 600000) <= 6000,
                  f"sent {t['sent']} + refused {t['backpressure']}, asked for 600000 (3 s at 200 kpps)")
            # With one lcore nothing else empties the ring; with more, a refusal is the receiving
            # lcore descheduled on a shared box (the ring holds 1023), not the pacing.
            check(tx_lcores > 1 or t["backpressure"] <= 6000, f"the looped ring refused {t['backpressure']} packets")
            check(t["received"] == t["sent"] and t["lost"] == 0, f"loopback lost packets: {t}")
            check(t["reordered"] == 0 and t["duplicates"] == 0, f"loopback reordered or duplicated: {t}")
            check(len(doc["clients"]) == 20, "per-client results")
            check(all(c["sent"] > 0 for c in doc["clients"]), "every client sent")
            check_client_latency(doc, 20)
            rows = open(series).read().splitlines()
            check(rows[0] == "t,group,offered_pps,sent_pps,received_pps" and len(rows) > 20, "time series")
    finally:
        shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
    print(f"ok: shadowgen paced {t['sent']} + {t['backpressure']} refused packets in 3 s on {tx_lcores} TX lcores "
          "(asked 600000)")


def scenario_gen_pacing():
    gen_pacing("0", 1)


def scenario_gen_pacing_2tx():
    """Two TX lcores, each with its own TX queue of the looped ring and its own pacing; the
    main lcore also receives both queues."""
    gen_pacing("0-1", 2)


def scenario_gen_pcap():
    """pcap replay of a capture written by scapy: at original timing over a looped net_ring (every
    stamped frame comes back, the ones without room come back foreign), then at a set rate into
    a net_pcap port whose output is compared frame by frame with the capture."""
    from scapy.all import ARP, IP, TCP, UDP, Ether, IPv6, Raw, rdpcap, wrpcap
    gen = shadowgen_bin()
    mac = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    frames = [
        Ether(**mac) / IP(src="10.7.0.1", dst="198.18.0.1") / UDP(sport=1000, dport=53) / Raw(b"u" * 40),
        Ether(**mac) / IPv6(src="2001:db8::7", dst="2001:2::1") / UDP(sport=1001, dport=53) / Raw(b"6" * 30),
        Ether(**mac) / IP(src="10.7.0.2", dst="198.18.0.1") / TCP(sport=1002, dport=80, flags="PA") / Raw(b"t" * 30),
        Ether(**mac) / ARP(psrc="10.7.0.3", pdst="10.7.0.4"),  # no L4: no room
        Ether(**mac) / IP(src="10.7.0.5", dst="198.18.0.1") / UDP(sport=1003, dport=53) / Raw(b"s" * 5),  # too short
    ]
    for i, f in enumerate(frames):
        f.time = 1700000000 + i * 0.002  # a 10 ms pass (5 frames, 2 ms apart)
    tag = os.getpid()
    prefixes = []
    try:
        with tempfile.TemporaryDirectory() as d:
            cap = os.path.join(d, "in.pcap")
            wrpcap(cap, frames)
            # Original timing, 3 s looped: 300 passes of 5 frames (one pass lasts 10 ms).
            scn = os.path.join(d, "replay.scn")
            open(scn, "w").write("duration = 3\ntick = 0.1\n[group replay]\npcap = in.pcap\ntiming = original\n")
            out = os.path.join(d, "orig.json")
            prefixes.append(f"shadowgen-smoke-pcap-{tag}")
            p = subprocess.run([gen, "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--file-prefix", prefixes[-1],
                                "--log-level", "*:error", "--vdev", "net_ring0", "--", "--scenario", scn,
                                "--summary-json", out, "-q"], capture_output=True, text=True, timeout=60)
            check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
            t = json.load(open(out))["totals"]
            sent = t["sent"] + t["backpressure"]
            check(abs(sent - 1500) <= 15, f"original timing: sent {t['sent']} + refused {t['backpressure']}, "
                                          "the capture's timing asks for 1500 in 3 s")
            check(abs(t["unstamped"] * 5 - t["sent"] * 2) <= 10, f"2 frames in 5 have no room for a stamp: {t}")
            check(t["received"] == t["sent"] - t["unstamped"] and t["lost"] == 0, f"stamped frames lost: {t}")
            check(t["foreign"] == t["unstamped"], f"unstamped frames come back foreign: {t}")
            # At a set rate (profile), played once (loop = no): exactly the 5 frames, then silence.
            open(scn, "w").write("duration = 1\n[group replay]\npcap = in.pcap\ntiming = profile\nrate = 1000\n"
                                 "loop = no\n")
            empty = os.path.join(d, "empty.pcap")
            with open(empty, "wb") as f:  # a pcap header (Ethernet) and no frames: nothing to receive
                f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            outcap = os.path.join(d, "out.pcap")
            out = os.path.join(d, "rate.json")
            prefixes.append(f"shadowgen-smoke-pcap2-{tag}")
            p = subprocess.run([gen, "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--file-prefix", prefixes[-1],
                                "--log-level", "*:error", "--vdev", f"net_pcap0,rx_pcap={empty},tx_pcap={outcap}",
                                "--", "--scenario", scn, "--summary-json", out, "-q"],
                               capture_output=True, text=True, timeout=60)
            check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
            t = json.load(open(out))["totals"]
            check(t["sent"] == 5 and t["unstamped"] == 2, f"loop = no sends the capture once: {t}")
            got = rdpcap(outcap)
            check(len(got) == 5, f"net_pcap wrote {len(got)} frames, expected 5")
            for i, (a, b) in enumerate(zip(frames, got)):
                raw_a, raw_b = bytes(a), bytes(b)
                check(len(raw_a) == len(raw_b), f"frame {i}: length {len(raw_b)}, captured {len(raw_a)}")
                if i >= 3:
                    check(raw_a == raw_b, f"frame {i} (no room) was changed")
                    continue
                l4 = b[UDP] if UDP in b else b[TCP]
                at = len(raw_b) - len(bytes(l4.payload))
                check(raw_b[at:at + 2] == b"HS", f"frame {i}: no stamp after the L4 header")
                check(raw_b[at + 22:] == raw_a[at + 22:], f"frame {i}: the payload after the stamp changed")
                carried = l4.chksum
                if IP in b and UDP in b:
                    check(carried == 0, f"frame {i}: UDP/IPv4 checksum {carried:#x}, expected 0 (none)")
                    continue
                del l4.chksum  # scapy recomputes it on rebuild
                fresh = Ether(bytes(b))
                want = (fresh[UDP] if UDP in fresh else fresh[TCP]).chksum
                check(carried == want, f"frame {i}: L4 checksum {carried:#x}, valid would be {want:#x}")
    finally:
        for prefix in prefixes:
            shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
    print(f"ok: pcap replay, original timing {sent} frames in 3 s (capture asks 1500), once at a set rate: 5 frames, "
          "2 unstamped, checksums valid")


def scenario_ipv6_clients():
    """The embedded default driven by an IPv6 scenario: the appliance sees every IPv6 client."""
    with tempfile.TemporaryDirectory() as d:
        scn = os.path.join(d, "v6.scn")
        open(scn, "w").write("tick = 0.1\n[group v6]\nclients = 5\nsrc = 2001:db8::100\nrate = 2000\n"
                             "[group v6tcp]\nclients = 3\nsrc = 2001:db8:0:2::1\nproto = tcp\nsize = imix\n"
                             "rate = 1000\n")
        out = os.path.join(d, "out.json")
        code, stdout, stderr = run(["--duration", "3", "--traffic-scenario", scn, "--summary-json", out, "-q"])
        check(code == 0, f"exit {code}: {stderr}")
        doc = json.load(open(out))
        check_accounting(doc)
        check(doc["clients"]["count"] == 8, f"8 IPv6 clients, the appliance saw {doc['clients']['count']}")
        keys = sorted(c["key"] for c in doc["clients"]["busiest"])
        check(keys and all(k.startswith("2001:db8:") for k in keys), f"client keys are not the IPv6 sources: {keys}")
        t = doc["traffic"]
        check(t["sent"] > 10000 and t["received"] == t["sent"] and t["lost"] == 0, f"IPv6 traffic: {t}")
    print(f"ok: ipv6, the appliance saw 8 IPv6 clients, {t['received']} of {t['sent']} packets back")


def scenario_memif():
    """shadowgen -> shadownet -> shadowgen over memif, two processes: nothing lost,
    sent = appliance rx = received."""
    gen = shadowgen_bin()
    tag = os.getpid()
    sock = f"/tmp/shadownet-smoke-{tag}.sock"
    sn_prefix, gen_prefix = f"shadownet-smoke-memif-{tag}", f"shadowgen-smoke-memif-{tag}"
    lone_prefix = f"shadowgen-smoke-memif-lone-{tag}"
    cpus = sorted(os.sched_getaffinity(0))
    try:
        # A peer that accepts the connection and never answers: shadowgen waits for its link,
        # then gives up naming the port (and sends nothing meanwhile). DPDK 22.11's memif
        # sockets are abstract (socket-abstract=yes by default): no file, the name is "\0" + path.
        import socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as mute:
            mute.bind("\0" + sock)
            mute.listen(4)
            p = subprocess.run([gen, "--lcores", f"0@{cpus[0]}", "--no-huge", "-m", "256", "--no-pci",
                                "--file-prefix", lone_prefix, "--log-level", "*:error",
                                "--vdev", f"net_memif0,role=client,socket={sock},id=0",
                                "--", "--rate", "1000", "--duration", "1", "--link-wait", "0.3", "-q"],
                               capture_output=True, text=True, timeout=60)
        check(p.returncode == 1 and "link still down" in p.stderr and "net_memif0" in p.stderr,
              f"shadowgen with a mute peer: exit {p.returncode}: {p.stderr}")
        with tempfile.TemporaryDirectory() as d:
            sn_out = os.path.join(d, "sn.json")
            gen_out = os.path.join(d, "gen.json")
            sn = subprocess.Popen([BIN, "--lcores", f"0@{cpus[0]},1@{cpus[-1]}", "--no-huge", "-m", "256", "--no-pci",
                                   "--file-prefix", sn_prefix, "--log-level", "*:error",
                                   "--vdev", f"net_memif0,role=server,socket={sock},id=0",
                                   "--vdev", f"net_memif1,role=server,socket={sock},id=1",
                                   "--", "--summary-json", sn_out, "-q"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            # shadowgen connects once the appliance has started its ports: a memif server refuses
            # a client while its port is stopped, and the client does not retry. The appliance
            # opens its control socket right after starting them. (The memif socket itself is
            # abstract: no file to wait for.)
            ready = f"{RUNTIME}/{sn_prefix}/shadownet.sock"
            for _ in range(600):
                if os.path.exists(ready) or sn.poll() is not None:
                    break
                time.sleep(0.05)
            check(os.path.exists(ready), f"shadownet did not start: {sn.poll()}")
            # shadowgen lingers connected until the appliance has stopped:
            # DPDK 22.11's memif PMD can crash a server whose client
            # disconnects while it polls (shadowgen --linger).
            g = subprocess.Popen([gen, "--lcores", f"0@{cpus[0]}", "--no-huge", "-m", "256", "--no-pci",
                                  "--file-prefix", gen_prefix, "--log-level", "*:error",
                                  "--vdev", f"net_memif0,role=client,socket={sock},id=0,rsize=12",
                                  "--vdev", f"net_memif1,role=client,socket={sock},id=1,rsize=13",
                                  "--", "--tx-ports", "0", "--rx-ports", "1", "--rate", "20000", "--clients", "8",
                                  "--duration", "3", "--drain", "1", "--summary-json", gen_out, "-q",
                                  "--linger", "30"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.time() + 60
            while g.poll() is None and time.time() < deadline and not (
                    os.path.exists(gen_out) and os.path.getsize(gen_out) > 0):
                time.sleep(0.1)
            time.sleep(0.2)
            sn.send_signal(signal.SIGINT)
            sn_stdout, sn_stderr = sn.communicate(timeout=30)
            g.send_signal(signal.SIGTERM)
            g_stdout, g_stderr = g.communicate(timeout=30)
            check(g.returncode == 0, f"shadowgen exit {g.returncode}: {g_stderr}")
            check(sn.returncode == 0, f"shadownet exit {sn.returncode}: {sn_stderr}")
            gdoc = json.load(open(gen_out))
            gd = gdoc["totals"]
            sd = json.load(open(sn_out))
            check_accounting(sd)
            check(gd["sent"] > 40000, f"shadowgen sent only {gd['sent']}")
            check(gd["sent"] == sd["totals"]["rx"], f"shadowgen sent {gd['sent']} != shadownet rx {sd['totals']['rx']}")
            # Nothing is lost, however the two processes are scheduled. The appliance drops (tx_full)
            # only what shadowgen's RX ring (its port 1) cannot take:
            # - before shadowgen's link on that port is up and its RX queue polled once (a memif
            #   server transmits only into slots the client's rx_burst handed it). shadowgen sends
            #   nothing before that; before it waited, 1 run in 30 (one CPU busy) to 7 in 90 (both
            #   busy) lost each client's first packets this way.
            # - when the ring is full. shadowgen's one lcore sends (at most a burst per loop) and
            #   receives (a burst per loop), so what waits for it there is at most what its TX ring
            #   (port 0, 4096 slots) held plus a few bursts: an RX ring twice as large (rsize=13)
            #   never fills, even after a stall of either process (one of 380 ms was seen here).
            dropped = {k: v for k, v in sd["totals"]["dropped"].items() if v}
            check(sd["totals"]["drops"] == 0, f"the appliance dropped {dropped}")
            check(gd["received"] == gd["sent"] == sd["totals"]["tx"] and gd["lost"] == 0,
                  f"lost over memif: {gd}; appliance tx {sd['totals']['tx']}")
            check(gd["reordered"] == 0 and gd["duplicates"] == 0, f"reordered/duplicated over memif: {gd}")
            check(sd["clients"]["count"] == 8, f"8 clients, shadownet saw {sd['clients']['count']}")
            check_client_latency(gdoc, 8)
    finally:
        for prefix in (sn_prefix, gen_prefix, lone_prefix):
            shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
        if os.path.exists(sock):
            os.unlink(sock)
    print(f"ok: memif, {gd['sent']} sent = appliance rx = appliance tx = received {gd['received']}, "
          f"p50 {gd['latency_ns']['p50']} ns")


def scenario_telemetry():
    """The /shadownet/... endpoints, read with DPDK's own dpdk-telemetry.py while traffic flows."""
    prefix = f"shadownet-smoke-tel-{os.getpid()}"
    sn = subprocess.Popen([BIN, "-l", "0-1", "--no-huge", "-m", "256", "--no-pci", "--file-prefix", prefix,
                           "--log-level", "*:error", "--", "--virtual-ports", "2", "--traffic-clients", "100",
                           "--traffic-rate", "200000", "-q"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.5)
        cmds = ["/shadownet/ports", "/shadownet/clients,0,64", "/shadownet/clients,64,64",
                "/shadownet/client,1", "/shadownet/client,99999", "/shadownet/drops", "/shadownet/lcores",
                "/shadownet/traffic", "/shadownet/snm"]
        q = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input="\n".join(cmds) + "\n",
                           capture_output=True, text=True, timeout=30)
        replies = {}
        for line in q.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                doc = json.loads(line)
                for k, v in doc.items():
                    if k.startswith("/shadownet"):
                        replies.setdefault(k, []).append(v)
        check("/shadownet/ports" in replies, f"no reply from telemetry: {q.stdout} {q.stderr}")
        ports = replies["/shadownet/ports"][0]
        check(len(ports) == 2 and all(p["rx"] > 0 for p in ports.values()), f"ports {ports}")
        page1, page2 = replies["/shadownet/clients"]
        check(page1["total"] == 100, f"clients total {page1['total']}")
        listed = [k for k in page1 if k.isdigit()] + [k for k in page2 if k.isdigit()]
        check(len(page1) - 3 == 64 and page1["next"] == 64, f"first page: {len(page1) - 3} clients, next {page1['next']}")
        check(len(set(listed)) == 100 and page2["next"] == 0, f"two pages list {len(set(listed))} clients")
        one, missing = replies["/shadownet/client"]
        check(one["id"] == 1 and one["key"].startswith("10.0.0.") and one["rx_packets"] > 0, f"client 1: {one}")
        check(missing is None, f"an unknown client must be null, got {missing}")
        drops = replies["/shadownet/drops"][0]
        check(set(drops) >= {"tx_full", "no_route", "bad_ihl"}, f"drops {drops}")
        check(replies["/shadownet/lcores"][0], "lcores")
        check(replies["/shadownet/traffic"][0]["sent"] > 0, "traffic")
        snm = replies["/shadownet/snm"][0]
        check(snm["policy"] == "predictive" and "switches_to_shadow" in snm, f"snm {snm}")
        check("class" in one and "forecast_upper_pps" in one, f"client 1 has no manager view: {one}")
    finally:
        sn.send_signal(signal.SIGINT)
        sn.communicate(timeout=30)
        shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
    check(sn.returncode == 0, f"shadownet exit {sn.returncode}")
    print("ok: telemetry endpoints, paged clients")


def scenario_prometheus():
    """scripts/shadownet-exporter turns the telemetry into Prometheus text a scraper can read."""
    import urllib.request
    root = os.environ.get("SHADOWNET_SOURCE_ROOT", os.getcwd())
    prefix = f"shadownet-smoke-prom-{os.getpid()}"
    with socket_port() as port:
        pass
    sn = subprocess.Popen([BIN, "-l", "0-1", "--no-huge", "-m", "256", "--no-pci", "--file-prefix", prefix,
                           "--log-level", "*:error", "--", "--virtual-ports", "2", "--traffic-clients", "8", "-q"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ex = subprocess.Popen(["/usr/bin/python3", os.path.join(root, "scripts", "shadownet-exporter"),
                           "--file-prefix", prefix, "--port", str(port)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.5)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        samples = [l for l in body.splitlines() if l and not l.startswith("#")]
        names = {l.split("{")[0].split(" ")[0] for l in samples}
        for want in ("shadownet_port_rx_packets_total", "shadownet_drops_total", "shadownet_lcore_busy_cycles_total",
                     "shadownet_client_rx_packets_total", "shadownet_client_tx_packets_total", "shadownet_clients"):
            check(want in names, f"no {want} in the scrape: {sorted(names)}")
        clients = [l for l in samples if l.startswith("shadownet_client_rx_packets_total{")]
        check(len(clients) == 8 and 'key="10.0.0.1"' in body, f"8 clients with keys: {clients}")
        check(all(float(l.rsplit(" ", 1)[1]) > 0 for l in clients), "client counters move")
        check('path="shadow"' in body and 'path="primary"' in body, "tx by path")
    finally:
        ex.terminate()
        ex.communicate(timeout=10)
        sn.send_signal(signal.SIGINT)
        sn.communicate(timeout=30)
        shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
    print(f"ok: scrape with {len(samples)} samples")


class socket_port:
    """A free TCP port on the loopback (closed again before use)."""
    def __enter__(self):
        import socket
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return self.s.getsockname()[1]

    def __exit__(self, *a):
        self.s.close()


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}

if __name__ == "__main__":
    SCENARIOS[sys.argv[2]]()
