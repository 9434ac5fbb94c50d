#!/usr/bin/python3
"""Hostile input against two subnet routers on loopback (label "robustness").

Theory of operation: starts router a (127.0.0.1) and router b (127.0.0.2) the way tests/router/router_test.py does
(uvpn_router_testmain, a per-run port base), registers one legitimate node per site and keeps a *canary* running
for the whole test: one long-lived relay a->b that echoes a message every 50 ms, plus a fresh short relay every
200 ms. Then it runs attack phases one after another -- random garbage, every truncation of every valid message,
impossible lengths and flags, thousands of half-open connections, LOOKUP floods with random and spoofed fields,
registration storms, HELLO floods, and connections that close or reset at every step of relay set-up. After each
phase it checks that both routers still run, that the canary saw no failure, and that each router's socket
count returns to its baseline (pipes may stay pooled, bounded). At the end both routers get SIGINT and must exit
0 (under LeakSanitizer that means no leak), and their logs must not contain a sanitizer report.

Every connection goes to 127.0.0.0/8 only; every loop is bounded in count and in time. Run under a sanitized
build for best effect: `hostile_router.py --router build/s/bin/uvpn_router_testmain`. Exit code = failures.
"""
import argparse
import os
import random
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "router"))
import uvpnwire as w  # noqa: E402
from hostile_env import (FAILS, HEADER_TIMEOUT_MS, Canary, Env, FakePeer, Node, check, hello, listen,  # noqa: E402
                         node_add, node_del, recv_exact, register_err, register_ok, lookup_reply, rst_close,
                         status_msg, tcp_from)


# ---- attack phases ----------------------------------------------------------------------------------------------

def send_and_close(src, dst, payload, how="close", wait=0.0):
    try:
        s = tcp_from(src, dst, timeout=2, nodelay=True)
    except OSError:
        return
    try:
        if payload:
            s.sendall(payload)
        if wait:
            time.sleep(wait)
        if how == "rst":
            rst_close(s)
        elif how == "read":
            try:
                s.settimeout(2)
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()
        else:
            s.close()
    except OSError:
        s.close()


def phase_garbage(env, rng, count):
    targets = [env.a_node, env.a_peer, env.b_node, env.b_peer]
    for i in range(count):
        kind = i % 4
        if kind == 0:
            payload = rng.randbytes(rng.randint(1, 600))
        elif kind == 1:  # the magic, then random bytes
            payload = w.MAGIC + rng.randbytes(rng.randint(0, 300))
        elif kind == 2:  # a plausible prefix with random type/flags/length, then random bytes
            payload = w.MAGIC + bytes([rng.randint(0, 15), rng.choice([0, 0, 1, rng.randint(0, 255)])]) + \
                struct.pack(">H", rng.randint(0, 300)) + rng.randbytes(rng.randint(0, 200))
        else:  # a valid message with random bytes flipped
            base = bytearray(rng.choice(valid_messages(env))[1])
            for _ in range(rng.randint(1, 4)):
                base[rng.randrange(len(base))] = rng.randint(0, 255)
            payload = bytes(base) + rng.randbytes(rng.randint(0, 64))
        send_and_close("127.0.0." + str(rng.choice([10, 20, 30, 40])), rng.choice(targets), payload,
                       how=rng.choice(["close", "rst", "read"]) if kind != 0 else "close")


def valid_messages(env):
    return [
        ("conn hop0", w.conn_header("100.97.2.2", 9, flags=w.WANT_STATUS)),
        ("conn hop1", w.conn_header("100.97.2.2", 9, hop=1, flags=0, src_ip="100.97.1.2", src_port=1, relay_id=7)),
        ("conn hop2", w.conn_header("100.97.2.2", 9, hop=2, flags=0)),
        ("register", w.register(name=b"evil-node")),
        ("register noname", w.register()),
        ("register_ok", register_ok()),
        ("register_err", register_err()),
        ("heartbeat", w.heartbeat(1)),
        ("lookup", w.lookup(1, "127.0.0.10", 1, 2)),
        ("lookup_reply", lookup_reply()),
        ("hello a", hello(b"a", b"h1")),
        ("hello b", hello(b"b", b"h1")),
        ("node_add", node_add("100.97.2.9", b"x")),
        ("node_del", node_del("100.97.2.9")),
        ("status", status_msg(0)),
    ]


def phase_truncations(env, hold):
    """Every proper prefix of every valid message, on every listener: closed right away (hold=False) or kept
    open until the router's header timeout closes it (hold=True, all at once)."""
    held = []
    n = 0
    for what, msg in valid_messages(env):
        if what.startswith("hello"):
            continue  # a complete HELLO from site b would replace the real link; HELLO has its own phase
        for cut in range(0, len(msg)):
            for dst in (env.a_node, env.b_peer):
                n += 1
                if hold:
                    try:
                        # Not the canary's address: the router limits connections without a first message per
                        # source (docs/security.md), so a flood from the canary's own node would starve it.
                        s = tcp_from("127.0.0.11", dst, timeout=2, nodelay=True)
                        if cut:
                            s.sendall(msg[:cut])
                        held.append(s)
                    except OSError:
                        pass
                else:
                    send_and_close("127.0.0.10", dst, msg[:cut], how=random.choice(["close", "rst"]))
    for what, msg in valid_messages(env):
        if what.startswith("hello"):
            for cut in range(0, len(msg)):
                send_and_close("127.0.0.10", env.b_peer, msg[:cut], how="close")
                n += 1
    if held:
        # The router closes every one of them after the header timeout.
        deadline = time.time() + HEADER_TIMEOUT_MS / 1000 + 4
        closed = 0
        for s in held:
            s.settimeout(max(0.01, deadline - time.time()))
            try:
                if s.recv(100) == b"":
                    closed += 1
            except ConnectionResetError:
                closed += 1
            except OSError:
                pass
            s.close()
        check(closed == len(held), f"truncations held open: {closed}/{len(held)} closed by the header timeout")
    return n


def phase_lengths(env):
    """Every type 0..255 with lengths at and around each bound, and every flag bit."""
    n = 0
    lengths = sorted({0, 1, 7, 8, 11, 12, 15, 16, 17, 18, 19, 20, 23, 24, 31, 32, 33, 79, 80, 87, 88, 111, 112, 113,
                      140, 141, 143, 144, 145, 255, 256, 4095, 4096, 4097, 65535})
    for t in list(range(0, 13)) + [99, 128, 255]:
        for ln in lengths:
            payload = w.MAGIC + struct.pack(">BBH", t, 0, ln) + b"\0" * min(ln, 200)
            send_and_close("127.0.0.10", env.a_node if n % 2 else env.b_peer, payload)
            n += 1
    for t in range(1, 12):
        for fl in range(1, 256, 17):
            send_and_close("127.0.0.10", env.a_node, w.MAGIC + struct.pack(">BBH", t, fl, 32) + b"\0" * 24)
            n += 1
    return n


def phase_half_open(env, count):
    """`count` connections to router a's node listener (and b's WAN listener) that send nothing, or one byte,
    all held at once; then released. Returns how many were opened."""
    held = []
    t0 = time.time()
    for i in range(count):
        if time.time() - t0 > 30:
            break
        dst = env.a_node if i % 3 else env.b_peer
        src = f"127.0.{1 + i // 20000}.{50 + (i % 150)}"
        try:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((src, 0))
            s.settimeout(2)
            s.connect(dst)
            if i % 2:
                s.send(b"U")
            held.append(s)
        except OSError:
            s.close()
    time.sleep(0.5)
    return held


def phase_lookup_flood(env, rng, count):
    """Random datagrams, valid LOOKUPs about random or real connections from matching and spoofed sources, and
    HOSTS_LIST requests: valid ones, truncated, padded with garbage, oversized."""
    socks = {ip: socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for ip in ("127.0.0.10", "127.0.0.20",
                                                                             "127.0.0.66")}
    for ip, u in socks.items():
        u.bind((ip, 0))
        u.setblocking(False)
    targets = [env.a_node, env.b_node]
    for i in range(count):
        ip = rng.choice(list(socks))
        k = i % 7
        if k == 5:  # HOSTS_LIST: valid, truncated, with trailing bytes
            d = w.hosts_list(rng.getrandbits(32), "100.97." + str(rng.randint(0, 255)) + ".1")
            d = d[:rng.randint(0, len(d))] if i % 3 == 0 else d + (b"x" if i % 3 == 1 else b"")
        elif k == 6:  # HOSTS_LIST with non-zero padding (ignored: no answer)
            d = w.hosts_list(rng.getrandbits(32), padding=rng.randbytes(1184))
        elif k == 0:
            d = rng.randbytes(rng.randint(0, 100))
        elif k == 1:
            d = w.lookup(rng.getrandbits(32), ip, rng.getrandbits(16), rng.getrandbits(16))
        elif k == 2:  # spoofed node_ip
            d = w.lookup(rng.getrandbits(32), "127.0.0." + str(rng.randint(0, 255)), rng.getrandbits(16),
                         env.a_node[1])
        elif k == 3:  # a LOOKUP with trailing bytes or a truncated one
            d = w.lookup(1, ip, 1, 1) + rng.randbytes(rng.randint(1, 50)) if i % 2 else \
                w.lookup(1, ip, 1, 1)[:rng.randint(0, 19)]
        else:  # random fields in a valid prefix
            d = w.prefix(w.T_LOOKUP, 0, 20) + rng.randbytes(12)
        try:
            socks[ip].sendto(d, rng.choice(targets))
        except BlockingIOError:
            time.sleep(0.001)
        if i % 500 == 0:  # drain replies so our buffers do not fill
            for u in socks.values():
                try:
                    while u.recv(64):
                        pass
                except BlockingIOError:
                    pass
    for u in socks.values():
        u.close()
    # Positive control: after the flood a well-formed HOSTS_LIST is answered with the registered nodes.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.10", 0))
    u.settimeout(2)
    try:
        u.sendto(w.hosts_list(77), env.a_node)
        qid, more, entries = w.parse_hosts_reply(u.recv(2048))
        check(qid == 77 and not more and len(entries) >= 2, f"HOSTS_LIST after the flood: {entries}")
    except (socket.timeout, AssertionError) as e:
        check(False, f"HOSTS_LIST after the flood: {e!r}")
    finally:
        u.close()


def phase_register_storm(env, rng, count):
    """`count` registrations opened and closed (some with bad names, addresses taken, or closed before the
    answer), from many node addresses, some concurrently."""
    n_ok = 0
    for i in range(count):
        src = f"127.0.2.{1 + (i % 200)}"
        k = i % 6
        want = "0.0.0.0"
        name = b""
        if k == 1:
            want = "100.97.1." + str(rng.randint(0, 255))
        elif k == 2:
            name = bytes(rng.choice(b"abcXYZ019.-_") for _ in range(rng.randint(1, 63)))
        elif k == 3:
            want = "100.97.2.5"  # another site's subnet
        try:
            s = tcp_from(src, env.a_node, timeout=2, nodelay=True)
        except OSError:
            continue
        try:
            s.sendall(w.register(want, i, name))
            if k == 4:
                rst_close(s)  # before the answer
                continue
            if k == 5:
                s.sendall(w.heartbeat(1) + w.heartbeat(2)[:9])
            r = recv_exact(s, 8, 2)
            if len(r) == 8:
                r += recv_exact(s, struct.unpack(">H", r[6:8])[0] - 8, 2)
                if r[4] == w.T_REGISTER_OK:
                    n_ok += 1
        except OSError:
            pass
        s.close()
    # Concurrent: 300 registrations from 150 addresses held at once, then all closed.
    held = []
    for i in range(300):
        try:
            s = tcp_from(f"127.0.3.{1 + i % 150}", env.a_node, timeout=2)
            s.sendall(w.register())
            held.append(s)
        except OSError:
            pass
    got = sum(1 for s in held if len(recv_exact(s, 8, 3)) == 8)
    for s in held:
        s.close()
    return n_ok, got, len(held)


def phase_hello_flood(env, rng, count):
    """HELLOs on router b's WAN listener: wrong session, unknown site, b's own name, version 2, and (rarely)
    a valid HELLO from site a followed by garbage or silence, which legitimately replaces the link."""
    for i in range(count):
        k = i % 6
        if k == 0:
            m = hello(b"a", b"other")
        elif k == 1:
            m = hello(b"zz", b"h1")
        elif k == 2:
            m = hello(b"b", b"h1")
        elif k == 3:
            m = hello(b"a", b"h1", version=2)
        elif k == 4:
            m = hello(b"a" * 32, b"h" * 64)
        else:
            m = hello(b"a", b"h1") + rng.randbytes(rng.randint(0, 40)) if i % 60 == 5 else hello(b"a", b"h1x")
        send_and_close("127.0.0.1", env.b_peer, m, how=rng.choice(["close", "rst"]))


def phase_setup_steps(env, nb_vip, rounds):
    """Connections that end at every step of relay set-up, on both legs, with both close and reset."""
    lst = listen("127.0.0.20")
    port = lst.getsockname()[1]
    lst.setblocking(False)
    stop = threading.Event()
    mode = {"m": "accept-close"}

    def dest():  # the destination misbehaves in the current mode
        conns = []
        while not stop.is_set():
            try:
                c, _ = lst.accept()
            except BlockingIOError:
                time.sleep(0.005)
                continue
            m = mode["m"]
            if m == "accept-close":
                c.close()
            elif m == "accept-rst":
                rst_close(c)
            elif m == "header-then-close":
                c.settimeout(2)
                recv_exact(c, 32, 2)
                c.close()
            elif m == "hold":
                conns.append(c)
            if len(conns) > 200:
                for x in conns:
                    x.close()
                conns = []
        for x in conns:
            x.close()

    t = threading.Thread(target=dest, daemon=True)
    t.start()
    n = 0
    for r in range(rounds):
        for m in ("accept-close", "accept-rst", "header-then-close", "hold"):
            mode["m"] = m
            for step in ("after-header", "after-status", "after-data", "rst-after-header", "rst-after-status",
                         "half-close"):
                n += 1
                try:
                    s = tcp_from("127.0.0.10", env.a_node, timeout=3, nodelay=True)
                    s.sendall(w.conn_header(nb_vip, port, flags=w.WANT_STATUS if r % 2 == 0 else 0))
                    if step == "after-header":
                        s.close()
                        continue
                    if step == "rst-after-header":
                        rst_close(s)
                        continue
                    if r % 2 == 0:
                        recv_exact(s, 16, 3)
                    if step == "after-status":
                        s.close()
                    elif step == "rst-after-status":
                        rst_close(s)
                    elif step == "after-data":
                        try:
                            s.sendall(b"x" * 70000)
                        except OSError:
                            pass
                        s.close()
                    else:
                        s.shutdown(socket.SHUT_WR)
                        s.settimeout(3)
                        try:
                            while s.recv(4096):
                                pass
                        except OSError:
                            pass
                        s.close()
                except OSError:
                    pass
    # Leg 1 played by a fake home router against router b: hop-1 header then close / reset / data / silence.
    for r in range(rounds):
        for step in ("close", "rst", "data", "read"):
            mode["m"] = ("accept-close", "hold")[r % 2]
            n += 1
            hdr = w.conn_header(nb_vip, port, hop=1, flags=0, src_ip="100.97.1.2", src_port=5, relay_id=r + 1)
            if step == "data":
                send_and_close("127.0.0.1", env.b_peer, hdr + b"y" * 5000, how="close")
            else:
                send_and_close("127.0.0.1", env.b_peer, hdr, how=step)
    time.sleep(0.5)
    stop.set()
    t.join(5)
    lst.close()
    return n


def phase_link_abuse(env, rng):
    """A fake router link to router b claiming to be site a (valid HELLO), then: messages split at every byte,
    many messages in one segment, NODE_ADD inside and outside a's subnet, NODE_DEL of unknown nodes, a second
    HELLO, and finally garbage. Router b must keep serving and router a's real link must come back."""
    n = 0
    msgs = [w.heartbeat(1), node_add("100.97.1.77", b"fake-node"), node_del("100.97.1.77"),
            node_add("100.97.2.2", b"inside-b"), node_add("8.8.8.8", b"outside"), node_del("100.97.9.9"),
            node_add("100.97.1.78", b"x" * 63)]
    for variant in range(8):
        try:
            s = tcp_from("127.0.0.1", env.b_peer, timeout=3, nodelay=True)
            s.sendall(hello(b"a", b"h1"))
            if variant == 0:  # byte by byte
                for m in msgs:
                    for i in range(len(m)):
                        s.send(m[i:i + 1])
                        n += 1
                    time.sleep(0.002)
            elif variant == 1:  # everything in one segment, many times
                s.sendall(b"".join(msgs) * 200)
            elif variant == 2:  # random split points
                blob = b"".join(rng.choice(msgs) for _ in range(300))
                i = 0
                while i < len(blob):
                    k = rng.randint(1, 200)
                    s.send(blob[i:i + k])
                    i += k
            elif variant == 3:  # every vip of a's subnet announced, then deleted
                s.sendall(b"".join(node_add(f"100.97.1.{v}", b"n%d" % v) for v in range(256)))
                s.sendall(b"".join(node_del(f"100.97.1.{v}") for v in range(256)))
            elif variant == 4:
                s.sendall(hello(b"a", b"h1"))  # a second HELLO is a protocol error
            elif variant == 5:
                s.sendall(msgs[1][:10] + rng.randbytes(100))
            elif variant == 6:
                s.sendall(w.conn_header("100.97.2.2", 1, hop=1, flags=0))  # CONN_HEADER on a link
            else:
                s.sendall(w.prefix(w.T_NODE_ADD, 0, 16) + b"\0" * 8)  # NODE_ADD with an empty name
            time.sleep(0.05)
            rst_close(s) if variant % 2 else s.close()
        except OSError:
            pass
    return n


def phase_fake_peer(env, fake, rounds):
    """Relays from node a (127.0.0.10) to site b's subnet through router a, with the fake peer misbehaving.
    Returns a list of (mode, expected, got) mismatches."""
    expect = {"ok": 0, "err-1": 1, "err-2": 2, "err-3": 3, "err-4": 4, "err-5": 5, "err-6": 6, "err-7": 7,
              "bad-code": 7, "bad-magic": 7, "bad-type": 7, "split": 0, "close": 5, "rst": 5,
              "partial-close": 5, "silence": 4, "ok-plus-data": 0, "ok-then-close": 0, "ok-then-rst": 0}
    bad = []
    for r in range(rounds):
        for mode, code in expect.items():
            if mode == "silence" and r > 0:
                continue
            fake.mode = mode
            try:
                s = tcp_from("127.0.0.10", env.a_node, timeout=8, nodelay=True)
                s.sendall(w.conn_header("100.97.2.2", 7, flags=w.WANT_STATUS))
                st = recv_exact(s, 16, 8)
                got = w.parse_status(st) if len(st) == 16 else None
                if got != code:
                    bad.append((mode, code, got))
                if mode == "ok-plus-data" and got == 0:
                    b = recv_exact(s, 7, 3)
                    if b != b"banner!":
                        bad.append((mode, "banner!", b))
                if mode == "ok" and got == 0:
                    s.sendall(b"ping" * 1000)
                    b = recv_exact(s, 4000, 3)
                    if b != b"ping" * 1000:
                        bad.append((mode, "echo", len(b)))
                if r % 2:
                    rst_close(s)
                else:
                    s.close()
            except OSError as e:
                bad.append((mode, code, repr(e)))
        # The client gives up while router a awaits the STATUS.
        fake.mode = "silence"
        for how in ("close", "rst"):
            try:
                s = tcp_from("127.0.0.10", env.a_node, timeout=3)
                s.sendall(w.conn_header("100.97.2.2", 7, flags=w.WANT_STATUS))
                time.sleep(0.1)
                rst_close(s) if how == "rst" else s.close()
            except OSError:
                pass
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--router", required=True)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every count (0.1 for a quick run)")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--only", default="", help="comma-separated phase names")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    random.seed(args.seed)
    print(f"seed {args.seed}", flush=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="uvpn-hostile-")
    for attempt in range(8):
        base = 21000 + ((os.getpid() + attempt * 89) % 250) * 40
        env = Env(args.router, tmp, base)
        env.start("a")
        env.start("b")
        time.sleep(0.2)
        if env.alive() and os.path.exists(env.ctl["a"]) and os.path.exists(env.ctl["b"]):
            break
        print(f"port base {base} busy, retrying")
        env.stop_all()

    def sc(n):
        return max(1, int(n * args.scale))

    canary = None
    na = nb = None
    try:
        check(env.wait_for(lambda: env.status("a")["links"][0]["up"] and env.status("b")["links"][0]["up"]),
              "link a<->b up")
        na = Node("127.0.0.10", env.a_node)
        nb = Node("127.0.0.20", env.b_node)
        check(na.reply["ok"] and nb.reply["ok"], "legitimate nodes registered")
        canary = Canary(env, nb.vip)
        time.sleep(1.0)
        base_fds = {s: env.fds(s) for s in ("a", "b")}
        print(f"baseline fds (sockets, pipes, other): {base_fds}", flush=True)
        check(canary.rounds > 5 and not canary.errors, f"canary running ({canary.rounds} rounds)")

        def after(phase, settle=HEADER_TIMEOUT_MS / 1000 + 3.5):
            alive = env.alive()
            check(alive, f"{phase}: both routers still running")
            if not alive:
                return False

            def back():
                return all(env.fds(s)[0] <= base_fds[s][0] + 2 and env.fds(s)[1] <= base_fds[s][1] + 512 and
                           env.fds(s)[2] <= base_fds[s][2] for s in ("a", "b"))
            ok = env.wait_for(back, settle)
            check(ok, f"{phase}: fd counts back to baseline ({ {s: env.fds(s) for s in ('a', 'b')} } vs "
                      f"{base_fds})")
            errs = canary.take_errors()
            check(not errs, f"{phase}: canary saw no failure ({canary.rounds} rounds, {canary.shorts} short "
                            f"relays so far){'; ' + '; '.join(errs[:5]) if errs else ''}")
            rep = env.sanitizer_reports()
            check(not rep, f"{phase}: no sanitizer report" + ("\n" + "\n".join(rep) if rep else ""))
            return alive

        phases = [
            ("garbage", lambda: phase_garbage(env, rng, sc(3000))),
            ("truncations", lambda: phase_truncations(env, hold=False)),
            ("truncations-held", lambda: phase_truncations(env, hold=True)),
            ("lengths", lambda: phase_lengths(env)),
            ("lookup-flood", lambda: phase_lookup_flood(env, rng, sc(30000))),
            ("register-storm", lambda: phase_register_storm(env, rng, sc(2000))),
            ("hello-flood", lambda: phase_hello_flood(env, rng, sc(1200))),
            ("setup-steps", lambda: phase_setup_steps(env, nb.vip, sc(20))),
            ("link-abuse", lambda: phase_link_abuse(env, rng)),
            ("half-open", None),
        ]
        only = set(filter(None, args.only.split(",")))
        for name, fn in phases:
            if only and name not in only:
                continue
            t0 = time.time()
            if name == "half-open":
                held = phase_half_open(env, sc(4000))
                st = env.fds("a")
                time.sleep(0.5)
                errs = canary.take_errors()
                check(not errs, f"half-open: canary unaffected while {len(held)} connections are held "
                                f"(router a fds {st}){'; ' + '; '.join(errs[:5]) if errs else ''}")
                canary.errors.extend([])
                for s in held:
                    s.close()
                print(f"-- half-open: {len(held)} connections ({time.time() - t0:.1f}s)", flush=True)
            else:
                res = fn()
                print(f"-- {name}: {res} ({time.time() - t0:.1f}s)", flush=True)
            if not after(name):
                break
            if name in ("hello-flood", "link-abuse"):
                check(env.wait_for(lambda: env.status("a")["links"][0]["up"] and
                                   env.status("b")["links"][0]["up"], 15), f"{name}: link a<->b up again")

        check(canary.rounds > 10, f"canary completed {canary.rounds} round trips and {canary.shorts} short relays")
        canary.close()
        canary = None
        nb.close()
        if not only or "fake-peer" in only:
            # Router b is replaced by a fake peer that misbehaves on leg 1 (STATUS handling at router a).
            env.procs["b"].send_signal(signal.SIGINT)
            check(env.procs["b"].wait(15) == 0, "router b exits 0 on SIGINT before the fake-peer phase")
            fake = FakePeer(env)
            base_a = env.fds("a")
            check(env.wait_for(lambda: env.status("a")["links"][0]["up"], 15), "fake-peer: link a<->fake b up")
            t0 = time.time()
            bad = phase_fake_peer(env, fake, sc(5))
            print(f"-- fake-peer ({time.time() - t0:.1f}s)", flush=True)
            check(not bad, f"fake-peer: every misbehaviour maps to the documented STATUS code {bad[:10]}")
            check(env.procs["a"].poll() is None, "fake-peer: router a still running")
            check(env.wait_for(lambda: env.fds("a")[0] <= base_a[0] + 1, 8),
                  f"fake-peer: router a sockets back to baseline ({env.fds('a')} vs {base_a})")
            rep = env.sanitizer_reports()
            check(not rep, "fake-peer: no sanitizer report" + ("\n" + "\n".join(rep) if rep else ""))
            fake.close()
        na.close()
        for site in ("a", "b"):
            if env.procs[site].poll() is None:
                env.procs[site].send_signal(signal.SIGINT)
                try:
                    rc = env.procs[site].wait(15)
                except subprocess.TimeoutExpired:
                    rc = "timeout"
                check(rc == 0, f"router {site} exits 0 on SIGINT (LeakSanitizer clean): {rc}")
        rep = env.sanitizer_reports()
        check(not rep, "final: no sanitizer report in the router logs" + ("\n" + "\n".join(rep) if rep else ""))
    finally:
        if canary:
            canary.close()
        env.stop_all()
    if FAILS:
        print(f"{len(FAILS)} FAILED (seed {args.seed}); router logs in {tmp}")
    else:
        print(f"all passed; router logs in {tmp}")
    return min(len(FAILS), 100)


if __name__ == "__main__":
    sys.exit(main())
