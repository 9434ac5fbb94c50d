#!/usr/bin/python3
"""Bad input sent raw (no shim) to a router's node port and WAN port: garbage, a truncated header, a header with a
wrong hop. The router closes that one connection, logs a line, and keeps serving: curl across works afterwards,
also on a connection that was open during the attack."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_http  # noqa: E402

PROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netprogs.py")


def conn_header(dst_vip, dst_port, hop):
    vip = struct.unpack(">I", socket.inet_aton(dst_vip))[0]
    return struct.pack(">4sBBHIHIHBBHQ", b"UVP1", 1, 0, 32, 0, 0, vip, dst_port, 6, hop, 0, 0)


SENDER = r'''
import socket, sys, time
host, port, payload = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
s = socket.create_connection((host, port), timeout=10)
t0 = time.monotonic()
try:
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    print("CLOSED %.1f" % (time.monotonic() - t0))
except socket.timeout:
    print("STILL-OPEN")
except OSError as e:  # the router may reset before we are done sending: ECONNRESET, EPIPE, ENOTCONN
    print("RESET %.1f %s" % (time.monotonic() - t0, e.__class__.__name__))
'''


def log_lines(ov, site):
    """Warning and error lines of the router's log (registrations log at INFO, so they do not count)."""
    return sum(1 for ln in ov.router_log(site).splitlines() if "WARN" in ln or "ERROR" in ln)


def test_bad_input_keeps_router_serving():
    h.require_tools("curl")
    with h.Overlay(tag="bad") as ov:
        srv_log = test_http.start_server(ov, "s2-n1")
        test_http.fetch_and_check(ov, "s2-n1", "s1-n1", srv_log, "before.bin")
        # A long-lived relay across the attack.
        echo = ov.run("s2-n2", [h.PYTHON, "-u", PROGS, "aserver", "9000"], label="echo")
        ov.wait_listening("s2-n2", 9000, proc=echo)
        hold = ov.run("s1-n2", [h.PYTHON, "-u", PROGS, "hold", ov.vip_of("s2-n2"), "9000", "25"], label="hold")
        h.wait_until(lambda: "HOLDING" in open(ov.log_path("hold"), errors="replace").read(), 20, "held connection")
        vip = ov.vip_of("s2-n1")
        inputs = {
            "garbage": os.urandom(200),
            "http": b"GET / HTTP/1.0\r\n\r\n",
            "truncated": conn_header(vip, 8080, 0)[:19],
            "bad-magic": b"XXXX" + conn_header(vip, 8080, 0)[4:],
            "bad-length": conn_header(vip, 8080, 0)[:6] + b"\x00\x21" + conn_header(vip, 8080, 0)[8:] + b"\x00",
        }
        targets = [
            # (sender host, overlay, router address, wrong hops, site whose router receives it)
            ("s1-n1", True, "10.91.1.1", 7701, [1, 2, 7], "s1"),
            ("s2-head", False, "10.91.0.1", 7700, [0, 2], "s1"),
        ]
        for host, overlay, addr, port, hops, site in targets:
            cases = dict(inputs)
            for hop in hops:
                cases[f"hop{hop}"] = conn_header(vip, 8080, hop)
            for what, payload in cases.items():
                before = log_lines(ov, site)
                r = ov.call(host, [h.PYTHON, "-c", SENDER, addr, str(port), payload.hex()], overlay=overlay,
                            timeout=30)
                out = r.stdout.decode().strip()
                print(f"  {what} -> {addr}:{port} from {host}: {out or r.stderr[-300:]}")
                assert out.startswith(("CLOSED", "RESET")), f"{what} to {addr}:{port}: {out} {r.stderr!r}"
                h.wait_until(lambda: log_lines(ov, site) > before, 5, f"a warning in the log of {site} about {what}")
                assert ov.router_alive("s1") and ov.router_alive("s2"), f"a router died after {what}"
        time.sleep(0.2)
        test_http.fetch_and_check(ov, "s2-n1", "s1-n1", srv_log, "after.bin")
        assert hold.poll() is None, "the long-lived connection broke during the attack"


if __name__ == "__main__":
    h.main([test_bad_input_keeps_router_serving])
