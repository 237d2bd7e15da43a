#!/usr/bin/python3
"""The scenario runner's judging logic (scripts/snm-scenarios), without EAL:
which well-behaved losses are a policy's, and the 10x verdict on them.

    test_snm_report.py SOURCE_ROOT"""
import csv
import importlib.machinery
import importlib.util
import os
import sys
import tempfile

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.environ["SHADOWNET_SOURCE_ROOT"]
loader = importlib.machinery.SourceFileLoader("snm_scenarios", os.path.join(ROOT, "scripts", "snm-scenarios"))
spec = importlib.util.spec_from_loader("snm_scenarios", loader)
runner = importlib.util.module_from_spec(spec)
sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
loader.exec_module(runner)

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print(f"FAIL: {msg}")


FIELDS = ["t", "kind", "id", "port", "path", "pps", "mean_pps", "upper_pps", "reserved_pps", "primary_drop_pps",
          "shadow_drop_pps", "shadow_tx_pps", "capacity_pps", "constrained", "key"]


def write_log(path, ticks):
    """ticks: [(t, primary_pps_on_port_1, [(id, key, path, pps, reserved, primary_drop_pps, shadow_drop_pps)])]"""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        for t, measured, clients in ticks:
            for cid, key, via, pps, reserved, pdrop, sdrop in clients:
                w.writerow({"t": f"{t:.3f}", "kind": "client", "id": cid, "port": 1, "path": via, "pps": pps,
                            "mean_pps": pps, "upper_pps": pps, "reserved_pps": reserved,
                            "primary_drop_pps": pdrop, "shadow_drop_pps": sdrop, "shadow_tx_pps": 0,
                            "capacity_pps": "", "constrained": "", "key": key})
            w.writerow({"t": f"{t:.3f}", "kind": "port", "id": 1, "port": 1, "path": "", "pps": measured,
                        "mean_pps": "", "upper_pps": measured, "reserved_pps": 0, "primary_drop_pps": "",
                        "shadow_drop_pps": "", "shadow_tx_pps": 0, "capacity_pps": 40000, "constrained": 0,
                        "key": ""})


def test_keys_follow_the_groups_source_addresses():
    spec = {"scenario": "duration = 5\n[group steady]\nclients = 3\nsrc = 10.1.0.254\n"
                        "[group surge]\nclients = 1\nsrc = 10.2.0.1\n[group lone]\nrate = 5\n",
            "well_behaved": ["steady", "lone"]}
    keys = runner.well_behaved_keys(spec)
    check(keys == {"10.1.0.254", "10.1.0.255", "10.1.1.0", "10.0.0.1"},
          f"steady's three from 10.1.0.254 and lone's default 10.0.0.1, not the surge: {sorted(keys)}")


def test_losses_are_attributed_by_the_ticks_load():
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "snm.csv")
        # Ticks of 0.1 s on a 40 kpps primary with a 5 ms bucket (200 packets):
        # within a bucket of capacity means at least 38 kpps measured.
        write_log(log, [
            (10.0, 30000, [("1", "10.1.0.1", "primary", 2000, 0, 0, 0), ("9", "10.2.0.1", "primary", 28000, 0, 0, 0)]),
            # 30 kpps measured: a stall's backlog, not the load: burst (10 packets)
            (10.1, 30000, [("1", "10.1.0.1", "primary", 2000, 0, 100, 0), ("9", "10.2.0.1", "primary", 28000, 0, 900, 0)]),
            # 41 kpps measured: the primary overloaded (20 packets of the well-behaved client)
            (10.2, 41000, [("1", "10.1.0.1", "primary", 2000, 0, 200, 0), ("9", "10.2.0.1", "primary", 39000, 0, 900, 0)]),
            # on the shadow at its reservation: over it (30); well below it: burst (5)
            (10.3, 2000, [("1", "10.1.0.1", "shadow", 2500, 2500, 0, 300), ("2", "10.1.0.2", "shadow", 1000, 4000, 0, 50)]),
        ])
        got = runner.loss_by_cause(log, {"10.1.0.1", "10.1.0.2"}, 5, lost_at_generator=70)
        check(got == {"overload": 20, "shadow": 30, "burst": 15, "elsewhere": 5},
              f"overload 20, shadow 30, burst 10 + 5, elsewhere 70 - 65: {got}")
        # The surging client's drops are not the well-behaved ones'.
        check(runner.loss_by_cause(log, {"10.2.0.1"}, 5, 0)["overload"] == 90, "the surge's own overload drops")
        # A deeper bucket lowers the line (50 ms: 20 kpps), so more ticks count
        # as the policy's: the rule errs against the policies, not for them.
        deep = runner.loss_by_cause(log, {"10.1.0.1"}, 50, 0)
        check(deep["overload"] == 30 and deep["burst"] == 0, f"50 ms bucket: the 30 kpps tick is an overload: {deep}")


def test_the_shadow_mirrors_the_primary_by_share():
    check(runner.shadow_capacity("1:40kpps", 1) == ["--shadow-capacity", "1:40000pps"], "a mirror")
    check(runner.shadow_capacity("2:25423pps", 0.5) == ["--shadow-capacity", "2:12712pps"], "half, in pps")
    check(runner.shadow_capacity("1:40kpps", 0) == [], "share 0: none set")


def test_the_ratio_verdict():
    check(runner.ratio_verdict(0, 0)[0] == "not comparable", "both zero")
    check(runner.ratio_verdict(1, 0)[0] == "fail", "reactive zero, predictive not")
    check(runner.ratio_verdict(0, 5)[0] == "pass", "predictive zero")
    check(runner.ratio_verdict(10, 100)[0] == "pass", "exactly 10x")
    check(runner.ratio_verdict(11, 100)[0] == "fail", "under 10x")


def test_judge_gives_both_verdicts():
    def run(lost, by_cause):
        return {"well_behaved": {"lost": lost, "loss_percent": 0.0, "sent": 1000000,
                                 "lost_by_cause": dict(zip(runner.LOSS_CAUSES, by_cause))},
                "stalls": {"generator": {"8ms": 1}, "forwarding": {}}, "reserved_over_used_at_peak": 1.1,
                "scores": {}, "switch_counts": {}}
    verdicts = runner.judge("dos-ramp", {"predictive": run(40, (0, 0, 40, 0)), "reactive": run(240, (200, 0, 40, 0))})
    ratio = [v for v in verdicts if v["target"].startswith("predictive well-behaved loss >=")]
    check([v["verdict"] for v in ratio] == ["fail", "pass"],
          f"all losses 40 against 240: fail; the policies' own 0 against 200: pass: {ratio}")
    verdicts = runner.judge("diurnal", {"predictive": run(14, (0, 14, 0, 0)), "reactive": run(200, (0, 0, 200, 0))})
    ratio = [v for v in verdicts if v["target"].startswith("predictive well-behaved loss >=")]
    check([v["verdict"] for v in ratio] == ["pass", "fail"],
          f"all losses 14 against 200: pass; the policies' own 14 against 0: fail: {ratio}")


for name, fn in list(globals().items()):
    if name.startswith("test_") and callable(fn):
        fn()
if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("ok: snm-scenarios judging")
