"""Tests of the UDP hooks of libuvpn_shim.so (docs/shim.md "UDP", docs/protocol.md section 9) against the fake
router (fake_router.py: UDP_DATA datagrams to a vip in `udp_echo` come back as hop 2 with that vip as source;
`send_udp` injects datagrams from the router's socket).

Children are Python programs under LD_PRELOAD (vip 100.97.1.10, net 100.97.0.0/16, router on 127.0.0.1); sendmmsg
and recvmmsg are called through ctypes. Nothing leaves 127.0.0.1.
Usage: test_udp.py SHIM_PATH [unittest args...]
"""
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import unittest

from fake_router import FakeRouter

SHIM = None
PY = "/usr/bin/python3"

PRELUDE = textwrap.dedent("""
    import ctypes, errno, json, os, socket, struct, sys, time
    def out(**kw):
        print(json.dumps(kw), flush=True)
    PEER = ("100.97.2.20", 7)
""")


class UdpTest(unittest.TestCase):
    def setUp(self):
        self.router = FakeRouter()
        self.router.udp_echo = {"100.97.2.20"}

    def tearDown(self):
        self.router.close()

    def env(self, config=None):
        e = dict(os.environ)
        e["LD_PRELOAD"] = SHIM
        e["UVPN_SHIM_CONFIG"] = config if config is not None else self.router.config()
        e["UVPN_SHIM_LOG"] = "error"
        return e

    def py(self, body, env=None, timeout=30):
        p = subprocess.run([PY, "-c", PRELUDE + textwrap.dedent(body)], env=env or self.env(),
                           capture_output=True, text=True, timeout=timeout)
        self.assertEqual(p.returncode, 0, "child failed:\n" + p.stderr)
        r = {}
        for line in p.stdout.splitlines():
            if line.startswith("{"):
                r.update(json.loads(line))
        return r

    def spawn(self, body):
        """A child that prints JSON lines and reads commands from stdin (interactive tests)."""
        return subprocess.Popen([PY, "-c", PRELUDE + textwrap.dedent(body)], env=self.env(), text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class DatagramTests(UdpTest):
    def test_sendto_recvfrom_echo(self):
        r = self.py("""
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(3)
            res = []
            for n in (0, 1, 100, 1400, 9000, 65000):
                data = bytes((i * 7 + n) & 0xff for i in range(n))
                assert s.sendto(data, PEER) == n
                got, src = s.recvfrom(65536)
                res.append([n, got == data, list(src)])
            out(res=res)
        """)
        for n, same, src in r["res"]:
            self.assertTrue(same, n)
            self.assertEqual(src, ["100.97.2.20", 7])
        h, payload, real = self.router.datagrams[0]
        self.assertEqual(h["hop"], 0)
        self.assertEqual(h["dst"], ("100.97.2.20", 7))
        self.assertEqual(h["length"], 24)
        self.assertEqual(len(self.router.datagrams), 6)

    def test_too_large(self):
        r = self.py("""
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.sendto(b"x" * 65484, PEER); e = 0
            except OSError as ex:
                e = ex.errno
            out(e=e)
        """)
        self.assertEqual(r["e"], 90)  # EMSGSIZE
        self.assertEqual(self.router.datagrams, [])

    def test_connected(self):
        r = self.py("""
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(3)
            s.connect(PEER)
            peer = s.getpeername()
            s.send(b"one")
            a = s.recv(100)
            os.write(s.fileno(), b"two")
            import select
            select.select([s], [], [], 3)      # the socket is non-blocking (settimeout); os.read does not wait
            b = os.read(s.fileno(), 100)
            s.sendmsg([b"th", b"ree"])
            c = s.recv(2, socket.MSG_TRUNC)   # full size reported, 2 bytes copied
            s.close()
            out(peer=list(peer), a=a.decode(), b=b.decode(), c=c[:2].decode(), clen=len(c))
        """)
        self.assertEqual(r["peer"], ["100.97.2.20", 7])
        self.assertEqual(r["a"], "one")
        self.assertEqual(r["b"], "two")
        self.assertEqual((r["c"], r["clen"]), ("th", 5))  # Python sizes the result by the return value
        self.assertEqual([d[1] for d in self.router.datagrams], [b"one", b"two", b"three"])
        self.assertTrue(all(d[0]["dst"] == ("100.97.2.20", 7) for d in self.router.datagrams))

    def test_msg_and_truncation(self):
        r = self.py("""
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(3)
            s.sendmsg([b"hello ", b"world"], [], 0, PEER)
            a, b = bytearray(3), bytearray(20)
            n, anc, flags, src = s.recvmsg_into([a, b])
            s.sendto(b"0123456789", PEER)
            d, anc, flags2, src2 = s.recvmsg(4)
            out(n=n, data=(bytes(a) + bytes(b[:n - 3])).decode(), src=list(src), trunc=bool(flags & socket.MSG_TRUNC),
                d=d.decode(), trunc2=bool(flags2 & socket.MSG_TRUNC))
        """)
        self.assertEqual(r["n"], 11)
        self.assertEqual(r["data"], "hello world")
        self.assertEqual(r["src"], ["100.97.2.20", 7])
        self.assertFalse(r["trunc"])
        self.assertEqual(r["d"], "0123")
        self.assertTrue(r["trunc2"])

    def test_ipv6_mapped(self):
        r = self.py("""
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s.settimeout(3)
            s.sendto(b"six", ("::ffff:100.97.2.20", 7))
            d, src = s.recvfrom(100)
            c = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            c.settimeout(3)
            c.connect(("::ffff:100.97.2.20", 7))
            c.send(b"six2")
            d2 = c.recv(100)
            out(d=d.decode(), src=list(src[:2]), d2=d2.decode(), peer=list(c.getpeername()[:2]))
        """)
        self.assertEqual(r["d"], "six")
        self.assertEqual(r["src"], ["::ffff:100.97.2.20", 7])
        self.assertEqual(r["d2"], "six2")
        self.assertEqual(r["peer"], ["::ffff:100.97.2.20", 7])

    def test_mmsg(self):
        r = self.py("""
            libc = ctypes.CDLL(None, use_errno=True)
            class iovec(ctypes.Structure):
                _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
            class msghdr(ctypes.Structure):
                _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(iovec)),
                            ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                            ("flags", ctypes.c_int)]
            class mmsghdr(ctypes.Structure):
                _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
            def sa(ip, port):
                return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_aton(ip) + bytes(8)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            dst = ctypes.create_string_buffer(sa(*PEER), 16)
            payloads = [b"alpha", b"beta", b"gamma"]
            bufs = [ctypes.create_string_buffer(p, len(p)) for p in payloads]
            iovs = [iovec(ctypes.cast(b, ctypes.c_void_p), len(p)) for b, p in zip(bufs, payloads)]
            vec = (mmsghdr * 3)()
            for i in range(3):
                vec[i].hdr.name = ctypes.cast(dst, ctypes.c_void_p); vec[i].hdr.namelen = 16
                vec[i].hdr.iov = ctypes.pointer(iovs[i]); vec[i].hdr.iovlen = 1
            sent = libc.sendmmsg(s.fileno(), vec, 3, 0)
            time.sleep(0.5)
            rbufs = [ctypes.create_string_buffer(100) for _ in range(4)]
            names = [ctypes.create_string_buffer(16) for _ in range(4)]
            riovs = [iovec(ctypes.cast(b, ctypes.c_void_p), 100) for b in rbufs]
            rvec = (mmsghdr * 4)()
            for i in range(4):
                rvec[i].hdr.name = ctypes.cast(names[i], ctypes.c_void_p); rvec[i].hdr.namelen = 16
                rvec[i].hdr.iov = ctypes.pointer(riovs[i]); rvec[i].hdr.iovlen = 1
            got = libc.recvmmsg(s.fileno(), rvec, 4, 0, None)
            res = []
            for i in range(max(got, 0)):
                port = struct.unpack("!H", names[i].raw[2:4])[0]
                res.append([rbufs[i].raw[:rvec[i].len].decode(), socket.inet_ntoa(names[i].raw[4:8]), port])
            out(sent=sent, got=got, res=res)
        """)
        self.assertEqual(r["sent"], 3)
        self.assertEqual(r["got"], 3)
        self.assertEqual(r["res"], [["alpha", "100.97.2.20", 7], ["beta", "100.97.2.20", 7],
                                    ["gamma", "100.97.2.20", 7]])


class ReceiveTests(UdpTest):
    def test_server_sees_virtual_sources(self):
        p = self.spawn("""
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", 0))
            s.settimeout(5)
            out(port=s.getsockname()[1])
            res = []
            for _ in range(4):
                d, src = s.recvfrom(100)
                res.append([d.hex(), list(src)])
            s.sendto(b"reply", tuple(res[0][1]))   # reply to the virtual source, through the router
            out(res=res)
        """)
        port = json.loads(p.stdout.readline())["port"]
        self.router.udp_echo = set()
        to = ("127.0.0.1", port)
        self.router.send_udp(to, ("100.97.3.30", 4000), ("100.97.1.10", port), b"virtual")
        plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        plain.sendto(b"plain", to)
        time.sleep(0.1)
        self.router.send_udp(to, ("100.97.3.30", 4000), ("100.97.1.10", port), b"badlen", length=40)
        time.sleep(0.1)
        self.router.send_udp(to, ("100.97.3.30", 4000), ("100.97.1.10", port), b"hop1", hop=1)
        outp, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        res = json.loads(outp.splitlines()[-1])["res"]
        self.assertEqual(res[0], [b"virtual".hex(), ["100.97.3.30", 4000]])
        self.assertEqual(res[1], [b"plain".hex(), ["127.0.0.1", plain.getsockname()[1]]])
        # A header that does not match the datagram, or the wrong hop, is not ours: delivered untouched.
        self.assertEqual(len(bytes.fromhex(res[2][0])), 24 + 6)
        self.assertEqual(res[2][1], ["127.0.0.1", self.router.port])
        self.assertEqual(len(bytes.fromhex(res[3][0])), 24 + 4)
        plain.close()
        deadline = time.time() + 3
        while time.time() < deadline and not self.router.datagrams:
            time.sleep(0.05)
        h, payload, real = self.router.datagrams[0]
        self.assertEqual((h["dst"], payload, real[1]), (("100.97.3.30", 4000), b"reply", port))

    def test_connected_filters_other_sources(self):
        p = self.spawn("""
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect(("100.97.3.30", 4000))
            s.settimeout(5)
            out(port=s.getsockname()[1])
            out(got=s.recv(100).decode())
        """)
        port = json.loads(p.stdout.readline())["port"]
        to = ("127.0.0.1", port)
        self.router.send_udp(to, ("100.97.3.31", 4000), ("100.97.1.10", port), b"other host")
        self.router.send_udp(to, ("100.97.3.30", 4001), ("100.97.1.10", port), b"other port")
        self.router.send_udp(to, ("100.97.3.30", 4000), ("100.97.1.10", port), b"the peer")
        outp, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(json.loads(outp.splitlines()[-1])["got"], "the peer")

    def test_no_config_pass_through(self):
        r = self.py("""
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.sendto(b"x", PEER); e = 0
            except OSError as ex:
                e = ex.errno
            out(e=e)
        """, env=self.env(config=""))
        time.sleep(0.2)
        self.assertEqual(self.router.datagrams, [])

    def test_read_write_on_other_fds(self):
        r = self.py("""
            rfd, wfd = os.pipe()
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.connect(PEER)
            u.close()
            r2, w2 = os.pipe()     # likely reuses the closed socket's fd number
            os.write(w2, b"pipe data")
            out(d=os.read(r2, 100).decode())
        """)
        self.assertEqual(r["d"], "pipe data")


if __name__ == "__main__":
    SHIM = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
