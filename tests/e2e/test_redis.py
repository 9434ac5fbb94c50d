#!/usr/bin/python3
"""redis-server (epoll, accept4 SOCK_NONBLOCK) and redis-cli (hiredis: non-blocking connect, then a second
connect() for the result) across sites: SET/GET work, and CLIENT LIST shows the client's VIP."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PORT = 6379


def test_redis_set_get_client_list():
    h.require_tools("redis-server", "redis-cli")
    with h.Overlay(tag="redis") as ov:
        srv = ov.run("s2-n1", ["redis-server", "--port", str(PORT), "--bind", "0.0.0.0", "--protected-mode", "no",
                               "--save", "", "--appendonly", "no", "--dir", ov.dir], label="redis-server")
        ov.wait_listening("s2-n1", PORT, proc=srv)
        cli = ["redis-cli", "-h", ov.vip_of("s2-n1"), "-p", str(PORT)]
        r = ov.call("s1-n1", cli + ["SET", "uvpn-key", "across-the-overlay"], timeout=30)
        assert r.stdout.strip() == b"OK", f"SET: {r.returncode} {r.stdout!r} {r.stderr!r}"
        r = ov.call("s1-n2", cli + ["GET", "uvpn-key"], timeout=30)
        assert r.stdout.strip() == b"across-the-overlay", f"GET: {r.returncode} {r.stdout!r} {r.stderr!r}"
        r = ov.call("s1-n1", cli + ["CLIENT", "LIST"], timeout=30)
        assert f"addr={ov.vip_of('s1-n1')}:".encode() in r.stdout, f"CLIENT LIST: {r.stdout!r} {r.stderr!r}"
        assert f"laddr={ov.vip_of('s2-n1')}:{PORT}".encode() in r.stdout or b"laddr=" not in r.stdout, \
            f"CLIENT LIST laddr: {r.stdout!r}"


if __name__ == "__main__":
    h.main([test_redis_set_get_client_list])
