"""Build DPDK's l3fwd example from the Debian dpdk-doc sources, outside the repo.

The sources are copied to <outdir>/src (examples/l3fwd and examples/common),
patched (see PATCHES below; every patch must apply exactly once, else the build
stops), and built with the example's own Makefile against the installed DPDK
(pkg-config libdpdk). Nothing of l3fwd is committed; the binary is rebuilt
only when the sources or the patches change.
"""

import hashlib
import os
import re
import shutil
import subprocess

EXAMPLES = "/usr/share/dpdk/examples"

# (file, what, old, new). Keep these few and small: the point is to run the
# stock l3fwd, so the report can say exactly what differs from upstream.
PATCHES = [
    ("main.c",
     "RX offloads: request only what the port supports (virtual ports such as "
     "net_pcap and net_null have no RX checksum offload, and "
     "rte_eth_dev_configure() refuses RTE_ETH_RX_OFFLOAD_CHECKSUM on them)",
     "\t\tlocal_port_conf.rx_adv_conf.rss_conf.rss_hf &=\n"
     "\t\t\tdev_info.flow_type_rss_offloads;\n",
     "\t\tlocal_port_conf.rx_adv_conf.rss_conf.rss_hf &=\n"
     "\t\t\tdev_info.flow_type_rss_offloads;\n"
     "\t\t/* e2e bench: relax the RX checksum offload request */\n"
     "\t\tlocal_port_conf.rxmode.offloads &= dev_info.rx_offload_capa;\n"),
    ("main.c",
     "the same for the per-queue RX offloads (taken from the global port_conf)",
     "\t\t\trxq_conf.offloads = port_conf.rxmode.offloads;\n",
     "\t\t\trxq_conf.offloads = port_conf.rxmode.offloads &\n"
     "\t\t\t\tdev_info.rx_offload_capa; /* e2e bench */\n"),
    ("main.c",
     "mbuf pool: the minimum size (8192) can be raised with the environment "
     "variable L3FWD_BENCH_NB_MBUF, because net_pcap's infinite_rx keeps the "
     "whole pcap in mbufs of the port's pool (1 M packets for 1 M flows); "
     "every tool in the benchmark gets the same pool size",
     "\t(unsigned)8192)\n",
     "\t(unsigned)(getenv(\"L3FWD_BENCH_NB_MBUF\") ? \\\n"
     "\t\tstrtoul(getenv(\"L3FWD_BENCH_NB_MBUF\"), NULL, 0) : 8192))\n"),
]


def patch_summary():
    return [(f, what) for f, what, _, _ in PATCHES]


def available():
    return os.path.isfile(os.path.join(EXAMPLES, "l3fwd", "l3fwd_em.c"))


def _stamp():
    h = hashlib.sha256()
    for sub in ("l3fwd", "common"):
        root = os.path.join(EXAMPLES, sub)
        for dirpath, _, files in sorted(os.walk(root)):
            for name in sorted(files):
                p = os.path.join(dirpath, name)
                h.update(p.encode())
                with open(p, "rb") as f:
                    h.update(f.read())
    for f, what, old, new in PATCHES:
        h.update((f + what + old + new).encode())
    h.update(subprocess.run(["pkg-config", "--modversion", "libdpdk"], capture_output=True, text=True).stdout.encode())
    return h.hexdigest()


def _compile(l3fwd_dir):
    """The example's Makefile (`make shared`), or, where make is not installed
    (scripts/setup does not ask for it), the same compiler line by hand."""
    if shutil.which("make"):
        return subprocess.run(["make", "-C", l3fwd_dir, "-j1", "shared"], capture_output=True, text=True)
    with open(os.path.join(l3fwd_dir, "Makefile")) as f:
        mk = f.read()
    srcs = []
    for m in re.finditer(r"^SRCS-y\s*:?\+?=\s*(.*)$", mk, re.M):
        srcs += m.group(1).split()
    pc = lambda *a: subprocess.run(["pkg-config"] + list(a) + ["libdpdk"], capture_output=True,
                                   text=True, check=True).stdout.split()
    os.makedirs(os.path.join(l3fwd_dir, "build"), exist_ok=True)
    cmd = ([os.environ.get("CC", "cc"), "-O3"] + pc("--cflags") + ["-DALLOW_EXPERIMENTAL_API", "-I../common"] +
           srcs + ["-o", "build/l3fwd-shared"] + pc("--libs"))
    r = subprocess.run(cmd, cwd=l3fwd_dir, capture_output=True, text=True)
    if r.returncode == 0:
        os.symlink("l3fwd-shared", os.path.join(l3fwd_dir, "build", "l3fwd"))
    return r


def build(outdir, log=print):
    """Return the path of the patched l3fwd binary, building it if needed."""
    if not available():
        raise FileNotFoundError("%s/l3fwd is missing: run scripts/setup --bench (installs dpdk-doc)" % EXAMPLES)
    binary = os.path.join(outdir, "src", "l3fwd", "build", "l3fwd")
    stamp_file = os.path.join(outdir, "stamp")
    stamp = _stamp()
    if os.path.exists(binary) and os.path.exists(stamp_file):
        with open(stamp_file) as f:
            if f.read().strip() == stamp:
                return binary
    log("building l3fwd from %s/l3fwd into %s (patched, see docs/benchmarks.md)" % (EXAMPLES, outdir))
    src = os.path.join(outdir, "src")
    if os.path.exists(src):
        shutil.rmtree(src)
    for sub in ("l3fwd", "common"):
        shutil.copytree(os.path.join(EXAMPLES, sub), os.path.join(src, sub))
    for fname, what, old, new in PATCHES:
        p = os.path.join(src, "l3fwd", fname)
        with open(p) as f:
            text = f.read()
        n = text.count(old)
        if n != 1:
            raise RuntimeError("l3fwd patch does not apply (%d matches in %s): %s" % (n, fname, what))
        with open(p, "w") as f:
            f.write(text.replace(old, new))
    with open(os.path.join(outdir, "patches.diff"), "w") as f:
        f.write(subprocess.run(["diff", "-u", os.path.join(EXAMPLES, "l3fwd", "main.c"),
                                os.path.join(src, "l3fwd", "main.c")], capture_output=True, text=True).stdout)
    r = _compile(os.path.join(src, "l3fwd"))
    if r.returncode != 0 or not os.path.exists(binary):
        raise RuntimeError("l3fwd build failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
    with open(stamp_file, "w") as f:
        f.write(stamp + "\n")
    return binary
