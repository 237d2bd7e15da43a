#!/usr/bin/python3
"""The README's scripts, run on a copy with stand-ins for what they call: scripts/setup
(nothing to install), meson and ninja on PATH (a build that fails or works) and the
shadownet binary. Usage: scripts.py SCENARIO"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

ROOT = os.environ.get("SHADOWNET_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def check(cond, msg):
    if not cond:
        print(f"FAIL: {msg}")
        sys.exit(1)


def executable(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def demo_tree(d, meson_out, meson_rc, ninja_out, ninja_rc, configured):
    """A copy of scripts/demo and scripts/build with stand-ins around them; returns (demo, env)."""
    for name in ("demo", "build"):
        dst = os.path.join(d, "scripts", name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, "scripts", name), dst)
    executable(os.path.join(d, "scripts", "setup"), "#!/bin/sh\nexit 0\n")
    for tool, text in (("meson", meson_out), ("ninja", ninja_out)):
        with open(os.path.join(d, f"{tool}.out"), "w") as f:
            f.write(text + "\n")
    executable(os.path.join(d, "bin", "meson"), f"#!/bin/sh\ncat '{d}/meson.out'\nexit {meson_rc}\n")
    # ninja prints the compiler's errors on stdout and its own verdict on stderr.
    executable(os.path.join(d, "bin", "ninja"),
               f"#!/bin/sh\ncat '{d}/ninja.out'\n"
               f"[ {ninja_rc} -eq 0 ] || echo 'ninja: build stopped: subcommand failed.' >&2\nexit {ninja_rc}\n")
    executable(os.path.join(d, "build", "app", "shadownet", "shadownet"), "#!/bin/sh\necho \"shadownet ran $*\"\n")
    if configured:
        open(os.path.join(d, "build", "build.ninja"), "w").close()
    env = dict(os.environ, PATH=f"{os.path.join(d, 'bin')}:{os.environ['PATH']}")
    return os.path.join(d, "scripts", "demo"), env


def scenario_demo_build_errors():
    """scripts/demo is quiet about a build that works, shows the errors of one that fails
    (compile or configure) with a non-zero exit, and then does not run anything."""
    compile_error = "../lib/core/config.cpp:42:7: error: expected ';' before 'return'"
    with tempfile.TemporaryDirectory() as d:
        demo, env = demo_tree(d, "", 0, f"FAILED: x.o\n{compile_error}", 1, configured=True)
        p = subprocess.run([demo, "--duration", "1"], capture_output=True, text=True, env=env, timeout=60)
        check(p.returncode != 0, f"a failed build must fail the demo: exit {p.returncode}")
        check(compile_error in p.stderr, f"the compiler's error is not shown: stdout {p.stdout!r} stderr {p.stderr!r}")
        check("shadownet ran" not in p.stdout, "the demo ran shadownet after a failed build")

    configure_error = 'meson.build:12:0: ERROR: Dependency "libdpdk" not found, tried pkgconfig'
    with tempfile.TemporaryDirectory() as d:
        demo, env = demo_tree(d, f"The Meson build system\n{configure_error}", 1, "", 0, configured=False)
        p = subprocess.run([demo], capture_output=True, text=True, env=env, timeout=60)
        check(p.returncode != 0, f"a failed configuration must fail the demo: exit {p.returncode}")
        check(configure_error in p.stderr, f"meson's error is not shown: stdout {p.stdout!r} stderr {p.stderr!r}")
        check("shadownet ran" not in p.stdout, "the demo ran shadownet after a failed configuration")

    with tempfile.TemporaryDirectory() as d:
        demo, env = demo_tree(d, "", 0, "[1/1] Linking target app/shadownet/shadownet", 0, configured=True)
        p = subprocess.run([demo, "--duration", "1"], capture_output=True, text=True, env=env, timeout=60)
        check(p.returncode == 0, f"a working build: exit {p.returncode}: {p.stderr}")
        check(p.stdout.strip() == "shadownet ran --duration 1", f"the demo must run shadownet with its arguments: {p.stdout!r}")
        check("Linking" not in p.stdout + p.stderr, f"a working build should be quiet: {p.stdout!r} {p.stderr!r}")
    print("ok: scripts/demo shows compile and configure errors, exits non-zero, is quiet on success")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
