#!/usr/bin/python3
"""Smoke tests for failover (docs/resilience.md) with the real binaries.
Usage: failover.py SHADOWNET_BINARY SCENARIO [SHADOWGEN_BINARY]

- console: a --cmdline-file script sets a virtual port's link down and up,
  reads `show failover json`, and the summary accounts for every packet: what
  the generator lost is exactly what the cut cable swallowed.
- memif_peer: two shadowgen processes over memif; the one behind the primary
  egress hangs (SIGSTOP: its link stays up), shadownet finds the stalled queue
  and moves the egress to its shadow port, then that peer is killed (SIGKILL)
  and shadownet, no longer touching the port, survives it.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smoke import BIN, RUNTIME, check, check_accounting  # noqa: E402
from console import json_docs  # noqa: E402

GEN = sys.argv[3] if len(sys.argv) > 3 else None
EAL = ["--no-huge", "-m", "256", "--no-pci", "--log-level", "*:error"]


def cpus():
    return sorted(os.sched_getaffinity(0))


def scenario_console():
    prefix = f"shadownet-smoke-fo-{os.getpid()}"
    c = cpus()
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "fault.cmd")
        out = os.path.join(d, "out.json")
        with open(script, "w") as f:
            f.write("wait 500\nset link-down port 1\nwait 300\nshow failover json\nset link-up port 1\n"
                    "wait 800\nshow failover json\nquit\n")
        try:
            p = subprocess.run([BIN, "--lcores", f"0@{c[0]},1@{c[-1]}"] + EAL + [
                "--file-prefix", prefix, "--", "--virtual-ports", "3", "--port-pairs", "0:1", "--shadow-ports", "1:2",
                "--traffic-ports", "0", "--traffic-rate", "100000", "--policy", "off", "--failover-holddown-ms", "300",
                "--cmdline-file", script, "--summary-json", out, "-q"], capture_output=True, text=True, timeout=90)
        finally:
            shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
        check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
        views = [doc["failover"] for doc in json_docs(p.stdout) if "failover" in doc]
        check(len(views) == 2, f"two `show failover json` replies: {p.stdout[-800:]}")
        e1 = {e["egress"]: e for e in views[0]["egresses"]}[1]
        check(e1["primary"] == 2 and e1["failovers"] == 1, f"after the link went down: {e1}")
        port1 = {q["port"]: q for q in views[0]["ports"]}[1]
        check(port1["health"] == "failed" and port1["reason"].startswith("link down"), f"port 1: {port1}")
        e1 = {e["egress"]: e for e in views[1]["egresses"]}[1]
        check(e1["primary"] == 2 and e1["shadow"] == 1, f"port 1 back, as the shadow: {e1}")
        whats = [e["what"] for e in views[1]["events"]]
        for w in ("link-down", "port-failed", "failover", "link-up", "port-returned"):
            check(w in whats, f"no {w} event: {whats}")
        doc = json.load(open(out))
        check_accounting(doc)
        t = doc["traffic"]
        check(t["sent"] == doc["totals"]["rx"], f"sent {t['sent']} != appliance rx {doc['totals']['rx']}")
        cut = {q["port"]: q for q in doc["failover"]["ports"]}[1]["wire_lost"]
        tx_full = doc["totals"]["dropped"]["tx_full"]
        check(t["lost"] == cut + tx_full, f"lost {t['lost']} != cut cable {cut} + tx_full {tx_full}")
        check(t["reordered"] == 0 and t["duplicates"] == 0, f"traffic: {t}")
        check(doc["ports"][2]["tx"] > 0, "nothing left on the shadow port")
    print(f"ok: link down -> failover to port 2 -> port 1 back as shadow; lost {t['lost']} = cut cable {cut}"
          f" + tx_full {tx_full}")


def scenario_memif_peer():
    c = cpus()
    tag = os.getpid()
    sock = f"/tmp/shadownet-smoke-fo-{tag}.sock"
    prefixes = [f"shadownet-smoke-fo-sn-{tag}", f"shadownet-smoke-fo-a-{tag}", f"shadownet-smoke-fo-b-{tag}"]
    procs = []
    try:
        with tempfile.TemporaryDirectory() as d:
            sn_out, a_out = os.path.join(d, "sn.json"), os.path.join(d, "a.json")
            sn = subprocess.Popen([BIN, "--lcores", f"0@{c[0]},1@{c[-1]}"] + EAL + [
                "--file-prefix", prefixes[0],
                "--vdev", f"net_memif0,role=server,socket={sock},id=0",
                "--vdev", f"net_memif1,role=server,socket={sock},id=1",
                "--vdev", f"net_memif2,role=server,socket={sock},id=2",
                "--", "--port-pairs", "0:1", "--shadow-ports", "1:2", "--policy", "off", "--summary-json", sn_out,
                "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append(sn)
            # The peers connect once the appliance has started its ports (a
            # memif server refuses a client while its port is stopped); it
            # opens its control socket right after. The memif socket is
            # abstract: there is no file to wait for.
            ready = f"{RUNTIME}/{prefixes[0]}/shadownet.sock"
            for _ in range(600):
                if os.path.exists(ready) or sn.poll() is not None:
                    break
                time.sleep(0.05)
            check(os.path.exists(ready), f"shadownet did not start: {sn.poll()}")
            # B: the far end of the primary egress (memif id 1); it only receives.
            b = subprocess.Popen([GEN, "--lcores", f"0@{c[0]}"] + EAL + [
                "--file-prefix", prefixes[2], "--vdev", f"net_memif0,role=client,socket={sock},id=1,rsize=12",
                "--", "--tx-ports", "0", "--rx-ports", "0", "--rate", "0", "--duration", "60", "-q"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(b)
            # A: sends into memif id 0, receives on the shadow (id 2). It stays
            # connected until shadownet stops (shadowgen --linger).
            a = subprocess.Popen([GEN, "--lcores", f"0@{c[0]}"] + EAL + [
                "--file-prefix", prefixes[1],
                "--vdev", f"net_memif0,role=client,socket={sock},id=0,rsize=12",
                "--vdev", f"net_memif1,role=client,socket={sock},id=2,rsize=12",
                "--", "--tx-ports", "0", "--rx-ports", "1", "--rate", "20000", "--clients", "8", "--duration", "4",
                "--drain", "1", "--summary-json", a_out, "-q", "--linger", "60"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append(a)
            time.sleep(1.5)
            b.send_signal(signal.SIGSTOP)  # hung: its link stays up, it just stops reading
            time.sleep(1.0)
            b.kill()                       # then dead
            b.wait()
            deadline = time.time() + 60
            while a.poll() is None and time.time() < deadline and not (
                    os.path.exists(a_out) and os.path.getsize(a_out) > 0):
                time.sleep(0.1)
            time.sleep(0.2)
            sn.send_signal(signal.SIGINT)
            _, sn_err = sn.communicate(timeout=30)
            a.send_signal(signal.SIGTERM)
            _, a_err = a.communicate(timeout=30)
            check(sn.returncode == 0, f"shadownet exit {sn.returncode} (it must survive its peer's death): {sn_err}")
            check(a.returncode == 0, f"shadowgen exit {a.returncode}: {a_err}")
            sd = json.load(open(sn_out))
            ad = json.load(open(a_out))["totals"]
            check_accounting(sd)
            events = sd["failover"]["events"]
            failed = [e for e in events if e["what"] == "port-failed" and e["port"] == 1]
            check(failed and "TX stalled" in failed[0]["detail"], f"no TX-stall failure of port 1: {events}")
            moved = [e for e in events if e["what"] == "failover" and e["port"] == 1]
            check(moved and "primary port 1 -> 2" in moved[0]["detail"], f"no failover to port 2: {events}")
            ports = {p["id"]: p for p in sd["ports"]}
            check(ad["sent"] == sd["totals"]["rx"], f"sent {ad['sent']} != shadownet rx {sd['totals']['rx']}")
            check(ad["received"] == ports[2]["tx"] and ad["received"] > 0,
                  f"A received {ad['received']}, shadownet sent {ports[2]['tx']} on the shadow port")
            # What A did not get went to B (received, or swallowed by its ring) or was dropped, counted.
            check(ad["lost"] == ports[1]["tx"] + sd["totals"]["drops"],
                  f"lost {ad['lost']} != port 1 tx {ports[1]['tx']} + drops {sd['totals']['drops']}")
            check(sd["totals"]["drops"] == sd["totals"]["dropped"]["tx_full"], f"drops: {sd['totals']['dropped']}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for prefix in prefixes:
            shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
        if os.path.exists(sock):
            os.unlink(sock)
    print(f"ok: memif peer hung then killed: {failed[0]['detail']}; shadownet survived; "
          f"{ad['received']} packets came back on the shadow port")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}

if __name__ == "__main__":
    SCENARIOS[sys.argv[2]]()
