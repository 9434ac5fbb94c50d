"""Tests of libuvpn_shim.so against a fake router on loopback (see fake_router.py and docs/shim.md).

Each test starts a child /usr/bin/python3 under LD_PRELOAD with UVPN_SHIM_CONFIG pointing at the fake router
(net 100.97.0.0/16, vip 100.97.1.10, real 127.0.0.1). The child prints one JSON line of observations; the test
asserts on them. Nothing leaves 127.0.0.1: virtual addresses are only ever handed to the shim, which diverts them.
Usage: test_shim.py SHIM_PATH [unittest args...]
"""
import errno
import json
import os
import shutil
import socket
import subprocess
import tempfile
import sys
import textwrap
import threading
import time
import unittest

from fake_router import FakeRouter, recv_exact

SHIM = None
PY = "/usr/bin/python3"

PRELUDE = textwrap.dedent("""
    import errno, json, os, select, socket, struct, sys, time, ctypes, fcntl
    def out(**kw):
        print(json.dumps(kw), flush=True)
""")


class ShimTest(unittest.TestCase):
    def setUp(self):
        self.router = FakeRouter()
        self.router.route("100.97.2.20", "ok")
        self.router.route("100.97.2.21", "refuse")
        self.router.route("100.97.2.22", "unreach")
        self.router.route("100.97.2.30", "slow_ok", 0.3)
        self.router.route("100.97.2.31", "slow_refuse", 0.3)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.router.close()

    def env(self, config=None, **extra):
        e = dict(os.environ)
        e["LD_PRELOAD"] = SHIM
        e["UVPN_SHIM_CONFIG"] = config if config is not None else self.router.config()
        e.setdefault("UVPN_SHIM_LOG", "warn")
        e.update(extra)
        return e

    def spawn(self, body, env=None):
        p = subprocess.Popen([PY, "-c", PRELUDE + textwrap.dedent(body)], env=env or self.env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=())
        self.procs.append(p)
        return p

    def run_child(self, body, env=None, timeout=15):
        p = self.spawn(body, env)
        out, err = p.communicate(timeout=timeout)
        self.assertEqual(p.returncode, 0, "child failed:\n" + err)
        lines = [l for l in out.splitlines() if l.startswith("{")]
        self.assertTrue(lines, "no output; stderr:\n" + err)
        return json.loads(lines[-1])

    def read_line(self, p, timeout=10):
        result = []
        t = threading.Thread(target=lambda: result.append(p.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not (result and result[0]):
            p.kill()
            self.fail("child printed nothing; stderr: " + p.communicate()[1])
        return json.loads(result[0])

    def finish(self, p, timeout=15):
        out, err = p.communicate(timeout=timeout)
        self.assertEqual(p.returncode, 0, "child failed:\n" + err)
        return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])


class ConnectTests(ShimTest):
    def test_blocking_ok_data_and_names(self):
        r = self.run_child("""
            s = socket.socket()
            s.connect(("100.97.2.20", 80))
            s.sendall(b"ping")
            data = s.recv(4)
            out(data=data.decode(), peer=s.getpeername(), name=s.getsockname())
        """)
        self.assertEqual(r["data"], "ping")
        self.assertEqual(r["peer"], ["100.97.2.20", 80])
        h = self.router.headers[0]
        self.assertEqual(h["hop"], 0)
        self.assertEqual(h["flags"], 1)  # WANT_STATUS
        self.assertEqual(h["dst"], ("100.97.2.20", 80))
        self.assertEqual(r["name"], ["100.97.1.10", h["real"][1]])  # virtual source port = real local port

    def test_blocking_refused(self):
        r = self.run_child("""
            s = socket.socket()
            out(err=s.connect_ex(("100.97.2.21", 80)))
        """)
        self.assertEqual(r["err"], errno.ECONNREFUSED)

    def test_blocking_unreach(self):
        r = self.run_child("""
            s = socket.socket()
            out(err=s.connect_ex(("100.97.2.22", 80)), err2=socket.socket().connect_ex(("100.97.99.1", 80)))
        """)
        self.assertEqual(r["err"], errno.EHOSTUNREACH)
        self.assertEqual(r["err2"], errno.EHOSTUNREACH)  # no route configured: the router answers unreach

    def test_router_down_is_enetunreach(self):
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        port = dead.getsockname()[1]
        dead.close()  # nothing listens there now
        for blocking in (True, False):
            r = self.run_child("""
                s = socket.socket()
                s.setblocking(%s)
                out(err=s.connect_ex(("100.97.2.20", 80)))
            """ % blocking, env=self.env(self.router.config(port=port)))
            self.assertEqual(r["err"], errno.ENETUNREACH)

    def test_nonblocking_ok(self):
        r = self.run_child("""
            s = socket.socket()
            s.setblocking(False)
            t0 = time.monotonic()
            e1 = s.connect_ex(("100.97.2.30", 81))
            t1 = time.monotonic() - t0
            _, w, _ = select.select([], [s], [], 5)
            soerr = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            soerr2 = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            e2 = s.connect_ex(("100.97.2.30", 81))
            e3 = s.connect_ex(("100.97.2.30", 81))
            s.setblocking(True)
            s.sendall(b"abc")
            out(e1=e1, t1=t1, writable=bool(w), soerr=soerr, soerr2=soerr2, e2=e2, e3=e3, data=s.recv(3).decode(),
                peer=s.getpeername())
        """)
        self.assertEqual(r["e1"], errno.EINPROGRESS)
        self.assertLess(r["t1"], 0.2)  # never waits for the (slow) path
        self.assertTrue(r["writable"])
        self.assertEqual(r["soerr"], 0)
        self.assertEqual(r["soerr2"], 0)
        self.assertEqual(r["e2"], 0)
        self.assertEqual(r["e3"], errno.EISCONN)
        self.assertEqual(r["data"], "abc")
        self.assertEqual(r["peer"], ["100.97.2.30", 81])
        self.assertEqual(self.router.headers[0]["flags"], 0)  # no WANT_STATUS
        self.assertGreater(self.router.lookups, 0)

    def test_nonblocking_refused(self):
        r = self.run_child("""
            s = socket.socket()
            s.setblocking(False)
            e1 = s.connect_ex(("100.97.2.31", 81))
            select.select([], [s], [], 5)
            out(e1=e1, soerr=s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
                soerr2=s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
        """)
        self.assertEqual(r["e1"], errno.EINPROGRESS)
        self.assertEqual(r["soerr"], errno.ECONNREFUSED)
        self.assertEqual(r["soerr2"], 0)
        self.assertGreater(self.router.lookups, 0)

    def test_nonblocking_second_connect_waits(self):
        r = self.run_child("""
            s = socket.socket()
            s.setblocking(False)
            e1 = s.connect_ex(("100.97.2.31", 81))
            e2 = s.connect_ex(("100.97.2.31", 81))
            t = socket.socket(); t.setblocking(False)
            f1 = t.connect_ex(("100.97.2.30", 81))
            f2 = t.connect_ex(("100.97.2.30", 81))
            f3 = t.connect_ex(("100.97.2.30", 81))
            out(e1=e1, e2=e2, f1=f1, f2=f2, f3=f3)
        """)
        self.assertEqual(r["e1"], errno.EINPROGRESS)
        self.assertEqual(r["e2"], errno.ECONNREFUSED)
        self.assertEqual([r["f1"], r["f2"], r["f3"]], [errno.EINPROGRESS, 0, errno.EISCONN])

    def test_blocking_eintr_then_finish(self):
        # A signal during the STATUS wait: connect sees EINTR; Python (PEP 475) then polls for writability and
        # reads SO_ERROR, which must fetch the STATUS still owed in the stream (not leave it for recv).
        r = self.run_child("""
            import signal
            hits = []
            signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            s = socket.socket()
            s.connect(("100.97.2.30", 82))
            s.sendall(b"xyz")
            ok = s.recv(3).decode()
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            t = socket.socket()
            err = t.connect_ex(("100.97.2.31", 82))
            out(hits=len(hits), ok=ok, err=err)
        """)
        self.assertEqual(r["hits"], 2)
        self.assertEqual(r["ok"], "xyz")
        self.assertEqual(r["err"], errno.ECONNREFUSED)

    def test_threads_and_fork(self):
        # 8 threads x 16 connections, half non-blocking (SO_ERROR through LOOKUP), then a forked child connects.
        r = self.run_child("""
            import threading
            results = []
            def worker(i):
                for k in range(16):
                    s = socket.socket()
                    if k % 2:
                        s.setblocking(False)
                        e1 = s.connect_ex(("100.97.2.20", 1000 + i))
                        select.select([], [s], [], 5)
                        e2 = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if e1 == errno.EINPROGRESS else -1
                        s.setblocking(True)
                    else:
                        e2 = s.connect_ex(("100.97.2.20", 1000 + i))
                    msg = b"t%d-%d" % (i, k)
                    s.sendall(msg)
                    got = s.recv(100)
                    results.append((e2, got == msg, s.getpeername()[1] == 1000 + i))
                    s.close()
            ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
            [t.start() for t in ts]
            [t.join() for t in ts]
            pid = os.fork()
            if pid == 0:
                s = socket.socket()
                rc = s.connect_ex(("100.97.2.20", 7))
                s.sendall(b"f")
                os._exit(0 if rc == 0 and s.recv(1) == b"f" and s.getpeername() == ("100.97.2.20", 7) else 1)
            _, st = os.waitpid(pid, 0)
            out(n=len(results), bad=[x for x in results if x != (0, True, True)], child=st)
        """, timeout=60)
        self.assertEqual(r["n"], 128)
        self.assertEqual(r["bad"], [])
        self.assertEqual(r["child"], 0)

    def test_ipv6_mapped(self):
        r = self.run_child("""
            s = socket.socket(socket.AF_INET6)
            s.connect(("::ffff:100.97.2.20", 443))
            s.sendall(b"v6")
            out(data=s.recv(2).decode(), peer=s.getpeername()[:2], name=s.getsockname()[0])
        """)
        self.assertEqual(r["data"], "v6")
        self.assertEqual(r["peer"], ["::ffff:100.97.2.20", 443])
        self.assertEqual(r["name"], "::ffff:100.97.1.10")


class AcceptTests(ShimTest):
    LISTEN = """
        l = socket.socket()
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind(("127.0.0.1", 0))
        l.listen(8)
        out(port=l.getsockname()[1])
    """

    def spawn_listener(self, body):
        return self.spawn(textwrap.dedent(self.LISTEN) + textwrap.dedent(body))

    def test_accept_consumes_header(self):
        p = self.spawn_listener("""
            c, a = l.accept()
            out(addr=a, data=c.recv(100).decode(), peer=c.getpeername(), name=c.getsockname())
        """)
        port = self.read_line(p)["port"]
        d = self.router.dial(port, ("100.97.2.20", 5555), ("100.97.1.10", 8080), b"hello")
        r = self.finish(p)
        d.close()
        self.assertEqual(r["addr"], ["100.97.2.20", 5555])
        self.assertEqual(r["data"], "hello")
        self.assertEqual(r["peer"], ["100.97.2.20", 5555])
        self.assertEqual(r["name"], ["100.97.1.10", 8080])

    def test_accept4_nonblock_and_truncation(self):
        p = self.spawn_listener("""
            libc = ctypes.CDLL(None, use_errno=True)
            buf = ctypes.create_string_buffer(16)
            ln = ctypes.c_uint32(16)
            fd = libc.accept4(l.fileno(), buf, ctypes.byref(ln), socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
            fam, pport = struct.unpack("=HH", buf.raw[:4])
            nb = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK)
            ce = bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
            time.sleep(0.1)
            data = os.read(fd, 100)
            buf2 = ctypes.create_string_buffer(b"\\xaa" * 16, 16)
            ln2 = ctypes.c_uint32(6)
            r2 = libc.getpeername(fd, buf2, ctypes.byref(ln2))
            out(fd=fd, len=ln.value, addr=socket.inet_ntoa(buf.raw[4:8]), port=socket.ntohs(pport), nb=nb, ce=ce,
                data=data.decode(), r2=r2, len2=ln2.value, raw2=buf2.raw.hex())
        """)
        port = self.read_line(p)["port"]
        d = self.router.dial(port, ("100.97.2.21", 6000), ("100.97.1.10", port), b"x1")
        r = self.finish(p)
        d.close()
        self.assertGreaterEqual(r["fd"], 0)
        self.assertEqual(r["len"], 16)
        self.assertEqual((r["addr"], r["port"]), ("100.97.2.21", 6000))
        self.assertTrue(r["nb"])
        self.assertTrue(r["ce"])
        self.assertEqual(r["data"], "x1")
        # truncation: 6 bytes copied (family, port, 2 bytes of the address), full length reported
        self.assertEqual(r["r2"], 0)
        self.assertEqual(r["len2"], 16)
        self.assertEqual(r["raw2"][4:12], "1770" + "6461")  # port 6000, 100.97
        self.assertEqual(r["raw2"][12:], "aa" * 10)

    def test_accept_ipv6_listener(self):
        p = self.spawn("""
            l = socket.socket(socket.AF_INET6)
            l.bind(("::", 0))
            l.listen(4)
            out(port=l.getsockname()[1])
            c, a = l.accept()
            out(addr=a[:2], data=c.recv(10).decode(), name=c.getsockname()[:2])
        """)
        port = self.read_line(p)["port"]
        d = self.router.dial(port, ("100.97.2.20", 7000), ("100.97.1.10", 9000), b"six")
        r = self.finish(p)
        d.close()
        self.assertEqual(r["addr"], ["::ffff:100.97.2.20", 7000])
        self.assertEqual(r["data"], "six")
        self.assertEqual(r["name"], ["::ffff:100.97.1.10", 9000])

    def test_accept_non_header_untouched(self):
        p = self.spawn_listener("""
            res = []
            for i in range(2):
                t0 = time.monotonic()
                c, a = l.accept()
                res.append(dict(dt=time.monotonic() - t0, data=c.recv(100).decode(), port=a[1],
                                peer=c.getpeername()))
                c.close()
            out(res=res)
        """)
        port = self.read_line(p)["port"]
        a = socket.create_connection(("127.0.0.1", port))
        a.sendall(b"GET / HTTP/1.0\r\n\r\n")
        time.sleep(0.2)
        b = socket.create_connection(("127.0.0.1", port))  # says nothing for a while
        time.sleep(2.5)
        b.sendall(b"late")
        r = self.finish(p)
        self.assertEqual(r["res"][0]["data"], "GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(r["res"][0]["port"], a.getsockname()[1])
        self.assertEqual(r["res"][0]["peer"], ["127.0.0.1", a.getsockname()[1]])
        self.assertEqual(r["res"][1]["data"], "late")  # bytes untouched
        self.assertLess(r["res"][1]["dt"], 1.0)  # silent peer unknown to the router: no 2 s header wait
        self.assertEqual(r["res"][1]["peer"], ["127.0.0.1", b.getsockname()[1]])
        a.close()
        b.close()

    def test_getpeername_after_execve(self):
        p = self.spawn_listener("""
            c, a = l.accept()
            os.set_inheritable(c.fileno(), True)
            code = ("import socket,json,sys; fd=int(sys.argv[1]); s=socket.socket(fileno=fd); "
                    "print(json.dumps(dict(peer=s.getpeername(), name=s.getsockname(), data=s.recv(10).decode())), flush=True)")
            os.execv(sys.executable, [sys.executable, "-c", code, str(c.fileno())])
        """)
        port = self.read_line(p)["port"]
        before = self.router.lookups
        d = self.router.dial(port, ("100.97.2.20", 2222), ("100.97.1.10", 22), b"")
        time.sleep(0.3)
        d.sendall(b"after")
        r = self.finish(p)
        d.close()
        self.assertEqual(r["peer"], ["100.97.2.20", 2222])
        self.assertEqual(r["name"], ["100.97.1.10", 22])
        self.assertEqual(r["data"], "after")
        self.assertGreater(self.router.lookups, before)

    def test_client_names_after_execve(self):
        r = self.run_child("""
            s = socket.socket()
            s.connect(("100.97.2.20", 80))
            t = socket.socket()
            t.setblocking(False)
            e1 = t.connect_ex(("100.97.2.30", 81))  # pending across execve
            os.set_inheritable(s.fileno(), True)
            os.set_inheritable(t.fileno(), True)
            code = ("import socket,json,sys; s=socket.socket(fileno=int(sys.argv[1])); t=socket.socket(fileno=int(sys.argv[2])); "
                    "c2=t.connect_ex(('100.97.2.30', 81)); c3=t.connect_ex(('100.97.2.30', 81)); "
                    "print(json.dumps(dict(peer=s.getpeername(), name=s.getsockname(), e1=int(sys.argv[3]), "
                    "c2=c2, c3=c3, tpeer=t.getpeername())), flush=True)")
            os.execv(sys.executable, [sys.executable, "-c", code, str(s.fileno()), str(t.fileno()), str(e1)])
        """)
        self.assertEqual(r["peer"], ["100.97.2.20", 80])
        self.assertEqual(r["name"][0], "100.97.1.10")
        self.assertEqual([r["e1"], r["c2"], r["c3"]], [errno.EINPROGRESS, 0, errno.EISCONN])
        self.assertEqual(r["tpeer"], ["100.97.2.30", 81])


class BindAndPassThroughTests(ShimTest):
    def test_bind_vip(self):
        p = self.spawn("""
            l = socket.socket()
            l.bind(("100.97.1.10", 0))
            l.listen(4)
            out(name=l.getsockname())
            c, a = l.accept()
            out(addr=a, name=c.getsockname(), data=c.recv(10).decode(), lname=l.getsockname())
        """)
        name = self.read_line(p)["name"]
        self.assertEqual(name[0], "100.97.1.10")
        self.assertGreater(name[1], 0)
        d = self.router.dial(name[1], ("100.97.2.20", 4444), ("100.97.1.10", name[1]), b"bound")
        r = self.finish(p)
        d.close()
        self.assertEqual(r["addr"], ["100.97.2.20", 4444])
        self.assertEqual(r["name"], ["100.97.1.10", name[1]])
        self.assertEqual(r["lname"], ["100.97.1.10", name[1]])
        self.assertEqual(r["data"], "bound")

    def test_bind_other_virtual_fails(self):
        r = self.run_child("""
            l = socket.socket()
            try:
                l.bind(("100.97.1.11", 0)); err = 0
            except OSError as e:
                err = e.errno
            w = socket.socket(); w.bind(("0.0.0.0", 0))
            out(err=err, wild=w.getsockname()[0])
        """)
        self.assertEqual(r["err"], errno.EADDRNOTAVAIL)
        self.assertEqual(r["wild"], "0.0.0.0")

    def echo_server(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        srv.settimeout(10)

        def serve():
            try:
                c, _ = srv.accept()
                c.sendall(c.recv(100))
                c.close()
            except OSError:
                pass
        threading.Thread(target=serve, daemon=True).start()
        return srv

    def test_non_virtual_untouched(self):
        srv = self.echo_server()
        port = srv.getsockname()[1]
        r = self.run_child("""
            s = socket.socket()
            s.connect(("127.0.0.1", %d))
            s.sendall(b"plain")
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.connect(("100.97.2.20", 9)); upeer = u.getpeername()
            except OSError as e:
                upeer = e.errno
            out(data=s.recv(10).decode(), peer=s.getpeername(), name=s.getsockname(), upeer=upeer)
        """ % port)
        srv.close()
        self.assertEqual(r["data"], "plain")
        self.assertEqual(r["peer"], ["127.0.0.1", port])
        self.assertEqual(r["name"][0], "127.0.0.1")
        self.assertIn(r["upeer"], (["100.97.2.20", 9], errno.ENETUNREACH))
        self.assertEqual(self.router.headers, [])

    def test_no_config_pass_through(self):
        srv = self.echo_server()
        port = srv.getsockname()[1]
        for cfg in ("", "v2 garbage"):
            r = self.run_child("""
                s = socket.socket()
                s.connect(("127.0.0.1", %d))
                b = socket.socket(); b.bind(("127.0.0.1", 0))
                out(peer=s.getpeername(), name=b.getsockname()[0])
            """ % port, env=self.env(cfg))
            self.assertEqual(r["peer"], ["127.0.0.1", port])
            self.assertEqual(r["name"], "127.0.0.1")
            srv.close()
            srv = self.echo_server()
            port = srv.getsockname()[1]
        srv.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@unittest.skipUnless(shutil.which("redis-server") and shutil.which("socat"), "redis-server/socat not installed")
class RealProgramTests(ShimTest):
    """Unmodified programs: redis-cli (hiredis: non-blocking connect, poll, connect again, SO_ERROR), redis-server
    (accept of a relayed connection, CLIENT LIST shows the virtual peer), socat (blocking and timed connect)."""

    def start_redis(self, *args, env=None):
        port = free_port()
        p = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                              "--protected-mode", "no", *args], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return port
            except OSError:
                time.sleep(0.05)
        self.fail("redis-server did not start")

    def test_redis_cli_through_overlay(self):
        port = self.start_redis("--bind", "127.0.0.1")
        self.router.route("100.97.2.40", "forward", port)
        self.router.route("100.97.2.41", "forward", free_port())
        out = subprocess.run(["redis-cli", "-h", "100.97.2.40", "-p", "6379", "ping"], env=self.env(),
                             capture_output=True, text=True, timeout=15)
        self.assertEqual(out.stdout.strip(), "PONG", out.stderr)
        out = subprocess.run(["redis-cli", "-h", "100.97.2.41", "-p", "6379", "ping"], env=self.env(),
                             capture_output=True, text=True, timeout=15)
        self.assertIn("Connection refused", out.stdout + out.stderr)

    def test_redis_server_sees_virtual_peer(self):
        port = self.start_redis("--bind", "100.97.1.10", env=self.env())
        d = self.router.dial(port, ("100.97.2.20", 5555), ("100.97.1.10", port), b"CLIENT LIST\r\n")
        reply = b""
        d.settimeout(5)
        while not reply.endswith(b"\r\n") or reply.count(b"\r\n") < 2:
            chunk = d.recv(4096)
            if not chunk:
                break
            reply += chunk
        d.close()
        self.assertIn(b"addr=100.97.2.20:5555", reply)
        self.assertIn(b"laddr=100.97.1.10:%d" % port, reply)

    @unittest.skipUnless(os.path.exists("/usr/sbin/sshd") and shutil.which("ssh-keygen") and os.geteuid() == 0
                         and os.path.isdir("/run/sshd"), "needs root, sshd and /run/sshd")
    def test_sshd_reexec_sees_virtual_peer(self):
        # sshd accepts, forks and re-executes itself (-R) with the socket as a plain fd: the new image has an
        # empty cache, so its getpeername must be answered by the router (LOOKUP).
        tmp = tempfile.mkdtemp(prefix="uvpn-shim-sshd-")
        try:
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp + "/hk"], check=True)
            port = free_port()
            p = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", "/dev/null", "-p", str(port), "-h", tmp + "/hk",
                                  "-o", "ListenAddress=100.97.1.10", "-o", "LogLevel=VERBOSE", "-o", "PidFile=none",
                                  "-E", tmp + "/log"], env=self.env())
            self.procs.append(p)
            time.sleep(0.5)
            d = self.router.dial(port, ("100.97.2.20", 5555), ("100.97.1.10", port), b"SSH-2.0-uvpntest\r\n")
            d.settimeout(5)
            banner = d.recv(100)
            time.sleep(0.3)
            d.close()
            p.terminate()
            p.wait(5)
            with open(tmp + "/log") as f:
                log = f.read()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertTrue(banner.startswith(b"SSH-2.0-"), banner)
        self.assertIn("Server listening on 100.97.1.10 port %d" % port, log)
        self.assertIn("Connection from 100.97.2.20 port 5555 on 100.97.1.10 port %d" % port, log)
        self.assertGreater(self.router.lookups, 0)

    def test_socat(self):
        for target in ("TCP:100.97.2.20:80", "TCP:100.97.2.30:80,connect-timeout=5"):
            out = subprocess.run(["socat", "-t", "2", "-", target], input="hello\n", env=self.env(),
                                 capture_output=True, text=True, timeout=15)
            self.assertEqual(out.stdout, "hello\n", target + ": " + out.stderr)
        out = subprocess.run(["socat", "-", "TCP:100.97.2.21:80"], input="x", env=self.env(),
                             capture_output=True, text=True, timeout=15)
        self.assertIn("Connection refused", out.stderr)


if __name__ == "__main__":
    SHIM = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
