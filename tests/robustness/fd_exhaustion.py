#!/usr/bin/python3
"""A router out of file descriptors keeps serving identified work (label "robustness").

Theory of operation: one router (uvpn_router_testmain) runs with RLIMIT_NOFILE 64 on 127.0.0.1, two nodes
register (127.0.0.10, 127.0.0.11) and one same-site relay is established between them but carries no byte yet
(so it holds no pipe). Then 300 connections from 127.0.1.x each send one byte (past TCP_DEFER_ACCEPT) and stay
open: the router runs out of descriptors. While they are held:
  - the established relay must still carry data (it needs a pipe, i.e. two new descriptors);
  - a new relay must still be set up (STATUS ok);
  - a `uvpn status` client must be answered, and the router must not spin (CPU well under one core).
(Checked in that order, so that no failure frees descriptors for the next check.) After they close, the
router's descriptor count returns near its baseline and it exits 0 on SIGINT.
The expected behaviour is that the router sheds its oldest *unidentified* connections (no complete first
message) rather than failing identified ones.

Loopback only; bounded (about 15 s). Usage: fd_exhaustion.py --router BIN. Exit code = failures.
"""
import argparse
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "router"))
import uvpnwire as w  # noqa: E402

from hostile_env import FAILS, check, free_port, recv_exact  # noqa: E402  (shared with the hostile suite)

NOFILE = 64


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--router", required=True)
    args = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="uvpn-fd-exhaustion-")
    node_port, peer_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    node = ("127.0.0.1", node_port)
    routes = os.path.join(tmp, "routes")
    with open(routes, "w") as f:
        f.write("uvpn-route 1\nsession fd1\nnetwork 100.97.0.0/16\n"
                f"site a subnet=100.97.1.0/24 peer=127.0.0.1:{peer_port} node=127.0.0.1:{node_port}\n")
    ctl = os.path.join(tmp, "ctl.sock")
    log_path = os.path.join(tmp, "router.log")
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))

    with open(log_path, "wb") as log:
        router = subprocess.Popen([args.router, "--routes", routes, "--site", "a", "--control", ctl,
                                   "--header-timeout-ms", "5000", "--heartbeat-s", "5"],
                                  stdout=log, stderr=log, env=env, preexec_fn=limit)
    held, keep = [], []
    try:
        deadline = time.time() + 5
        while time.time() < deadline and not os.path.exists(ctl):
            time.sleep(0.02)
        regs = {}
        for ip in ("127.0.0.10", "127.0.0.11"):
            s = socket.socket()
            s.bind((ip, 0))
            s.connect(node)
            s.sendall(w.register())
            hdr = recv_exact(s, 8)
            regs[ip] = w.parse_register_reply(hdr + recv_exact(s, int.from_bytes(hdr[6:8], "big") - 8))
            keep.append(s)
        dest = socket.socket()
        dest.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        dest.bind(("127.0.0.11", 0))
        dest.listen(64)
        dport = dest.getsockname()[1]
        dest.settimeout(3)

        def open_relay():
            s = socket.socket()
            s.bind(("127.0.0.10", 0))
            s.settimeout(3)
            s.connect(node)
            s.sendall(w.conn_header(regs["127.0.0.11"]["vip"], dport))
            st = recv_exact(s, 16)
            return s, (w.parse_status(st) if len(st) == 16 else None)

        a, code = open_relay()
        b, _ = dest.accept()
        check(code == 0 and len(recv_exact(b, 32)) == 32, "relay established before the flood")
        base = nfds(router.pid)

        for i in range(300):
            x = socket.socket()
            try:
                x.bind((f"127.0.1.{1 + i % 200}", 0))
                x.settimeout(1)
                x.connect(node)
                x.send(b"U")  # one byte: past TCP_DEFER_ACCEPT, never a complete message
                held.append(x)
            except OSError:
                x.close()
        time.sleep(0.5)
        check(nfds(router.pid) >= NOFILE - 2, f"router out of descriptors ({nfds(router.pid)} of {NOFILE})")

        u = socket.socket(socket.AF_UNIX)
        u.settimeout(3)
        try:
            u.connect(ctl)
            u.sendall(b"text\n")
            t0 = cpu_ticks(router.pid)
            time.sleep(1.0)
            spent = cpu_ticks(router.pid) - t0
            reply = recv_exact(u, 10)
            check(reply.startswith(b"site a"), f"status answered while out of descriptors ({reply!r})")
            hz = os.sysconf("SC_CLK_TCK")
            check(spent < hz * 0.3, f"router does not spin with a status client pending ({spent} ticks in 1 s)")
        except OSError as e:
            check(False, f"status socket while out of descriptors: {e!r}")
        finally:
            u.close()

        try:
            c, code = open_relay()
            check(code == 0, f"new relay set up while out of descriptors (STATUS {code})")
            c.close()
        except OSError as e:
            check(False, f"new relay set up while out of descriptors ({e!r})")

        try:
            a.sendall(b"still here")
            got = recv_exact(b, 10)
        except OSError as e:
            got = repr(e).encode()
        check(got == b"still here", f"established relay carries data while out of descriptors ({got!r})")

        for x in held:
            x.close()
        held = []
        ok = False
        deadline = time.time() + 8
        while time.time() < deadline and not ok:
            ok = nfds(router.pid) <= base + 6  # + pooled pipes
            time.sleep(0.1)
        check(ok, f"descriptors back near the baseline ({nfds(router.pid)} vs {base})")
        a.close()
        b.close()
        dest.close()
        for s in keep:
            s.close()
        keep = []
        router.send_signal(signal.SIGINT)
        rc = router.wait(15)
        check(rc == 0, f"router exits 0 on SIGINT ({rc})")
        with open(log_path, errors="replace") as f:
            rlog = f.read()
        for mark in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
            check(mark not in rlog, f"no '{mark}' in the router log")
    finally:
        for x in held + keep:
            x.close()
        if router.poll() is None:
            router.kill()
            router.wait()
    if FAILS:
        print(f"{len(FAILS)} FAILED; router log in {log_path}")
    else:
        print("all passed")
        subprocess.run(["rm", "-rf", tmp])
    return min(len(FAILS), 100)


if __name__ == "__main__":
    sys.exit(main())
