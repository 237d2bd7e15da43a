"""Running one DPDK process for the end-to-end benchmark and reading its
counters while it forwards.

Counters come from the process itself through DPDK telemetry
(/var/run/dpdk/<prefix>/dpdk_telemetry.v2, command /ethdev/stats,<port>): the
same rte_eth_stats that testpmd's "show port stats" prints and that
shadownet's summary JSON reports under ports[].hw. Reading them twice gives
the rate over a steady-state window of our choosing, identically for every
tool, whether or not the tool prints statistics of its own.
"""

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time

RUNTIME_ROOT = "/var/run/dpdk"
STOP_GRACE_S = 30  # after SIGINT, before SIGKILL


class RunError(Exception):
    pass


class Telemetry:
    """Minimal client of DPDK's telemetry v2 socket (JSON over SOCK_SEQPACKET)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(5)
        self.sock.connect(path)
        hello = json.loads(self.sock.recv(65536).decode())
        self.max_len = int(hello.get("max_output_len", 16384))

    def query(self, cmd):
        self.sock.send(cmd.encode())
        reply = json.loads(self.sock.recv(max(self.max_len, 65536)).decode())
        key = cmd.split(",", 1)[0]
        return reply.get(key)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def remove_stale_runtime_dirs(prefix_start="e2e-"):
    """Runtime dirs left by a harness that was killed: e2e-<tool>-<harness pid>-<n>, that pid gone."""
    try:
        names = os.listdir(RUNTIME_ROOT)
    except OSError:
        return []
    removed = []
    for name in names:
        parts = name.split("-")
        if not name.startswith(prefix_start) or len(parts) != 4 or not parts[2].isdigit():
            continue
        if os.path.exists("/proc/%s" % parts[2]):
            continue
        shutil.rmtree(os.path.join(RUNTIME_ROOT, name), ignore_errors=True)
        removed.append(name)
    return removed


def thread_runtimes(pid):
    """{tid: (ns on CPU, ns waiting on a run queue)} from /proc/<pid>/task/*/schedstat."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                run_ns, wait_ns, _ = f.read().split()
            out[int(tid)] = (int(run_ns), int(wait_ns))
        except (OSError, ValueError):
            pass
    return out


def cpu_steal_s(cpu):
    """Time the hypervisor took from `cpu` (the steal column of /proc/stat), seconds."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] == "cpu%d" % cpu and len(parts) > 8:
                    return int(parts[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        pass
    return None


def threads_pinned_to(pid, cpu):
    """Threads of pid whose CPU affinity is exactly {cpu} (EAL pins each lcore thread)."""
    out = set()
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            if os.sched_getaffinity(int(tid)) == {cpu}:
                out.add(int(tid))
        except OSError:
            pass
    return out


class DpdkProcess:
    """One tool run: start, wait until it forwards, sample, stop, clean up."""

    def __init__(self, name, argv, prefix, log_path, env=None):
        self.name = name
        self.argv = argv
        self.prefix = prefix
        self.log_path = log_path
        self.env = env
        self.proc = None
        self.tel = None
        self.log = None

    @property
    def runtime_dir(self):
        return os.path.join(RUNTIME_ROOT, self.prefix)

    def start(self, cpus=None):
        self.log = open(self.log_path, "wb")
        self.log.write(("$ " + " ".join(self.argv) + "\n").encode())
        self.log.flush()

        def child_setup():
            # The harness pins itself to the control CPU; the tool gets every CPU back
            # and pins its lcores itself (EAL -l).
            if cpus:
                os.sched_setaffinity(0, cpus)
            # The tool runs in its own session (a terminal's Ctrl-C reaches the harness,
            # which stops the tool cleanly); should the harness die without doing so,
            # the kernel sends the tool SIGTERM (PR_SET_PDEATHSIG).
            try:
                ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
            except (OSError, AttributeError):
                pass

        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True, preexec_fn=child_setup)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=25):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - 200000))
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        lines = [ln for ln in lines if not ln.startswith("EM: Adding route")]
        return "\n".join(lines[-n:])

    def wait_forwarding(self, rx_port, timeout):
        """Wait for the telemetry socket, then for packets on rx_port."""
        sock_path = os.path.join(self.runtime_dir, "dpdk_telemetry.v2")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RunError("%s exited (rc=%s) before forwarding:\n%s"
                               % (self.name, self.proc.returncode, self.log_tail()))
            if self.tel is None and os.path.exists(sock_path):
                try:
                    self.tel = Telemetry(sock_path)
                except OSError:
                    self.tel = None
            if self.tel is not None:
                try:
                    st = self.tel.query("/ethdev/stats,%d" % rx_port)
                except (OSError, ValueError):
                    st = None
                if st and st.get("ipackets", 0) > 0:
                    return
            time.sleep(0.2)
        raise RunError("%s: no packets on port %d after %.0f s (telemetry socket %s)\n%s"
                       % (self.name, rx_port, timeout,
                          "found" if self.tel else "missing", self.log_tail()))

    def port_names(self):
        names = {}
        for p in self.tel.query("/ethdev/list") or []:
            info = self.tel.query("/ethdev/info,%d" % p) or {}
            names[p] = info.get("name", "port%d" % p)
        return names

    def sample(self, ports):
        """Port stats of `ports`, time-stamped at the middle of the queries.

        The ports are read one after the other; stats["_skew_s"] is how long that took."""
        t0 = time.monotonic()
        stats = {p: self.tel.query("/ethdev/stats,%d" % p) for p in ports}
        t1 = time.monotonic()
        if not self.alive():
            raise RunError("%s exited during the measurement:\n%s" % (self.name, self.log_tail()))
        stats["_skew_s"] = t1 - t0
        return (t0 + t1) / 2, stats

    def stop(self, grace=STOP_GRACE_S):
        """SIGINT (every tool here drains and prints its own totals), then SIGKILL."""
        if self.tel:
            self.tel.close()
            self.tel = None
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None
        shutil.rmtree(self.runtime_dir, ignore_errors=True)
        return self.proc.returncode if self.proc else None
