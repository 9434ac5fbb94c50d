#!/usr/bin/python3
"""curl against `python3 -m http.server` across sites and within one site: the file's sha256 matches, and the
server's access log shows the client's VIRTUAL address (the shim reported the virtual peer in accept)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PORT = 8080


def fetch_and_check(ov, server_host, client_host, srv_log, name):
    path = os.path.join(ov.dir, "www", name)
    with open(path, "wb") as f:
        f.write(os.urandom(3 * 1024 * 1024 + 17))
    out = os.path.join(ov.dir, name + ".got")
    r = ov.call(client_host, ["curl", "-sS", "--max-time", "30", "-o", out,
                              f"http://{ov.vip_of(server_host)}:{PORT}/{name}"], timeout=40)
    assert r.returncode == 0, f"curl exited {r.returncode}: {r.stderr!r}"
    assert h.sha256_file(out) == h.sha256_file(path), "downloaded file differs"
    want = f'{ov.vip_of(client_host)} - - '
    h.wait_until(lambda: any(want in ln and f"GET /{name}" in ln for ln in open(srv_log, errors="replace")), 5,
                 f"access log line from {ov.vip_of(client_host)} for {name}")


def start_server(ov, host):
    os.makedirs(os.path.join(ov.dir, "www"), exist_ok=True)
    p = ov.run(host, [h.PYTHON, "-m", "http.server", str(PORT), "--bind", "0.0.0.0", "--directory",
                      os.path.join(ov.dir, "www")], label="http-server")
    ov.wait_listening(host, PORT, proc=p)
    return ov.log_path("http-server")


def test_http_cross_site():
    h.require_tools("curl")
    with h.Overlay(tag="http") as ov:
        log = start_server(ov, "s2-n1")
        fetch_and_check(ov, "s2-n1", "s1-n1", log, "cross.bin")
        fetch_and_check(ov, "s2-n1", "s1-n2", log, "cross2.bin")


def test_http_same_site():
    h.require_tools("curl")
    with h.Overlay(tag="httpsame") as ov:
        log = start_server(ov, "s1-n1")
        fetch_and_check(ov, "s1-n1", "s1-n2", log, "same.bin")


def test_plain_traffic_untouched():
    """Under the shim, traffic to a non-virtual address (the real LAN address) goes to libc untouched."""
    h.require_tools("curl")
    with h.Overlay(tag="httpreal") as ov:
        start_server(ov, "s1-n1")
        path = os.path.join(ov.dir, "www", "plain.txt")
        with open(path, "w") as f:
            f.write("plain\n")
        r = ov.call("s1-n2", ["curl", "-sS", "--max-time", "10", f"http://{ov.real_ip('s1-n1')}:{PORT}/plain.txt"])
        assert r.returncode == 0 and r.stdout == b"plain\n", f"curl to real address: {r.returncode} {r.stderr!r}"
        # And across sites the real address is unreachable (no route): the overlay is the only path.
        r = ov.call("s2-n1", ["curl", "-sS", "--max-time", "5", f"http://{ov.real_ip('s1-n1')}:{PORT}/plain.txt"])
        assert r.returncode != 0, "a compute node reached another site without uvpn: testbed is leaking"


if __name__ == "__main__":
    h.main([test_http_cross_site, test_http_same_site, test_plain_traffic_untouched])
