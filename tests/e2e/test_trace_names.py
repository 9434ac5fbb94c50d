#!/usr/bin/python3
"""Overlay names for statically linked programs under the ptrace monitor (docs/trace.md "Names"): such a program
resolves names itself by reading /etc/hosts, which the monitor serves with the session's name table first
(HOSTS_LIST, docs/protocol.md section 13). tests/trace/resolveprog.c, built here with `cc -static` (glibc) and
`musl-gcc -static` (musl: open() instead of openat()), on s1-n1 under --mode ptrace and ptrace-all:
- resolves a node of the other site and one of its own site by overlay name to their VIPs, then connects by name
  to an echo server on s2-n1 (preload library) and checks the echoed bytes and the client's VIP in the server log;
- still resolves `localhost` (the node's own /etc/hosts follows the overlay names);
- a name nobody registered does not resolve;
- negative controls: the same binary run without the monitor, or under it with UVPN_TRACE_NAMES=0, does not
  resolve the overlay name;
- curl (dynamic, glibc's files module) under --mode ptrace fetches by overlay name;
- `uvpn resolve --all` lists every node of both sites with the VIP its own router gave it;
- the file is refreshed: a node registered after the monitor's first read is found by the same program later."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_trace import TraceOverlay, fields  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(h.REPO, "tests", "trace", "resolveprog.c")
PROGS = os.path.join(HERE, "netprogs.py")
PORT = 9500
NAMES = {"s1-n1": "static-a", "s1-n2": "static-b", "s2-n1": "far-server.cluster", "s2-n2": "far-other"}


def build(ov):
    cc = shutil.which("cc") or shutil.which("gcc")
    musl = shutil.which("musl-gcc")
    if cc is None or musl is None:
        raise h.Skip("needs cc and musl-gcc (scripts/install-deps.sh installs musl-tools)")
    out = {}
    for label, compiler in (("glibc", cc), ("musl", musl)):
        path = os.path.join(ov.dir, f"resolveprog-{label}")
        subprocess.run([compiler, "-static", "-O2", "-o", path, SRC], check=True, timeout=120,
                       stderr=subprocess.DEVNULL)  # glibc warns about getaddrinfo in static programs
        out[label] = path
    return out


def hold(ov, host):
    ov.run(host, ["sleep", "600"], name=NAMES[host], label=f"hold-{host}")


def registered(ov, site, vip):
    return any(n.get("vip") == vip for n in ov.status_json(site)["nodes"])


def run_prog(ov, host, argv, overlay=True):
    r = ov.call(host, argv, overlay=overlay, name=NAMES[host] if overlay else None, timeout=60)
    lines = [fields(ln) for ln in r.stdout.decode(errors="replace").splitlines() if ln.strip()]
    return r.returncode, lines, r.stderr.decode(errors="replace")


def test_static_programs_resolve_overlay_names():
    with TraceOverlay(tag="tracenames") as ov:
        progs = build(ov)
        srv = ov.run("s2-n1", [h.PYTHON, "-u", PROGS, "aserver", str(PORT)], name=NAMES["s2-n1"],
                     label="echo-server")
        ov.wait_listening("s2-n1", PORT, proc=srv)
        hold(ov, "s1-n2")
        for site, host in (("s1", "s2-n1"), ("s1", "s1-n2")):
            h.wait_until(lambda: registered(ov, site, ov.vip_of(host)), 15, f"{site} to know {host}")

        # Negative control: without the monitor the static program cannot know the overlay names.
        rc, lines, _ = run_prog(ov, "s1-n1", [progs["glibc"], NAMES["s2-n1"]], overlay=False)
        assert rc != 0 and lines and "err" in lines[0], f"resolved without the monitor: {lines}"

        # Names off (UVPN_TRACE_NAMES=0): the monitor leaves opens alone, so the program reads the node's file.
        ov.mode = "ptrace"
        r = ov.call("s1-n1", [progs["musl"], NAMES["s2-n1"]], name=NAMES["s1-n1"], env={"UVPN_TRACE_NAMES": "0"},
                    timeout=60)
        assert r.returncode != 0 and b"err=" in r.stdout, f"resolved with names off: {r.stdout!r}"

        n_echo = 0
        for mode in ("ptrace", "ptrace-all"):
            ov.mode = mode
            for libc, prog in sorted(progs.items()):
                what = f"{libc} under {mode}"
                for host in ("s2-n1", "s1-n2"):  # the other site, the own site
                    rc, lines, err = run_prog(ov, "s1-n1", [prog, NAMES[host]])
                    assert rc == 0 and lines[0].get("ip") == ov.vip_of(host), (what, host, lines, err[-800:])
                msg = f"hello-{libc}-{mode}"
                rc, lines, err = run_prog(ov, "s1-n1", [prog, NAMES["s2-n1"], str(PORT), msg])
                assert rc == 0 and lines[-1].get("data") == msg, (what, lines, err[-800:])
                n_echo += 1
                rc, lines, _ = run_prog(ov, "s1-n1", [prog, "localhost"])
                assert rc == 0 and lines[0].get("ip") == "127.0.0.1", (what, lines)
                rc, lines, _ = run_prog(ov, "s1-n1", [prog, "nobody-registered-this"])
                assert rc != 0 and "ip" not in lines[0], (what, lines)
        me = ov.vip_of("s1-n1")
        h.wait_until(lambda: sum(1 for ln in open(ov.log_path("echo-server"), errors="replace")
                                 if ln.startswith(f"PEER {me} ")) >= n_echo, 10,
                     f"{n_echo} echo connections from {me} in the server log")

        # curl, a dynamic program, under the monitor: glibc's files module reads the served file.
        h.require_tools("curl")
        www = os.path.join(ov.dir, "www")
        os.makedirs(www)
        with open(os.path.join(www, "index.txt"), "w") as f:
            f.write("served by name\n")
        web = ov.run("s2-n2", [h.PYTHON, "-m", "http.server", "8081", "--bind", "0.0.0.0", "--directory", www],
                     name=NAMES["s2-n2"], label="http-server")
        ov.wait_listening("s2-n2", 8081, proc=web)
        h.wait_until(lambda: registered(ov, "s1", ov.vip_of("s2-n2")), 15, "s1 to know s2-n2")
        ov.mode = "ptrace"
        r = ov.call("s1-n1", ["curl", "-sS", "--max-time", "20", f"http://{NAMES['s2-n2']}:8081/index.txt"],
                    name=NAMES["s1-n1"], timeout=60)
        assert r.returncode == 0 and r.stdout == b"served by name\n", (r.returncode, r.stdout, r.stderr)

        # The whole table, as the monitor gets it.
        r = ov.call("s1-n1", [h.uvpn_bin(), "resolve", "--routes", ov.routes, "--site", "s1", "--all"],
                    overlay=False, timeout=30)
        assert r.returncode == 0, r.stderr
        table = dict(reversed(ln.split()) for ln in r.stdout.decode().splitlines())
        for host in ("s1-n2", "s2-n1", "s2-n2"):
            assert table.get(NAMES[host]) == ov.vip_of(host), (host, table)


def test_refresh_sees_a_later_node():
    """One monitor, one program: a name that appears after the first read of /etc/hosts is found a second later."""
    with TraceOverlay(tag="tracenames2") as ov:
        progs = build(ov)
        ov.mode = "ptrace"
        script = os.path.join(ov.dir, "twice.sh")
        # A static shell is not at hand: the monitor follows the dynamic sh and both static children.
        with open(script, "w") as f:
            f.write(f"#!/bin/sh\n{progs['musl']} {NAMES['s2-n2']}\n"
                    f"while [ ! -e {ov.dir}/go ]; do sleep 0.1; done\nsleep 1.2\n{progs['musl']} {NAMES['s2-n2']}\n")
        os.chmod(script, 0o755)
        p = ov.run("s1-n1", ["/bin/sh", script], name=NAMES["s1-n1"], label="twice")
        first = h.wait_until(lambda: [ln for ln in open(ov.log_path("twice"), errors="replace")
                                      if ln.startswith("RESOLVED")], 20, "the first lookup")
        assert "err=" in first[0], f"{NAMES['s2-n2']} resolved before it registered: {first}"
        hold(ov, "s2-n2")
        h.wait_until(lambda: registered(ov, "s1", ov.vip_of("s2-n2")), 15, "s1 to know s2-n2")
        open(os.path.join(ov.dir, "go"), "w").close()
        assert p.wait(timeout=30) == 0, open(ov.log_path("twice"), errors="replace").read()[-1500:]
        lines = [fields(ln) for ln in open(ov.log_path("twice"), errors="replace") if ln.startswith("RESOLVED")]
        assert lines[-1].get("ip") == ov.vip_of("s2-n2"), lines


if __name__ == "__main__":
    h.main([test_static_programs_resolve_overlay_names, test_refresh_sees_a_later_node])
