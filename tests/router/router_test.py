#!/usr/bin/python3
"""Loopback integration tests of the subnet router (docs/protocol.md, docs/architecture.md).

Two routers: site a (node 127.0.0.1:B+1, peer 127.0.0.1:B) and site b (node 127.0.0.2:B+11, peer 127.0.0.2:B+10),
B a per-run port base. Python plays the nodes: one registers from 127.0.0.10 at a, one from 127.0.0.20 at b (with
heartbeats), and relays are opened the way the preload library would (connect to the home router from the node's
address, CONN_HEADER hop 0). Every check prints one line; the exit code is the number of failures.
Only loopback addresses are used; every wait is bounded.
"""
import argparse
import hashlib
import json
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uvpnwire as w  # noqa: E402

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def recv_exact(s, n, timeout=5.0):
    s.settimeout(timeout)
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            break
        b += c
    return b


def recv_all(s, timeout=10.0):
    s.settimeout(timeout)
    out = []
    while True:
        c = s.recv(1 << 16)
        if not c:
            return b"".join(out)
        out.append(c)


def tcp_from(src_ip, dst, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src_ip, 0))
    s.settimeout(timeout)
    s.connect(dst)
    return s


class Env:
    def __init__(self, router_bin, tmp, base):
        self.bin, self.tmp, self.base = router_bin, tmp, base
        self.a_peer, self.a_node = ("127.0.0.1", base), ("127.0.0.1", base + 1)
        self.b_peer, self.b_node = ("127.0.0.2", base + 10), ("127.0.0.2", base + 11)
        self.routes = os.path.join(tmp, ".uvpn_route_t1")
        with open(self.routes, "w") as f:
            f.write("uvpn-route 1\nsession t1\nnetwork 100.97.0.0/16\n"
                    f"site a subnet=100.97.1.0/24 peer=127.0.0.1:{base} node=127.0.0.1:{base + 1}\n"
                    f"site b subnet=100.97.2.0/24 peer=127.0.0.2:{base + 10} node=127.0.0.2:{base + 11}\n")
        self.procs = {}
        self.ctl = {"a": os.path.join(tmp, "ctl", "a.sock"), "b": os.path.join(tmp, "ctl", "b.sock")}

    def start(self, site, extra=()):
        log = open(os.path.join(self.tmp, f"router-{site}.log"), "ab")
        p = subprocess.Popen([self.bin, "--routes", self.routes, "--site", site, "--control", self.ctl[site],
                              "--log-level", "debug", "--heartbeat-s", "1", "--connect-timeout-ms", "3000",
                              "--header-timeout-ms", "1500", *extra], stdout=log, stderr=log)
        self.procs[site] = p
        deadline = time.time() + 5
        while time.time() < deadline and not os.path.exists(self.ctl[site]):
            time.sleep(0.02)
        return p

    def status(self, site, kind="json"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect(self.ctl[site])
        s.sendall(kind.encode() + b"\n")
        data = recv_all(s, 3)
        s.close()
        return json.loads(data) if kind == "json" else data.decode()

    def wait_for(self, pred, timeout=8.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if pred():
                    return True
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        return False

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


class Node:
    """A registered node: keeps its registration connection open and sends heartbeats."""

    def __init__(self, real_ip, router_node, name=b"", want="0.0.0.0"):
        self.real_ip = real_ip
        self.sock = tcp_from(real_ip, router_node)
        self.sock.sendall(w.register(want, os.getpid(), name))
        hdr = recv_exact(self.sock, 8)
        ln = struct.unpack(">H", hdr[6:8])[0]
        self.reply = w.parse_register_reply(hdr + recv_exact(self.sock, ln - 8))
        self.vip = self.reply.get("vip")
        self.stop = threading.Event()
        self.thread = None
        if self.reply["ok"]:
            self.thread = threading.Thread(target=self._beat, daemon=True)
            self.thread.start()

    def _beat(self):
        seq = 0
        while not self.stop.wait(0.4):
            seq += 1
            try:
                self.sock.sendall(w.heartbeat(seq))
                self.sock.settimeout(2)
                r = recv_exact(self.sock, 16, 2)
                if len(r) != 16:
                    return
            except OSError:
                return

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join(2)
        self.sock.close()


def open_relay(src_ip, router_node, dst_vip, dst_port, want_status=True):
    """Leg 0 as the shim opens it. Returns (socket, status code or None)."""
    s = tcp_from(src_ip, router_node)
    s.sendall(w.conn_header(dst_vip, dst_port, flags=w.WANT_STATUS if want_status else 0))
    if not want_status:
        return s, None
    st = recv_exact(s, 16)
    return s, (w.parse_status(st) if len(st) == 16 else None)


def do_lookup(router_node, src_ip, node_port, router_port, query_from=None, timeout=1.0):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((query_from or src_ip, 0))
    u.settimeout(timeout)
    u.sendto(w.lookup(77, src_ip, node_port, router_port), router_node)
    try:
        data, _ = u.recvfrom(64)
        return w.parse_lookup_reply(data)
    except socket.timeout:
        return None
    finally:
        u.close()


def listen(ip, port=0):
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((ip, port))
    l.listen(2048)
    return l


def is_reset(s, timeout=3.0):
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(4096):
                return False  # orderly close
    except ConnectionResetError:
        return True
    except OSError:
        return False


def test_cross_site(env, na, nb, want_status=True, size_a=4 << 20, size_b=2 << 20):
    tag = "cross-site" + ("" if want_status else " (no WANT_STATUS)")
    lb = listen("127.0.0.20")
    port = lb.getsockname()[1]
    s, code = open_relay("127.0.0.10", env.a_node, nb.vip, port, want_status)
    if want_status:
        check(code == 0, f"{tag}: STATUS ok (got {code})")
    lb.settimeout(5)
    conn, peer = lb.accept()
    lb.close()
    h = w.parse_conn_header(recv_exact(conn, 32))
    aport = s.getsockname()[1]
    check(h["hop"] == 2 and h["src"] == na.vip and h["src_port"] == aport and h["dst"] == nb.vip and
          h["dst_port"] == port and h["relay_id"] != 0 and h["flags"] == 0, f"{tag}: hop-2 header {h}")
    check(peer[0] == "127.0.0.2", f"{tag}: leg 2 comes from router b's address ({peer[0]})")

    # LOOKUP on both ends while established. Without WANT_STATUS the home router may not have read the peer's
    # STATUS yet when leg 2 is accepted: it is established within moments.
    env.wait_for(lambda: (do_lookup(env.a_node, "127.0.0.10", aport, env.a_node[1]) or {}).get("state") == 2, 3)
    r = do_lookup(env.a_node, "127.0.0.10", aport, env.a_node[1])
    check(r is not None and r["state"] == 2 and r["local"] == (na.vip, aport) and r["peer"] == (nb.vip, port),
          f"{tag}: LOOKUP at home router {r}")
    r = do_lookup(env.b_node, "127.0.0.20", port, peer[1])
    check(r is not None and r["state"] == 2 and r["local"] == (nb.vip, port) and r["peer"] == (na.vip, aport),
          f"{tag}: LOOKUP at destination router {r}")
    r = do_lookup(env.a_node, "127.0.0.10", aport, env.a_node[1], query_from="127.0.0.11")
    check(r is None, f"{tag}: LOOKUP about another node's connection is not answered")

    da, db = os.urandom(size_a), os.urandom(size_b)
    got = {}

    def b_side():
        t = threading.Thread(target=lambda: conn.sendall(db))
        t.start()
        got["b"] = recv_all(conn, 20)  # until A's half-close
        t.join()
        conn.shutdown(socket.SHUT_WR)

    tb = threading.Thread(target=b_side)
    tb.start()
    s.sendall(da)
    s.shutdown(socket.SHUT_WR)  # half-close: B must still be able to send
    got["a"] = recv_all(s, 20)
    tb.join(30)
    check(hashlib.sha256(got.get("b", b"")).digest() == hashlib.sha256(da).digest(),
          f"{tag}: {size_a} bytes a->b intact")
    check(hashlib.sha256(got.get("a", b"")).digest() == hashlib.sha256(db).digest(),
          f"{tag}: {size_b} bytes b->a intact (after a's half-close)")
    s.close()
    conn.close()
    # The relay is gone from both routers' status; LOOKUP says closed.
    check(env.wait_for(lambda: not [x for x in env.status("a")["relays"] if x["src"] == f"{na.vip}:{aport}"], 5),
          f"{tag}: relay removed at router a")
    r = do_lookup(env.a_node, "127.0.0.10", aport, env.a_node[1])
    check(r is not None and r["state"] == 4, f"{tag}: LOOKUP after close says closed {r}")


def test_same_site(env, na, na2):
    l2 = listen("127.0.0.11")
    port = l2.getsockname()[1]
    s, code = open_relay("127.0.0.10", env.a_node, na2.vip, port)
    check(code == 0, f"same-site: STATUS ok (got {code})")
    l2.settimeout(5)
    conn, peer = l2.accept()
    h = w.parse_conn_header(recv_exact(conn, 32))
    check(h["hop"] == 2 and h["src"] == na.vip and h["dst"] == na2.vip and peer[0] == "127.0.0.1",
          f"same-site: hop-2 header {h} from {peer}")
    conn.sendall(b"hello from a2")
    check(recv_exact(s, 13) == b"hello from a2", "same-site: data b->a")
    s.sendall(b"x" * 100000)
    check(recv_exact(conn, 100000) == b"x" * 100000, "same-site: data a->b")
    s.close()
    conn.close()
    l2.close()


def test_failures(env, na, nb):
    # Refused: no listener on that port of node b.
    dead = listen("127.0.0.20")
    port = dead.getsockname()[1]
    dead.close()
    s, code = open_relay("127.0.0.10", env.a_node, nb.vip, port)
    check(code == 1, f"refused: STATUS ECONNREFUSED (got {w.CODES.get(code, code)})")
    check(is_reset(s), "refused: leg 0 then reset")
    aport = s.getsockname()[1]
    s.close()
    r = do_lookup(env.a_node, "127.0.0.10", aport, env.a_node[1])
    check(r is not None and r["state"] == 3 and r["code"] == 1, f"refused: LOOKUP keeps the failure {r}")

    # Refused without WANT_STATUS: the program sees a reset, no STATUS bytes.
    s, _ = open_relay("127.0.0.10", env.a_node, nb.vip, port, want_status=False)
    check(is_reset(s), "refused without WANT_STATUS: reset, no STATUS")
    s.close()

    for vip, what in (("100.97.2.99", "unleased vip in site b"), ("100.97.9.1", "vip in no site"),
                      ("100.98.0.1", "vip outside the network"), ("100.97.1.99", "unleased vip in own site")):
        s, code = open_relay("127.0.0.10", env.a_node, vip, 22)
        check(code == 2, f"{what}: STATUS EHOSTUNREACH (got {w.CODES.get(code, code)})")
        s.close()

    s, code = open_relay("127.0.0.30", env.a_node, nb.vip, 22)
    check(code == 6, f"unleased source: STATUS EACCES (got {w.CODES.get(code, code)})")
    s.close()


def test_timeout(env, na, nb):
    """A destination whose accept queue is full drops SYNs: router b's connect times out (3 s in this test) and
    the client gets ETIMEDOUT through router a."""
    full = listen("127.0.0.20")
    full.listen(0)
    port = full.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue (backlog 0 holds 1); extra attempts just hang, that is fine
        f = socket.socket()
        f.setblocking(False)
        f.bind(("127.0.0.20", 0))
        f.connect_ex(("127.0.0.20", port))
        fillers.append(f)
    time.sleep(0.2)
    t0 = time.time()
    s, code = None, None
    s = tcp_from("127.0.0.10", env.a_node)
    s.sendall(w.conn_header(nb.vip, port))
    st = recv_exact(s, 16, 10)
    code = w.parse_status(st) if len(st) == 16 else None
    dt = time.time() - t0
    check(code == 4 and 2.5 < dt < 6, f"timeout: STATUS ETIMEDOUT after {dt:.1f}s (got {w.CODES.get(code, code)})")
    s.close()
    for f in fillers:
        f.close()
    full.close()


def test_split_header(env, na, nb):
    """The header may arrive in pieces (prefix split, then the rest in two segments)."""
    lb = listen("127.0.0.20")
    port = lb.getsockname()[1]
    s = tcp_from("127.0.0.10", env.a_node)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    h = w.conn_header(nb.vip, port)
    for a, b in ((0, 5), (5, 12), (12, 32)):
        s.sendall(h[a:b])
        time.sleep(0.05)
    st = recv_exact(s, 16)
    check(len(st) == 16 and w.parse_status(st) == 0, "split header: STATUS ok")
    lb.settimeout(5)
    conn, _ = lb.accept()
    check(w.parse_conn_header(recv_exact(conn, 32))["dst_port"] == port, "split header: hop-2 header")
    s.sendall(b"ping")
    check(recv_exact(conn, 4) == b"ping", "split header: data")
    s.close()
    conn.close()
    lb.close()


def closed_quickly(sock, timeout=3.0):
    sock.settimeout(timeout)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_bad_input(env):
    cases = [
        ("garbage", env.a_node, b"GET / HTTP/1.0\r\n\r\n"),
        ("wrong hop on node listener", env.a_node, w.conn_header("100.97.2.2", 80, hop=1, flags=0)),
        ("hop 0 on WAN listener", env.b_peer, w.conn_header("100.97.2.2", 80, hop=0, flags=0)),
        ("oversized length", env.a_node, w.MAGIC + struct.pack(">BBH", w.T_REGISTER, 0, 4000) + b"\0" * 100),
        ("unknown type", env.a_node, w.MAGIC + struct.pack(">BBH", 99, 0, 32) + b"\0" * 24),
        ("bad flags", env.a_node, w.MAGIC + struct.pack(">BBH", w.T_CONN, 0x80, 32) + b"\0" * 24),
        ("REGISTER on WAN listener", env.b_peer, w.register()),
        ("HELLO for another session", env.b_peer,
         w.prefix(w.T_HELLO, 0, 16 + 1 + 2) + struct.pack(">HB5x", 1, 1) + b"a" + b"zz"),
        ("HELLO from unknown site", env.b_peer,
         w.prefix(w.T_HELLO, 0, 16 + 1 + 2) + struct.pack(">HB5x", 1, 1) + b"q" + b"t1"),
        ("RESUME on node listener", env.a_node, w.resume(0x0001000000000001, 0, 1)),
        ("RESUME with reserved bytes set", env.b_peer,
         w.prefix(w.T_RESUME, 0, 32) + struct.pack(">QQII", 0x0001000000000001, 0, 1, 1)),
    ]
    for what, ep, payload in cases:
        s = tcp_from("127.0.0.10", ep)
        s.sendall(payload)
        check(closed_quickly(s), f"bad input ({what}): connection closed")
        s.close()
    # A well-formed RESUME for a relay router b does not hold: answered "unknown" (ECONNRESET), then closed.
    s = tcp_from("127.0.0.1", env.b_peer)
    s.sendall(w.resume(0x0001deadbeef0001, 12345, 3))
    ans = recv_exact(s, 32)
    ok = len(ans) == 32 and ans[4] == w.T_RESUME_OK and struct.unpack(">QQH2xI", ans[8:32]) == \
        (0x0001deadbeef0001, 0, 5, 3)
    check(ok and closed_quickly(s), f"RESUME for an unknown relay: RESUME_OK code 5, closed ({ans.hex()})")
    s.close()
    # Truncated header then silence: closed by the header timeout (1.5 s in this test).
    s = tcp_from("127.0.0.10", env.a_node)
    s.sendall(w.conn_header("100.97.2.2", 80)[:20])
    t0 = time.time()
    check(closed_quickly(s, 5) and time.time() - t0 > 1.0, "truncated header: closed after the header timeout")
    s.close()
    # Truncated header then close.
    s = tcp_from("127.0.0.10", env.a_node)
    s.sendall(w.conn_header("100.97.2.2", 80)[:10])
    s.close()
    # Garbage LOOKUP datagrams are ignored (no reply, router alive).
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.10", 0))
    u.sendto(b"\0" * 20, env.a_node)
    u.sendto(w.lookup(1, "127.0.0.10", 1, 1)[:12], env.a_node)
    u.close()
    check(env.procs["a"].poll() is None and env.procs["b"].poll() is None, "bad input: both routers still running")


def fetch_hosts(router_node, src_ip="127.0.0.10"):
    """All pages of HOSTS_LIST (protocol.md section 13) -> (entries, page sizes)."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((src_ip, 0))
    u.settimeout(2)
    entries, sizes, after = [], [], "0.0.0.0"
    try:
        for qid in range(1, 100):
            u.sendto(w.hosts_list(qid, after), router_node)
            raw = u.recv(4096)
            sizes.append(len(raw))
            got_qid, more, page = w.parse_hosts_reply(raw)
            check(got_qid == qid, f"HOSTS_REPLY query id {got_qid} for {qid}")
            entries += page
            if not more:
                break
            check(page, "a HOSTS_REPLY with MORE carries entries")
            after = page[-1][0]
    finally:
        u.close()
    return entries, sizes


def test_hosts_pages(env, na, nb):
    """The whole name table in pages: 120 more nodes of site b with 60-byte names, fetched from router a."""
    extra = [Node(f"127.0.3.{10 + i}", env.b_node, f"n{i:03d}-".encode() + b"x" * 55) for i in range(120)]
    try:
        check(all(n.reply["ok"] for n in extra), "120 more nodes registered at b")
        vips = {n.vip for n in extra}

        def known():
            return vips <= {n["vip"] for n in env.status("a")["nodes"]}
        check(env.wait_for(known, 10), "router a knows the 120 nodes (NODE_ADD)")
        entries, sizes = fetch_hosts(env.a_node)
        ips = [e[0] for e in entries]
        check(ips == sorted(set(ips), key=w.ip2int), "HOSTS_REPLY entries once each, in VIP order")
        table = {e[0]: (e[1], e[2]) for e in entries}
        check(table.get(na.vip) == (True, "alpha-one") and table.get(nb.vip, (None,))[0] is False,
              f"own lease marked HOME, remote not: {table.get(na.vip)} {table.get(nb.vip)}")
        check(all(table.get(n.vip) == (False, n.reply["name"]) for n in extra), "every remote node listed by name")
        print(f"hosts table: {len(entries)} entries in {len(sizes)} replies of {min(sizes)}..{max(sizes)} bytes")
        check(len(sizes) >= 6 and max(sizes) <= 1200, f"paged: {len(sizes)} replies of at most 1200 bytes {sizes}")
        # Requests that are not exactly 1200 bytes with zero padding are ignored; the router keeps answering.
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(0.5)
        for bad in (w.hosts_list(5)[:1199], w.hosts_list(5, padding=bytes(1183) + b"\x01")):
            u.sendto(bad, env.a_node)
            try:
                u.recv(4096)
                check(False, "a malformed HOSTS_LIST was answered")
            except socket.timeout:
                pass
        u.close()
        check(len(fetch_hosts(env.a_node)[0]) == len(entries), "still answering after malformed requests")
    finally:
        for n in extra:
            n.close()


def test_many(env, na, nb, count):
    """`count` concurrent relays a->b through an echo server on node b; all open before any closes."""
    lb = listen("127.0.0.20")
    port = lb.getsockname()[1]
    stop = threading.Event()
    echoed = {"n": 0}

    def echo_server():
        sel = selectors.DefaultSelector()
        lb.setblocking(False)
        sel.register(lb, selectors.EVENT_READ, None)
        pending = {}
        deadline = time.time() + 60
        while not stop.is_set() and time.time() < deadline:
            for key, _ in sel.select(0.1):
                if key.data is None:
                    try:
                        c, _ = lb.accept()
                    except BlockingIOError:
                        continue
                    c.setblocking(False)
                    pending[c] = b""
                    sel.register(c, selectors.EVENT_READ, "c")
                else:
                    c = key.fileobj
                    try:
                        d = c.recv(4096)
                    except (BlockingIOError, ConnectionResetError):
                        continue
                    if not d:
                        sel.unregister(c)
                        c.close()
                        pending.pop(c, None)
                        continue
                    buf = pending[c] + d
                    if len(buf) >= 32 + 16:
                        c.setblocking(True)
                        c.sendall(buf[32:])  # echo the payload, not the hop-2 header
                        c.setblocking(False)
                        echoed["n"] += 1
                        buf = b""
                        pending[c] = b"\xff" * 64  # done marker: no second echo
                    else:
                        pending[c] = buf
        sel.close()

    t = threading.Thread(target=echo_server, daemon=True)
    t.start()
    socks = []
    t0 = time.time()
    for i in range(count):
        s = tcp_from("127.0.0.10", env.a_node)
        s.sendall(w.conn_header(nb.vip, port, flags=0) + struct.pack(">Q", i) + b"payload!")
        socks.append(s)
    ok = 0
    for i, s in enumerate(socks):
        if recv_exact(s, 16, 20) == struct.pack(">Q", i) + b"payload!":
            ok += 1
    st = env.status("a")
    live = len(st["relays"])
    for s in socks:
        s.close()
    stop.set()
    t.join(5)
    lb.close()
    check(ok == count, f"many: {ok}/{count} concurrent relays echoed ({time.time() - t0:.1f}s)")
    check(live >= count * 0.9, f"many: router a listed {live} relays while all were open")
    check(env.wait_for(lambda: len(env.status("a")["relays"]) == 0 and len(env.status("b")["relays"]) == 0, 10),
          "many: all relays gone after close")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--router", required=True)
    ap.add_argument("--many", type=int, default=1000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="uvpn-router-test-")
    # Ports below the ephemeral range; another base if something else holds one of ours.
    for attempt in range(8):
        base = 20000 + ((os.getpid() + attempt * 97) % 300) * 40
        env = Env(args.router, tmp, base)
        env.start("a")
        env.start("b")
        time.sleep(0.1)
        if all(p.poll() is None for p in env.procs.values()):
            break
        print(f"port base {base} busy, retrying")
        env.stop_all()
    try:
        check(env.wait_for(lambda: env.status("a")["links"][0]["up"] and env.status("b")["links"][0]["up"]),
              "link a<->b up")
        st = os.stat(env.ctl["a"])
        check(oct(st.st_mode & 0o777) == "0o600" and oct(os.stat(os.path.dirname(env.ctl["a"])).st_mode & 0o777)
              == "0o700", "status socket 0600 in a 0700 directory")

        na = Node("127.0.0.10", env.a_node, b"alpha-one")
        nb = Node("127.0.0.20", env.b_node)
        check(na.reply["ok"] and na.vip == "100.97.1.2" and na.reply["name"] == "alpha-one" and
              na.reply["real"] == "127.0.0.10" and na.reply["net"] == "100.97.0.0" and na.reply["prefix"] == 16,
              f"register a: {na.reply}")
        check(nb.reply["ok"] and nb.vip == "100.97.2.2" and nb.reply["name"] == "b-2", f"register b: {nb.reply}")
        shared = Node("127.0.0.10", env.a_node)
        check(shared.reply["ok"] and shared.vip == na.vip, "second registration from one node shares its lease")
        taken = Node("127.0.0.12", env.a_node, want="100.97.1.2")
        check(not taken.reply["ok"] and taken.reply["code"] == 2, f"taken address refused: {taken.reply}")
        taken.close()
        na2 = Node("127.0.0.11", env.a_node, want="100.97.1.50")
        check(na2.reply["ok"] and na2.vip == "100.97.1.50", "requested address granted")

        def knows(site, vip, remote):
            return any(n["vip"] == vip and n["local"] != remote for n in env.status(site)["nodes"])
        check(env.wait_for(lambda: knows("a", nb.vip, True) and knows("b", na.vip, True) and
                           knows("b", na2.vip, True)), "NODE_ADD: each router knows the other's nodes")

        test_cross_site(env, na, nb)
        test_cross_site(env, na, nb, want_status=False, size_a=1 << 20, size_b=1 << 20)
        test_same_site(env, na, na2)
        test_failures(env, na, nb)
        test_split_header(env, na, nb)
        test_timeout(env, na, nb)
        test_bad_input(env)
        test_hosts_pages(env, na, nb)
        test_cross_site(env, na, nb, size_a=100000, size_b=100000)  # still serving after bad input

        text = env.status("a", "text")
        check("site a" in text and nb.vip in text and "links" in text, "text status")

        shared.close()
        time.sleep(0.3)
        check(knows("a", na.vip, False), "lease survives while one registration remains")
        na2.close()
        check(env.wait_for(lambda: not knows("b", na2.vip, True)), "NODE_DEL after the registration closed")

        # A node that stops heartbeating loses its lease after 3 intervals (1 s here).
        quiet = socket.socket()
        quiet.bind(("127.0.0.13", 0))
        quiet.connect(env.a_node)
        quiet.sendall(w.register())
        recv_exact(quiet, 24)
        check(env.wait_for(lambda: any(n["real"] == "127.0.0.13" for n in env.status("a")["nodes"]), 2),
              "silent node registered")
        check(env.wait_for(lambda: not any(n["real"] == "127.0.0.13" for n in env.status("a")["nodes"]), 6),
              "silent node's lease ended after missed heartbeats")
        quiet.close()

        test_many(env, na, nb, args.many)

        # Router b restarts: the link comes back and a learns b's nodes again.
        nb.close()
        env.procs["b"].send_signal(signal.SIGTERM)
        check(env.procs["b"].wait(5) == 0, "SIGTERM: router b exits 0")
        check(not os.path.exists(env.ctl["b"]), "SIGTERM: status socket removed")
        check(env.wait_for(lambda: not env.status("a")["links"][0]["up"], 10), "link down seen by a")
        env.start("b")
        nb = Node("127.0.0.20", env.b_node)
        check(env.wait_for(lambda: env.status("a")["links"][0]["up"] and knows("a", nb.vip, True), 10),
              "link back up after restart, node re-announced")
        test_cross_site(env, na, nb, size_a=10000, size_b=10000)
        na.close()
        nb.close()
        for site in ("a", "b"):
            env.procs[site].send_signal(signal.SIGINT)
            check(env.procs[site].wait(5) == 0, f"SIGINT: router {site} exits 0")
    finally:
        env.stop_all()
    if FAILS:
        print(f"{len(FAILS)} FAILED; router logs in {tmp}")
        for site in ("a", "b"):
            print(f"--- tail of router-{site}.log")
            with open(os.path.join(tmp, f"router-{site}.log"), errors="replace") as f:
                print("".join(f.readlines()[-30:]))
    else:
        print("all passed")
        subprocess.run(["rm", "-rf", tmp])
    return min(len(FAILS), 100)


if __name__ == "__main__":
    sys.exit(main())
