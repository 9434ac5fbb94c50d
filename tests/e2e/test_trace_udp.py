#!/usr/bin/python3
"""UDP under the ptrace monitor across the testbed's real routers (docs/trace.md "UDP", docs/protocol.md section 9):
tests/trace/udpprog.c, built here with `cc -static`, as a UDP echo server on s2-n1 and as clients on s1-n1 (another
site) and s2-n2 (same site), all under `uvpn run --mode ptrace` (and the server once under ptrace-all): sendto and
recvfrom with payloads checked, the virtual source seen by both ends, a connected socket (connect + send/recv,
write/read, writev/readv, sendmsg/recvmsg, from a forked child too) with virtual getpeername/getsockname; the
routers count the datagrams. Mixed: a Python client under the preload library against the static server, and the
static client against udpprogs.py's echo server under the preload library."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_trace import TraceOverlay, fields  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
UDPPROG_SRC = os.path.join(h.REPO, "tests", "trace", "udpprog.c")
PORT = 9400


PY_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(b"from-preload", (sys.argv[1], int(sys.argv[2])))
data, src = s.recvfrom(2048)
print(data.decode(), src[0], src[1])
"""


def test_mixed_preload_and_ptrace():
    """The static client under the monitor against udpprogs.py's echo server under the preload library."""
    h.require_tools("cc")
    with TraceOverlay(tag="traceudpmix") as ov:
        prog = build_udpprog(ov)
        srv = ov.run("s2-n2", [h.PYTHON, "-u", os.path.join(HERE, "udpprogs.py"), "echo", str(PORT + 1)],
                     label="py-echo")
        h.wait_until(lambda: srv.poll() is not None or "READY" in open(ov.log_path("py-echo"),
                                                                        errors="replace").read(),
                     10, "the python echo server")
        ov.mode = "ptrace"
        a = run(ov, "s1-n1", [prog, "ask", ov.vip_of("s2-n2"), str(PORT + 1), "mixed"])
        me = ov.vip_of("s1-n1")
        assert a["err"] == "OK" and a["from"] == f"{ov.vip_of('s2-n2')}:{PORT + 1}", a
        assert a["data"].startswith(f"SRC_{me}_") and a["data"].endswith("_mixed"), a  # the server saw our VIP
        ov.stop(srv)


def build_udpprog(ov):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise h.Skip("no C compiler")
    out = os.path.join(ov.dir, "udpprog")
    subprocess.run([cc, "-static", "-O2", "-o", out, UDPPROG_SRC], check=True, timeout=120)
    return out


def out_lines(ov, label):
    return [fields(ln) for ln in open(ov.log_path(label), errors="replace") if ln.strip()]


def run(ov, host, argv):
    r = ov.call(host, argv, timeout=60)
    out = r.stdout.decode().strip().splitlines()
    assert r.returncode == 0 and out, f"{argv} exited {r.returncode}: {r.stderr[-1500:]!r}"
    return fields(out[-1])


def session(ov, prog, server_mode):
    srv_vip = ov.vip_of("s2-n1")
    label = f"udp-server-{server_mode}"
    ov.mode = server_mode
    srv = ov.run("s2-n1", [prog, "serve", str(PORT), "10"], label=label)
    h.wait_until(lambda: srv.poll() is not None or any(f["_"] == "READY" for f in out_lines(ov, label)), 10,
                 "the UDP server")
    assert srv.poll() is None, open(ov.log_path(label), errors="replace").read()
    ov.mode = "ptrace"
    expect = []  # (client vip, text) in the order the server must see them
    for host in ("s1-n1", "s2-n2"):  # across sites, then within s2 (no WAN hop)
        me = ov.vip_of(host)
        text = f"hello-from-{host}"
        a = run(ov, host, [prog, "ask", srv_vip, str(PORT), text])
        assert (a["err"], a["data"], a["from"]) == ("OK", "re:" + text, f"{srv_vip}:{PORT}"), (host, a)
        expect.append((me, text))
    c = run(ov, "s1-n1", [prog, "conn", srv_vip, str(PORT)])
    assert (c["err"], c["r0"], c["r1"], c["r2"], c["r3"], c["r4"], c["r5"], c["r5from"], c["peer"]) == (
        "OK", "re:zero", "re:one", "re:two", "three", "re:four", "re:five", f"{srv_vip}:{PORT}",
        f"{srv_vip}:{PORT}"), c
    assert c["name"].startswith(ov.vip_of("s1-n1") + ":") and c["r6"] == "reuse", c
    expect += [(ov.vip_of("s1-n1"), t) for t in ("zero", "one", "two", "four", "five", "three")]
    h.wait_until(lambda: sum(1 for f in out_lines(ov, label) if f["_"] == "GOT") >= 8, 10, "8 GOT lines")
    got = [f for f in out_lines(ov, label) if f["_"] == "GOT"]
    assert [(g["from"].split(":")[0], g["data"]) for g in got] == expect, got
    conn_ports = {g["from"].split(":")[1] for g in got[3:]}
    assert conn_ports == {c["name"].split(":")[1]}, (got, c)  # one socket, one virtual source port
    # A dynamic client under the preload library talks to the static server under the monitor.
    ov.mode = None
    r = ov.call("s1-n2", [h.PYTHON, "-c", PY_CLIENT, srv_vip, str(PORT)], timeout=30)
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.decode().split() == ["re:from-preload", srv_vip, str(PORT)], r.stdout
    h.wait_until(lambda: sum(1 for f in out_lines(ov, label) if f["_"] == "GOT") >= 9, 10, "9 GOT lines")
    last = [f for f in out_lines(ov, label) if f["_"] == "GOT"][-1]
    assert (last["from"].split(":")[0], last["data"]) == (ov.vip_of("s1-n2"), "from-preload"), last
    ov.stop(srv)
    st1, st2 = ov.status_json("s1")["udp"], ov.status_json("s2")["udp"]
    assert st1["tx"] > 0 and st2["rx"] > 0, (st1, st2)


def test_udp_under_ptrace():
    h.require_tools("cc")
    with TraceOverlay(tag="traceudp") as ov:
        prog = build_udpprog(ov)
        session(ov, prog, "ptrace")
        session(ov, prog, "ptrace-all")


SINK_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
dst = (sys.argv[1], int(sys.argv[2]))
s.sendto(b"first-" + sys.argv[3].encode(), dst)   # received by a plain recv(): no answer
s.sendto(b"second-" + sys.argv[3].encode(), dst)  # received by recvmsg() with msg_name, answered by sendmsg()
data, src = s.recvfrom(2048)
print(data.decode(), src[0], src[1])
"""


def test_receive_only_server():
    """A UDP server that binds a wildcard port and only receives (recv without an address, then recvmsg): the
    monitor arms it at bind (docs/trace.md "UDP"), so no header reaches it, and its sendmsg answer goes back through
    the overlay. Both AF_INET (0.0.0.0) and dual-stack AF_INET6 ([::]) binds, under ptrace and ptrace-all."""
    h.require_tools("cc")
    with TraceOverlay(tag="traceudpsink") as ov:
        prog = build_udpprog(ov)
        srv_vip, me = ov.vip_of("s2-n1"), ov.vip_of("s1-n1")
        port = PORT + 10
        for mode, sink in (("ptrace", "sink"), ("ptrace", "sink6"), ("ptrace-all", "sink")):
            port += 1
            ov.mode = mode
            label = f"sink-{mode}-{sink}"
            srv = ov.run("s2-n1", [prog, sink, str(port)], label=label)
            h.wait_until(lambda: srv.poll() is not None or any(f["_"] == "READY" for f in out_lines(ov, label)),
                         10, "the UDP sink")
            ov.mode = None  # the client: Python under the preload library
            r = ov.call("s1-n1", [h.PYTHON, "-c", SINK_CLIENT, srv_vip, str(port), label], timeout=30)
            assert r.returncode == 0, (label, r.stderr[-1500:], open(ov.log_path(label), errors="replace").read())
            assert r.stdout.decode().split() == [f"re:second-{label}", srv_vip, str(port)], (label, r.stdout)
            assert srv.wait(timeout=10) == 0, open(ov.log_path(label), errors="replace").read()
            lines = {f["_"]: f for f in out_lines(ov, label)}
            assert lines["SINK"]["data"] == f"first-{label}", (label, lines)  # no header in front
            src = lines["SINKMSG"]["from"]
            want = f"[::ffff:{me}]" if sink == "sink6" else me
            assert src.rsplit(":", 1)[0] == want and lines["SINKMSG"]["data"] == f"second-{label}", (label, lines)


if __name__ == "__main__":
    h.main([test_udp_under_ptrace, test_mixed_preload_and_ptrace, test_receive_only_server])
