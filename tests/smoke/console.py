#!/usr/bin/python3
"""Smoke tests for the operator surfaces with the real binaries: --cmdline-file
scripts, the -i console on a pipe, shadownet-ctl over the control socket,
access control for an unprivileged peer, and the audit log.
Usage: console.py SHADOWNET_BINARY SCENARIO SHADOWNET_CTL_BINARY"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# smoke.py reads the binary from sys.argv[1] at import, as we do.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smoke import BIN, RUNTIME, check, check_accounting  # noqa: E402

CTL = sys.argv[3] if len(sys.argv) > 3 else None
EAL = ["--no-huge", "-m", "256", "--no-pci", "--log-level", "*:error"]


def lcores():
    cpus = sorted(os.sched_getaffinity(0))
    return ["--lcores", f"0@{cpus[0]},1@{cpus[-1]}"]


def json_docs(text):
    """Every top-level JSON object in a stream of replies (each starts a line with '{')."""
    dec = json.JSONDecoder()
    docs, i = [], 0
    while True:
        i = text.find("{", i)
        if i < 0:
            return docs
        if i == 0 or text[i - 1] == "\n":
            try:
                doc, end = dec.raw_decode(text, i)
                docs.append(doc)
                i = end
                continue
            except json.JSONDecodeError:
                pass
        i += 1


def appliance(prefix, app_args, **kw):
    return subprocess.Popen([BIN] + lcores() + EAL + ["--file-prefix", prefix, "--", "--virtual-ports", "2",
                                                      "--traffic-clients", "8", "--traffic-rate", "100000"] + app_args,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for(path, proc, seconds=60):  # a shared 2-core box can be slow to start EAL
    end = time.time() + seconds
    while time.time() < end:
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            check(False, f"shadownet exited early: {proc.communicate()}")
        time.sleep(0.05)
    check(False, f"{path} never appeared")


def ctl(args, user=None, timeout=20):
    cmd = [CTL] + args
    if user:
        cmd = ["setpriv", f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups"] + cmd
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if time.time() - t0 > 1:
        print(f"slow: {time.time() - t0:.1f} s for {args}", file=sys.stderr)
    return p.returncode, p.stdout, p.stderr


def private_ctl(d):
    """A copy of shadownet-ctl in d, which unprivileged users can run (the build tree may be root-only)."""
    os.chmod(d, 0o755)
    copy = os.path.join(d, "shadownet-ctl")
    shutil.copy(CTL, copy)
    os.chmod(copy, 0o755)
    return copy


def ctl_as(ctl_copy, sock, user, args, groups=None):
    """shadownet-ctl as another user and group (setpriv); `groups` replaces the supplementary groups."""
    extra = [f"--groups={groups}"] if groups else ["--clear-groups"]
    p = subprocess.run(["setpriv", f"--reuid={user[0]}", f"--regid={user[1]}"] + extra +
                       [ctl_copy, "-s", sock] + args, capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout, p.stderr


def finish(proc, prefix, how="signal"):
    if how == "signal" and proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
    return out, err


def scenario_cmdline_file():
    """A start-up script flips a client's route, reads it back as JSON and quits; the summary agrees.
    With --cmdline-stop-on-error a bad line stops everything with exit 1, naming file, line, command, reason."""
    prefix = f"shadownet-smoke-script-{os.getpid()}"
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "flip.cmd")
        with open(script, "w") as f:
            f.write("# let clients register, flip one, read it back\n\nwait 1500\n"
                    "set client 2 route shadow json\nwait 500\nshow client 2 json\nshow shadow json\n"
                    "show clients json\nquit\nset client 3 route shadow\n")
        out = os.path.join(d, "out.json")
        p = appliance(prefix, ["--cmdline-file", script, "--summary-json", out, "-q"])
        stdout, stderr = finish(p, prefix, how="wait")
        check(p.returncode == 0, f"exit {p.returncode}: {stderr}")
        docs = json_docs(stdout)
        check(len(docs) == 4, f"4 JSON replies expected, got {len(docs)}: {stdout}")
        flip, client, shadow, clients = docs
        check(flip == {"client": 2, "path": "shadow", "epoch": flip["epoch"], "changed": True}, f"set: {flip}")
        check(client["id"] == 2 and client["path"] == "shadow", f"show client: {client}")
        check(client["tx_packets"]["shadow"] > 0, f"client 2 sent nothing on the shadow path: {client}")
        check(shadow["clients_total"] == 1 and shadow["clients"][0]["id"] == 2, f"show shadow: {shadow}")
        check(clients["total"] == 8, f"show clients: {clients}")
        doc = json.load(open(out))
        check_accounting(doc)
        paths = {c["id"]: c["path"] for c in doc["clients"]["busiest"]}
        check(paths.get(2) == "shadow" and paths.get(3) == "primary",
              f"summary paths (the line after quit must not run): {paths}")

        bad = os.path.join(d, "bad.cmd")
        with open(bad, "w") as f:
            f.write("show drops\nset client 1 route sideways\nset client 1 route shadow\n")
        out2 = os.path.join(d, "out2.json")
        p = appliance(prefix, ["--cmdline-file", bad, "--cmdline-stop-on-error", "--summary-json", out2, "-q"])
        stdout, stderr = finish(p, prefix, how="wait")
        check(p.returncode == 1, f"stop on error: exit {p.returncode}, wanted 1: {stderr}")
        check(f"{bad}:2: set client: path must be primary|shadow, not 'sideways'" in stderr, f"error line: {stderr}")
        doc = json.load(open(out2))
        check_accounting(doc)
        check(all(c["path"] == "primary" for c in doc["clients"]["busiest"]), "nothing after the error ran")

        code = subprocess.run([BIN, "--cmdline-file", "/nonexistent.cmd"], capture_output=True, text=True).returncode
        check(code == 2, f"a missing script is a usage error (2), got {code}")
    print("ok: start-up script flips a route and reads it back; stop-on-error exits 1 with file:line")


def scenario_cmdline_file_exits():
    """A start-up script without `quit` and without -i is the whole run: the appliance stops on its
    own once the script is done, long before --duration, with final counters and its summary.
    With -i the same script is followed by the console instead."""
    prefix = f"shadownet-smoke-script-exit-{os.getpid()}"
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "no-quit.cmd")
        with open(script, "w") as f:
            f.write("wait 1000\nset client 2 route shadow json\nshow frob\nwait 300\nshow client 2 json\n")
        out = os.path.join(d, "out.json")
        p = appliance(prefix, ["--cmdline-file", script, "--duration", "120", "--summary-json", out, "-q"])
        t0 = time.time()
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        took = time.time() - t0
        still_running = p.poll() is None
        stdout, stderr = finish(p, prefix)  # SIGINT only if it is still running
        check(not still_running, f"shadownet kept running after its script (killed after {took:.0f} s)")
        check(p.returncode == 0, f"a failing line without --cmdline-stop-on-error: exit {p.returncode}: {stderr}")
        check(f"{script}:3: show: unknown word 'frob'" in stderr, f"the failing line is reported: {stderr}")
        docs = json_docs(stdout)
        check(len(docs) == 2 and docs[0]["path"] == "shadow" and docs[1]["path"] == "shadow",
              f"the script's replies: {stdout}")
        check("total rx" in stdout, f"no final counters: {stdout}")
        doc = json.load(open(out))
        check_accounting(doc)
        check(doc["elapsed_s"] < 60, f"ran {doc['elapsed_s']} s: the script, not --duration 120, ended the run")
        paths = {c["id"]: c["path"] for c in doc["clients"]["busiest"]}
        check(paths.get(2) == "shadow", f"the summary is the script's run: {paths}")
        print(f"script without quit: exited on its own after {doc['elapsed_s']:.1f} s")

        p = appliance(prefix, ["--cmdline-file", script, "-i", "--summary-json", out], stdin=subprocess.PIPE)
        stdout, stderr = p.communicate("show client 2 json\nquit\n", timeout=60)
        shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
        check(p.returncode == 0, f"-i after a script: exit {p.returncode}: {stderr}")
        check("shadownet> " in stdout, f"no console after the script: {stdout}")
        docs = json_docs(stdout.split("shadownet> ", 1)[-1])
        check(docs and docs[0]["id"] == 2 and docs[0]["path"] == "shadow", f"the console sees the script's change: {stdout}")
        check("stopping shadownet" in stdout, f"the console's quit: {stdout}")
        check_accounting(json.load(open(out)))
    print("ok: a script without -i is the whole run (exits, summary written); with -i the console follows")


def scenario_script_wait():
    """A script's `wait` keeps the whole appliance running: the control socket answers during it, and
    it ends early — and the script with it — on `quit` from the socket or at --duration."""
    check(CTL, "this scenario needs the shadownet-ctl binary as third argument")
    prefix = f"shadownet-smoke-script-wait-{os.getpid()}"
    sock = f"{RUNTIME}/{prefix}/shadownet.sock"
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "long.cmd")
        with open(script, "w") as f:
            f.write("wait 600000\nset client 1 route shadow\n")
        out = os.path.join(d, "out.json")
        p = appliance(prefix, ["--cmdline-file", script, "--summary-json", out, "-q"])
        try:
            wait_for(sock, p)
            time.sleep(1.5)
            code, stdout, stderr = ctl(["-s", sock, "-j", "show", "clients"])
            check(code == 0 and json.loads(stdout)["total"] == 8, f"the socket during a script's wait: {code} {stderr}")
            code, stdout, stderr = ctl(["-s", sock, "quit"])
            check(code == 0, f"quit during the wait: {code} {stderr}")
            p.wait(timeout=30)
        finally:
            stdout, stderr = finish(p, prefix)
        check(p.returncode == 0, f"exit after quit: {p.returncode} {stderr}")
        doc = json.load(open(out))
        check_accounting(doc)
        check(all(c["path"] == "primary" for c in doc["clients"]["busiest"]), "the line after the cut wait ran")

        p = appliance(prefix, ["--cmdline-file", script, "--duration", "2", "--summary-json", out, "-q"])
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        still_running = p.poll() is None
        stdout, stderr = finish(p, prefix)
        check(not still_running, "--duration 2 did not end a script's 600 s wait within 60 s")
        check(p.returncode == 0, f"--duration during the wait: exit {p.returncode} {stderr}")
        doc = json.load(open(out))
        check_accounting(doc)
        check(doc["elapsed_s"] < 30, f"--duration 2 must end a 600 s wait, ran {doc['elapsed_s']} s")
        check(all(c["path"] == "primary" for c in doc["clients"]["busiest"]), "the line after the cut wait ran")
    print("ok: a script's wait serves the socket and ends on quit or --duration")


def scenario_interactive():
    """The -i console on a pipe: help, show drops (text and JSON), quit; then EOF alone also stops cleanly."""
    prefix = f"shadownet-smoke-cli-{os.getpid()}"
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        p = appliance(prefix, ["-i", "--summary-json", out], stdin=subprocess.PIPE)
        time.sleep(1.0)
        stdout, stderr = p.communicate("help\nhelp set\nshow drops\nshow frob\nshow drops json\nquit\n", timeout=30)
        shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
        check(p.returncode == 0, f"exit {p.returncode}: {stderr}")
        check("shadownet> " in stdout, f"no prompt: {stdout}")
        check("show port stats <port|all>" in stdout and "set client <id> route <primary|shadow>" in stdout,
              f"help: {stdout}")
        check("drops: 0 in total" in stdout and "unsupported_ethertype" in stdout, f"show drops: {stdout}")
        check("error: show: unknown word 'frob'" in stdout, f"bad command: {stdout}")
        drops = [doc for doc in json_docs(stdout) if "dropped" in doc]
        check(drops and drops[0]["total"] == 0 and "tx_full" in drops[0]["dropped"], f"show drops json: {stdout}")
        check("stopping shadownet" in stdout and "total rx" in stdout, f"quit then final counters: {stdout}")
        check_accounting(json.load(open(out)))
        check("[" not in stdout.split("shadownet> ")[0].split("\n", 1)[-1], "no progress lines with -i")

        p = appliance(prefix, ["-i", "--summary-json", out], stdin=subprocess.PIPE)
        time.sleep(1.0)
        stdout, stderr = p.communicate("show lcores\n", timeout=30)  # then EOF
        shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
        check(p.returncode == 0, f"EOF: exit {p.returncode}: {stderr}")
        check("busy%" in stdout and "total rx" in stdout, f"EOF ends like quit: {stdout}")

        # --duration still applies with -i, while stdin stays open (communicate() would close it: EOF).
        p = appliance(prefix, ["-i", "--duration", "1.5"], stdin=subprocess.PIPE)
        t0 = time.time()
        try:
            p.wait(timeout=30)
            took = time.time() - t0
            stdout, stderr = p.stdout.read(), p.stderr.read()
        finally:
            p.stdin.close()
            if p.poll() is None:
                p.kill()
            shutil.rmtree(f"{RUNTIME}/{prefix}", ignore_errors=True)
        check(p.returncode == 0 and "total rx" in stdout, f"--duration with -i: {p.returncode} {stderr}")
        check(took >= 1.4, f"-i with stdin open ended after {took:.2f} s, before --duration 1.5")
        print(f"-i --duration 1.5 ran {took:.1f} s")
    print("ok: interactive console on a pipe (help, show drops, quit, EOF, --duration)")


def scenario_ctl():
    """shadownet-ctl -j against a running appliance; -f with -e; a missing socket; quit over the socket;
    /shadownet/shadow through dpdk-telemetry.py shows the same client."""
    check(CTL, "this scenario needs the shadownet-ctl binary as third argument")
    prefix = f"shadownet-smoke-ctl-{os.getpid()}"
    sock = f"{RUNTIME}/{prefix}/shadownet.sock"
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        p = appliance(prefix, ["--summary-json", out, "-q"])
        try:
            wait_for(sock, p)
            time.sleep(1.5)
            code, stdout, stderr = ctl(["--file-prefix", prefix, "-j", "show", "clients"])
            check(code == 0, f"show clients: {code} {stderr}")
            check(json.loads(stdout)["total"] == 8, f"show clients: {stdout}")
            code, stdout, stderr = ctl(["-s", sock, "-j", "set", "client", "5", "route", "shadow"])
            check(code == 0 and json.loads(stdout)["path"] == "shadow", f"set: {code} {stdout} {stderr}")
            code, stdout, stderr = ctl(["-s", sock, "-j", "show", "client", "5"])
            check(code == 0 and json.loads(stdout)["path"] == "shadow", f"show client: {stdout}")
            code, stdout, stderr = ctl(["-s", sock, "show", "port", "stats", "all"])
            check(code == 0 and "RX-packets" in stdout, f"text form: {stdout}")
            code, stdout, stderr = ctl(["-s", sock, "show", "client", "4242"])
            check(code == 1 and "show client: client 4242 does not exist" in stderr, f"error: {code} {stderr}")
            time.sleep(1.2)  # telemetry publishes once a second
            q = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input="/shadownet/shadow\n",
                               capture_output=True, text=True, timeout=30)
            tel = [json.loads(l) for l in q.stdout.splitlines() if l.strip().startswith("{")]
            tel = [t["/shadownet/shadow"] for t in tel if "/shadownet/shadow" in t]
            check(tel and tel[0]["clients_total"] == 1 and tel[0]["clients"] == [5], f"telemetry shadow: {q.stdout}")

            script = os.path.join(d, "cmds")
            with open(script, "w") as f:
                f.write("# from a file\nshow drops\nset client 6 route shadow\nshow nonsense\nset client 7 route shadow\n")
            code, stdout, stderr = ctl(["-s", sock, "-e", "-f", script])
            check(code == 1 and "show: unknown word 'nonsense'" in stderr and f"{script}:4" in stderr,
                  f"-f -e: {code} {stderr}")
            code, stdout, stderr = ctl(["-s", sock, "-j", "show", "client", "7"])
            check(json.loads(stdout)["path"] == "primary", "-e stopped before the last line")
            code, stdout, stderr = ctl(["-s", sock, "-j", "show", "client", "6"])
            check(json.loads(stdout)["path"] == "shadow", "lines before the error ran")
            code, stdout, stderr = ctl(["-s", sock, "load", script])
            check(code == 1 and "refused" in stderr, f"load over the socket must be refused: {stderr}")

            code, stdout, stderr = ctl(["--file-prefix", "no-such-prefix-here", "show", "drops"])
            check(code == 1 and "no control socket at '/var/run/dpdk/no-such-prefix-here/shadownet.sock'" in stderr,
                  f"absent socket: {code} {stderr}")
            code, stdout, stderr = ctl(["-x"])
            check(code == 2 and "unknown option '-x'" in stderr, f"usage: {code} {stderr}")

            code, stdout, stderr = ctl(["-s", sock, "quit"])
            check(code == 0, f"quit: {code} {stderr}")
            p.wait(timeout=30)
        finally:
            stdout, stderr = finish(p, prefix)
        check(p.returncode == 0, f"exit after quit: {p.returncode} {stderr}")
        check(not os.path.exists(sock), "the socket is removed at exit")
        doc = json.load(open(out))
        check_accounting(doc)
    print("ok: shadownet-ctl one-shot, -j, -f -e, absent socket, quit; /shadownet/shadow")


def scenario_ctl_stdin():
    """shadownet-ctl with neither a command nor -f reads commands from stdin (a pipe: no prompt):
    replies in order on stdout, failures on stderr; a failure does not stop it without -e but makes
    the exit status 1; -e stops at the first failure; all succeeded is 0."""
    check(CTL, "this scenario needs the shadownet-ctl binary as third argument")
    prefix = f"shadownet-smoke-ctl-stdin-{os.getpid()}"
    sock = f"{RUNTIME}/{prefix}/shadownet.sock"

    def ctl_stdin(args, text):
        q = subprocess.run([CTL] + args, input=text, capture_output=True, text=True, timeout=30)
        return q.returncode, q.stdout, q.stderr

    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        p = appliance(prefix, ["--summary-json", out, "-q"])
        try:
            wait_for(sock, p)
            time.sleep(1.5)
            code, stdout, stderr = ctl_stdin(["-s", sock, "-j"],
                                             "show clients\n# a comment\n\nset client 4 route shadow\nshow client 4\n")
            check(code == 0 and stderr == "", f"all good: exit {code}, stderr {stderr!r}")
            check("shadownet>" not in stdout, f"no prompt when stdin is not a terminal: {stdout!r}")
            docs = json_docs(stdout)
            check(len(docs) == 3, f"3 replies for 3 commands (comment and blank skipped): {stdout}")
            clients, flip, client = docs
            check(clients["total"] == 8, f"show clients: {clients}")
            check(flip["client"] == 4 and flip["path"] == "shadow" and flip["changed"] is True, f"set: {flip}")
            check(client["id"] == 4 and client["path"] == "shadow", f"show client: {client}")

            code, stdout, stderr = ctl_stdin(["--file-prefix", prefix],
                                             "show client 4242\nset client 5 route shadow\nshow drops\n")
            check(code == 1, f"a failed command makes the exit status 1, got {code}")
            check("shadownet-ctl: error: show client: client 4242 does not exist" in stderr, f"the error: {stderr}")
            check("client 5 route shadow" in stdout and "drops: 0 in total" in stdout,
                  f"without -e the later commands still run, in order: {stdout}")
            check(stdout.index("client 5 route shadow") < stdout.index("drops:"), f"replies in order: {stdout}")

            code, stdout, stderr = ctl_stdin(["-s", sock, "-e"], "show nonsense\nset client 6 route shadow\n")
            check(code == 1 and "show: unknown word 'nonsense'" in stderr, f"-e: {code} {stderr}")
            check(stdout == "", f"-e stops at the first failure: {stdout!r}")
            code, stdout, stderr = ctl(["-s", sock, "-j", "show", "client", "6"])
            check(code == 0 and json.loads(stdout)["path"] == "primary", f"the line after -e's stop ran: {stdout}")

            code, stdout, stderr = ctl_stdin(["-s", sock], "load /etc/hostname\nquit\n")
            check(code == 1 and "refused" in stderr and "stopping shadownet" in stdout,
                  f"a refusal also counts as a failure, quit still runs: {code} {stdout!r} {stderr!r}")
            p.wait(timeout=30)
        finally:
            stdout, stderr = finish(p, prefix)
        check(p.returncode == 0, f"shadownet exit after quit from stdin: {p.returncode} {stderr}")
        doc = json.load(open(out))
        check_accounting(doc)
        paths = {c["id"]: c["path"] for c in doc["clients"]["busiest"]}
        check(paths.get(4) == "shadow" and paths.get(5) == "shadow" and paths.get(6) == "primary",
              f"the summary agrees with what stdin asked: {paths}")
    print("ok: shadownet-ctl reads commands from stdin: replies in order, exit 0/1, -e stops, quit")


def scenario_access():
    """An unprivileged peer is refused and nothing changes; a monitor-group peer may only read;
    root may change; the audit log records the allowed and the refused changes."""
    check(CTL, "this scenario needs the shadownet-ctl binary as third argument")
    prefix = f"shadownet-smoke-acl-{os.getpid()}"
    d = tempfile.mkdtemp()
    try:
        ctl_copy = private_ctl(d)  # EAL's runtime directory is root-only: the socket lives here instead
        sock = os.path.join(d, "ctl.sock")
        audit = os.path.join(d, "audit.log")
        # Connect permission for nogroup (the socket's group, mode 0660); operators are root's group,
        # monitors adm: nobody/nogroup is in neither.
        p = appliance(prefix, ["-q", "--control-socket", sock, "--control-group", "nogroup",
                               "--operator-group", "root", "--monitor-group", "adm", "--audit-log", audit])
        try:
            wait_for(sock, p)
            st = os.stat(sock)
            check(oct(st.st_mode & 0o777) == "0o660" and st.st_gid == 65534, f"socket mode/group {oct(st.st_mode)} {st.st_gid}")
            time.sleep(1.5)

            def as_user(user, args, groups=None):
                return ctl_as(ctl_copy, sock, user, args, groups)

            nobody = ("nobody", "nogroup")
            code, out, err = as_user(nobody, ["show", "drops"])
            check(code == 1 and "refused" in err and "nobody is neither root nor in the operator or monitor group" in err,
                  f"nobody reading: {code} {err}")
            code, out, err = as_user(nobody, ["set", "client", "2", "route", "shadow"])
            check(code == 1 and "refused" in err, f"nobody changing: {code} {err}")
            code, out, err = ctl(["-s", sock, "-j", "show", "client", "2"])
            check(code == 0 and json.loads(out)["path"] == "primary", f"the refused change did not happen: {out}")

            # SO_PEERCRED's gid (adm) makes it a monitor; the supplementary nogroup lets it connect.
            monitor = ("nobody", "adm")
            code, out, err = as_user(monitor, ["-j", "show", "drops"], groups="nogroup")
            check(code == 0 and json.loads(out)["total"] == 0, f"monitor reading: {code} {err}")
            code, out, err = as_user(monitor, ["stop"], groups="nogroup")
            check(code == 1 and "monitor group: read-only commands only" in err, f"monitor changing: {code} {err}")
            code, out, err = ctl(["-s", sock, "-j", "show", "lcores"])
            check(code == 0, "root reads")

            code, out, err = ctl(["-s", sock, "set", "client", "3", "route", "shadow"])
            check(code == 0 and "client 3 route shadow" in out, f"root changing: {code} {out} {err}")
            code, out, err = ctl(["-s", sock, "set", "client", "9999", "route", "shadow"])
            check(code == 1, "root, failing change")
        finally:
            stdout, stderr = finish(p, prefix)
        check(p.returncode == 0, f"shadownet exit {p.returncode}: {stderr}")
        lines = open(audit).read().splitlines()
        check(len(lines) == 4, f"4 changing commands were attempted, audit has {len(lines)}: {lines}")
        want = [("user=nobody", 'command="set client 2 route shadow"', 'result="refused: user nobody is neither'),
                ("user=nobody", 'command="stop"', 'result="refused: user nobody is in the monitor group'),
                ("user=root", 'command="set client 3 route shadow"', 'result="ok"'),
                ("user=root", 'command="set client 9999 route shadow"', 'result="error: set client: client 9999 does not exist"')]
        for line, parts in zip(lines, want):
            check(line[:4].isdigit() and "T" in line.split()[0] and line.split()[0].endswith("Z"), f"ISO time: {line}")
            check("via=socket" in line and " pid=" in line, f"audit line: {line}")
            for part in parts:
                check(part in line, f"audit line {line!r} lacks {part!r}")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("ok: unprivileged peer refused (nothing changed), monitor read-only, root allowed, all audited")


def scenario_access_default_group():
    """No group options: the socket's group and the monitor group are the appliance's own effective
    group, so a non-root member of it connects and reads but may not change; others cannot connect."""
    check(CTL, "this scenario needs the shadownet-ctl binary as third argument")
    import grp
    prefix = f"shadownet-smoke-acl-default-{os.getpid()}"
    d = tempfile.mkdtemp()
    try:
        ctl_copy = private_ctl(d)
        sock = os.path.join(d, "ctl.sock")
        p = appliance(prefix, ["-q", "--control-socket", sock])
        try:
            wait_for(sock, p)
            own = os.getegid()
            st = os.stat(sock)
            check(oct(st.st_mode & 0o777) == "0o660" and st.st_gid == own,
                  f"socket mode/group {oct(st.st_mode)} gid {st.st_gid}, the appliance's group is {own}")
            time.sleep(1.5)
            member = ("nobody", grp.getgrgid(own).gr_name)  # not root, but in the appliance's group
            code, out, err = ctl_as(ctl_copy, sock, member, ["-j", "show", "clients"])
            check(code == 0 and json.loads(out)["total"] == 8, f"a member of the appliance's group reading: {code} {err}")
            code, out, err = ctl_as(ctl_copy, sock, member, ["set", "client", "2", "route", "shadow"])
            check(code == 1 and "monitor group: read-only commands only" in err, f"a member changing: {code} {err}")
            code, out, err = ctl_as(ctl_copy, sock, ("nobody", "nogroup"), ["show", "drops"])
            check(code == 1 and "Permission denied" in err, f"a non-member must not even connect: {code} {err}")
            code, out, err = ctl(["-s", sock, "-j", "show", "client", "2"])
            check(code == 0 and json.loads(out)["path"] == "primary", f"the refused change did not happen: {out}")
        finally:
            stdout, stderr = finish(p, prefix)
        check(p.returncode == 0, f"shadownet exit {p.returncode}: {stderr}")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("ok: without group options the appliance's own group may read, not change; others cannot connect")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}

if __name__ == "__main__":
    SCENARIOS[sys.argv[2]]()
