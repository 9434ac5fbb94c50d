"""Shared pieces of the hostile-input test (hostile_router.py): message builders, the two-router environment,
registered nodes, the canary that keeps legitimate traffic flowing, and a fake peer router.

Theory of operation: Env starts router a (127.0.0.1) and router b (127.0.0.2) from uvpn_router_testmain with a
short header timeout, keeps their logs, counts their descriptors from /proc and greps the logs for sanitizer
reports. Node registers a real address and heartbeats. Canary runs an echo server on node b and, through router
a, one long-lived relay (a round trip every 50 ms) plus a short relay every 200 ms, recording every failure.
FakePeer stands in for router b on its peer endpoint and misbehaves on leg 1 as told. Loopback only.
"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "router"))
import uvpnwire as w  # noqa: E402

FAILS = []
HEADER_TIMEOUT_MS = 1500
SANITIZER_MARKS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:",
                   b"AddressSanitizer:DEADLYSIGNAL", b"SUMMARY: UndefinedBehaviorSanitizer")


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def free_port(ip):
    s = socket.socket()
    s.bind((ip, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def recv_exact(s, n, timeout=5.0):
    s.settimeout(timeout)
    b = b""
    while len(b) < n:
        try:
            c = s.recv(n - len(b))
        except OSError:
            break
        if not c:
            break
        b += c
    return b


def tcp_from(src_ip, dst, timeout=5.0, nodelay=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind((src_ip, 0))
    s.settimeout(timeout)
    s.connect(dst)
    return s


def rst_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def listen(ip, port=0, backlog=4096):
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((ip, port))
    l.listen(backlog)
    return l


def hello(site, session, version=1):
    body = site + session
    return w.prefix(w.T_HELLO, 0, 16 + len(body)) + struct.pack(">HB5x", version, len(site)) + body


def node_add(vip, name):
    return w.prefix(w.T_NODE_ADD, 0, 16 + len(name)) + struct.pack(">II", w.ip2int(vip), 0) + name


def node_del(vip):
    return w.prefix(w.T_NODE_DEL, 0, 12) + struct.pack(">I", w.ip2int(vip))


def status_msg(code):
    return w.prefix(w.T_STATUS, 0, 16) + struct.pack(">HHI", code, 0, 0)


def register_ok():
    return w.prefix(w.T_REGISTER_OK, 0, 24 + 3) + struct.pack(">IIIBBH", 1, 2, 3, 16, 5, 0) + b"abc"


def register_err():
    return w.prefix(w.T_REGISTER_ERR, 0, 12 + 4) + struct.pack(">HH", 2, 0) + b"nope"


def lookup_reply():
    return w.prefix(w.T_LOOKUP_REPLY, 0, 32) + b"\0" * 24


class Env:
    def __init__(self, router_bin, tmp, base):
        self.bin, self.tmp, self.base = router_bin, tmp, base
        self.a_peer, self.a_node = ("127.0.0.1", base), ("127.0.0.1", base + 1)
        self.b_peer, self.b_node = ("127.0.0.2", base + 10), ("127.0.0.2", base + 11)
        self.routes = os.path.join(tmp, ".uvpn_route_h1")
        with open(self.routes, "w") as f:
            f.write("uvpn-route 1\nsession h1\nnetwork 100.97.0.0/16\n"
                    f"site a subnet=100.97.1.0/24 peer=127.0.0.1:{base} node=127.0.0.1:{base + 1}\n"
                    f"site b subnet=100.97.2.0/24 peer=127.0.0.2:{base + 10} node=127.0.0.2:{base + 11}\n")
        self.procs = {}
        self.logs = {}
        self.ctl = {"a": os.path.join(tmp, "ctl", "a.sock"), "b": os.path.join(tmp, "ctl", "b.sock")}

    def start(self, site):
        self.logs[site] = os.path.join(self.tmp, f"router-{site}.log")
        log = open(self.logs[site], "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        p = subprocess.Popen([self.bin, "--routes", self.routes, "--site", site, "--control", self.ctl[site],
                              "--log-level", "info", "--heartbeat-s", "1", "--connect-timeout-ms", "3000",
                              "--header-timeout-ms", str(HEADER_TIMEOUT_MS)], stdout=log, stderr=log, env=env)
        self.procs[site] = p
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(self.ctl[site]):
            time.sleep(0.02)
        return p

    def status(self, site):
        import json
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect(self.ctl[site])
        s.sendall(b"json\n")
        out = b""
        while True:
            c = s.recv(1 << 16)
            if not c:
                break
            out += c
        s.close()
        return json.loads(out)

    def alive(self):
        return all(p.poll() is None for p in self.procs.values())

    def fds(self, site):
        """(sockets, pipes, other) open in router `site`."""
        pid = self.procs[site].pid
        socks = pipes = other = 0
        d = f"/proc/{pid}/fd"
        for name in os.listdir(d):
            try:
                t = os.readlink(os.path.join(d, name))
            except OSError:
                continue
            if t.startswith("socket:"):
                socks += 1
            elif t.startswith("pipe:"):
                pipes += 1
            else:
                other += 1
        return socks, pipes, other

    def sanitizer_reports(self):
        found = []
        for site, path in self.logs.items():
            with open(path, "rb") as f:
                data = f.read()
            for m in SANITIZER_MARKS:
                if m in data:
                    i = data.index(m)
                    found.append(f"router {site}: {data[max(0, i - 200):i + 3000].decode(errors='replace')}")
                    break
        return found

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
    """A registered node that keeps heartbeating."""

    def __init__(self, real_ip, router_node):
        self.sock = tcp_from(real_ip, router_node)
        self.sock.sendall(w.register())
        hdr = recv_exact(self.sock, 8)
        ln = struct.unpack(">H", hdr[6:8])[0]
        self.reply = w.parse_register_reply(hdr + recv_exact(self.sock, ln - 8))
        self.vip = self.reply.get("vip")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)
        self.thread.start()

    def _beat(self):
        seq = 0
        while not self.stop.wait(0.3):
            seq += 1
            try:
                self.sock.sendall(w.heartbeat(seq))
                if len(recv_exact(self.sock, 16, 2)) != 16:
                    return
            except OSError:
                return

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


class Canary:
    """Legitimate traffic during the attacks: an echo server on node b (127.0.0.20), a long-lived relay from node
    a (127.0.0.10) that round-trips a message every 50 ms, and a new short relay every 200 ms."""

    def __init__(self, env, nb_vip):
        self.env, self.vip = env, nb_vip
        self.lst = listen("127.0.0.20")
        self.port = self.lst.getsockname()[1]
        self.stop = threading.Event()
        self.errors = []
        self.rounds = 0
        self.shorts = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._serve, self._long, self._short)]
        for t in self.threads:
            t.start()

    def _echo(self, c):
        try:
            c.settimeout(30)
            h = recv_exact(c, 32, 10)
            if len(h) != 32:
                return
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def _serve(self):
        self.lst.settimeout(0.2)
        while not self.stop.is_set():
            try:
                c, _ = self.lst.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    def _relay(self):
        s = tcp_from("127.0.0.10", self.env.a_node, nodelay=True)
        s.sendall(w.conn_header(self.vip, self.port))
        st = recv_exact(s, 16)
        if len(st) != 16 or w.parse_status(st) != 0:
            s.close()
            raise OSError(f"relay set-up failed: status {st!r}")
        return s

    def _fail(self, what):
        with self.lock:
            self.errors.append(f"{time.strftime('%H:%M:%S')} {what}")

    def _long(self):
        try:
            s = self._relay()
        except OSError as e:
            return self._fail(f"long relay: {e}")
        i = 0
        while not self.stop.wait(0.05):
            i += 1
            msg = struct.pack(">Q", i) * 64
            try:
                s.sendall(msg)
                got = recv_exact(s, len(msg), 5)
            except OSError as e:
                got = repr(e).encode()
            if got != msg:
                self._fail(f"long relay round {i}: got {len(got)} bytes")
                s.close()
                try:
                    s = self._relay()
                except OSError as e:
                    self._fail(f"long relay reopen: {e}")
                    time.sleep(0.5)
                continue
            self.rounds += 1
        s.close()

    def _short(self):
        while not self.stop.wait(0.2):
            try:
                s = self._relay()
                s.sendall(b"short!")
                ok = recv_exact(s, 6, 5) == b"short!"
                s.close()
                if not ok:
                    self._fail("short relay: no echo")
                else:
                    self.shorts += 1
            except OSError as e:
                self._fail(f"short relay: {e}")

    def take_errors(self):
        with self.lock:
            e, self.errors = self.errors, []
        return e

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(5)
        self.lst.close()



class FakePeer:
    """Plays router b on b's peer endpoint (router b stopped): answers router a's link with a HELLO and treats
    each leg-1 connection according to `mode`."""

    def __init__(self, env):
        self.env = env
        self.lst = listen(env.b_peer[0], env.b_peer[1])
        self.lst.settimeout(0.1)
        self.mode = "ok"
        self.stop = threading.Event()
        self.links = []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                c, _ = self.lst.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _conn(self, c):
        # The mode is the one in force when the leg's first message arrives, not at accept: router a dials
        # legs ahead of need (its leg pool), so a leg may be accepted long before a relay uses it.
        mode = None
        try:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            first = recv_exact(c, 8, 3)
            if len(first) < 8:
                return c.close()
            ln = struct.unpack(">H", first[6:8])[0]
            msg = first + recv_exact(c, ln - 8, 3)
            mode = self.mode
            if msg[4] == w.T_HELLO:
                c.sendall(hello(b"b", b"h1"))
                self.links.append(c)
                c.settimeout(0.5)
                while not self.stop.is_set():  # answer nothing but stay readable (heartbeats arrive)
                    try:
                        if not c.recv(4096):
                            break
                    except socket.timeout:
                        c.sendall(w.heartbeat(0))
                    except OSError:
                        break
                return c.close()
            if msg[4] == w.T_RESUME:
                # Outside the misbehaviour under test, speak the protocol: a peer that does not know the relay
                # (it holds no relays) says so, and router a resets the relay at once.
                relay_id, leg = struct.unpack(">Q", msg[8:16])[0], struct.unpack(">I", msg[28:32])[0]
                c.sendall(w.resume_ok(relay_id, 0, 5, leg))
                return c.close()
            if mode == "ok":
                c.sendall(status_msg(0))
            elif mode.startswith("err-"):
                c.sendall(status_msg(int(mode[4:])))
            elif mode == "bad-code":
                c.sendall(status_msg(99))
            elif mode == "bad-magic":
                c.sendall(b"XVP1" + status_msg(0)[4:])
            elif mode == "bad-type":
                c.sendall(w.heartbeat(0))
            elif mode == "split":
                for b in status_msg(0):
                    c.send(bytes([b]))
                    time.sleep(0.01)
            elif mode == "close":
                return c.close()
            elif mode == "rst":
                return rst_close(c)
            elif mode == "partial-close":
                c.sendall(status_msg(0)[:9])
                return c.close()
            elif mode == "silence":
                time.sleep(4.5)
                return c.close()
            elif mode == "ok-plus-data":
                c.sendall(status_msg(0) + b"banner!")
            elif mode == "ok-then-close":
                c.sendall(status_msg(0))
                return c.close()
            elif mode == "ok-then-rst":
                c.sendall(status_msg(0))
                time.sleep(0.1)
                return rst_close(c)
            # echo until EOF
            c.settimeout(5)
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
            c.close()
        except OSError:
            c.close()

    def close(self):
        self.stop.set()
        self.t.join(3)
        self.lst.close()
        for c in self.links:
            try:
                c.close()
            except OSError:
                pass
