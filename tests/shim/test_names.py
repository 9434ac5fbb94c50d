"""Tests of the host-name and interface hooks of libuvpn_shim.so (docs/shim.md "Host names", "Virtual interface")
against the fake router (fake_router.py answers RESOLVE / RESOLVE_ADDR from its `names`).

Children run under LD_PRELOAD with UVPN_SHIM_CONFIG naming the node "alpha-10" (vip 100.97.1.10, net
100.97.0.0/16): Python programs for the resolver calls Python makes, and names_probe.c (compiled here with cc) for
the hostent, gethostname/uname and interface calls. Nothing leaves 127.0.0.1, and no query ever reaches DNS: the
only names that fall through to the system resolver are ones /etc/hosts answers (localhost, or a name taken from
/etc/hosts), and virtual addresses never fall through.
Usage: test_names.py SHIM_PATH [unittest args...]
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from fake_router import FakeRouter

SHIM = None
PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = None  # compiled names_probe

PRELUDE = textwrap.dedent("""
    import errno, json, os, socket, sys, time, threading
    def out(**kw):
        print(json.dumps(kw), flush=True)
""")


def hosts_file_name():
    """A name /etc/hosts maps to an IPv4 address (not localhost), or None."""
    try:
        with open("/etc/hosts") as f:
            for line in f:
                fields = line.split("#")[0].split()
                if len(fields) < 2 or ":" in fields[0]:
                    continue
                for name in fields[1:]:
                    if "localhost" not in name and name.replace("-", "").replace(".", "").isalnum():
                        return name, fields[0]
    except OSError:
        pass
    return None


def setUpModule():
    global PROBE
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise unittest.SkipTest("no C compiler for names_probe.c")
    d = tempfile.mkdtemp(prefix="uvpn-names-probe-")
    PROBE = os.path.join(d, "names_probe")
    subprocess.run([cc, "-O1", "-Wall", "-o", PROBE, os.path.join(HERE, "names_probe.c")], check=True)


class NamesTest(unittest.TestCase):
    def setUp(self):
        self.router = FakeRouter()
        self.router.names = {"beta-20": "100.97.2.20", "Gamma.Example": "100.97.3.30"}

    def tearDown(self):
        self.router.close()

    def env(self, config=None, **extra):
        e = dict(os.environ)
        e["LD_PRELOAD"] = SHIM
        e["UVPN_SHIM_CONFIG"] = config if config is not None else self.router.config(name="alpha-10")
        e.setdefault("UVPN_SHIM_LOG", "error")
        e.update(extra)
        return e

    def py(self, body, env=None, timeout=30):
        """Runs body in a child; returns the union of the JSON lines it printed."""
        p = subprocess.run([PY, "-c", PRELUDE + textwrap.dedent(body)], env=env or self.env(),
                           capture_output=True, text=True, timeout=timeout)
        self.assertEqual(p.returncode, 0, "child failed:\n" + p.stderr)
        r = {}
        for line in p.stdout.splitlines():
            if line.startswith("{"):
                r.update(json.loads(line))
        return r

    def probe(self, *args, env=None):
        p = subprocess.run([PROBE] + list(args), env=env or self.env(), capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        lines = {}
        for line in p.stdout.splitlines():
            key, _, rest = line.partition(" ")
            lines.setdefault(key, []).append(rest)
        return lines


class NameTests(NamesTest):
    def test_self_name(self):
        r = self.probe("hostname")
        self.assertEqual(r["gethostname"], ["rc=0 name=alpha-10"])
        self.assertEqual(r["gethostname_small"], ["rc=-1 errno=File name too long"])
        self.assertTrue(r["uname"][0].startswith("rc=0 nodename=alpha-10 sysname=Linux"), r["uname"])
        r = self.py("""
            out(host=socket.gethostname(), node=os.uname().nodename, me=socket.gethostbyname(socket.gethostname()),
                rev=socket.gethostbyaddr("100.97.1.10")[0])
        """)
        self.assertEqual(r, dict(host="alpha-10", node="alpha-10", me="100.97.1.10", rev="alpha-10"))
        self.assertEqual(self.router.resolves, 0)  # the node's own name never needs the router

    def test_forward_results(self):
        r = self.py("""
            def gai(name, fam=0, flags=0):
                return [(a[0].name, a[1].name, a[3], a[4][0], a[4][1])
                        for a in socket.getaddrinfo(name, "http", fam, socket.SOCK_STREAM, 0, flags)]
            out(plain=gai("beta-20"), canon=gai("BETA-20.", socket.AF_INET, socket.AI_CANONNAME),
                v6=gai("beta-20", socket.AF_INET6, socket.AI_V4MAPPED),
                dots=gai("gamma.example", flags=socket.AI_CANONNAME | socket.AI_ADDRCONFIG),
                byname=socket.gethostbyname("beta-20"), ex=socket.gethostbyname_ex("gamma.example"),
                udp=len(socket.getaddrinfo("beta-20", 53)))
            try:
                socket.getaddrinfo("beta-20", 80, socket.AF_INET6)
            except socket.gaierror as e:
                print(json.dumps(dict(v6_plain=e.errno)), flush=True)
        """)
        self.assertEqual(r["plain"], [["AF_INET", "SOCK_STREAM", "", "100.97.2.20", 80]])
        self.assertEqual(r["canon"], [["AF_INET", "SOCK_STREAM", "beta-20", "100.97.2.20", 80]])
        self.assertEqual(r["v6"], [["AF_INET6", "SOCK_STREAM", "", "::ffff:100.97.2.20", 80]])
        self.assertEqual(r["dots"], [["AF_INET", "SOCK_STREAM", "Gamma.Example", "100.97.3.30", 80]])
        self.assertEqual(r["byname"], "100.97.2.20")
        self.assertEqual(r["ex"], ["Gamma.Example", [], ["100.97.3.30"]])
        self.assertEqual(r["v6_plain"], socket.EAI_NONAME)
        self.assertEqual(r["udp"], 3)  # no socket type: STREAM, DGRAM and RAW, as glibc answers numeric hosts
        # Cached: one query per distinct name (beta-20 and BETA-20. share the lower-cased key).
        self.assertEqual(self.router.resolves, 2)

    def test_reverse(self):
        r = self.py("""
            res = dict(rev=socket.gethostbyaddr("100.97.2.20"),
                       ni=socket.getnameinfo(("100.97.2.20", 22), 0),
                       ni6=socket.getnameinfo(("::ffff:100.97.3.30", 80, 0, 0), 0),
                       numeric=socket.getnameinfo(("100.97.2.20", 22), socket.NI_NUMERICHOST),
                       unknown_ni=socket.getnameinfo(("100.97.2.99", 22), socket.NI_NUMERICSERV))
            try:
                socket.gethostbyaddr("100.97.2.99")
            except socket.herror as e:
                res["unknown"] = e.errno
            try:
                socket.getnameinfo(("100.97.2.99", 22), socket.NI_NAMEREQD)
            except socket.gaierror as e:
                res["namereqd"] = e.errno
            out(**res)
        """)
        self.assertEqual(r["rev"], ["beta-20", [], ["100.97.2.20"]])
        self.assertEqual(r["ni"], ["beta-20", "ssh"])
        self.assertEqual(r["ni6"], ["Gamma.Example", "http"])
        self.assertEqual(r["numeric"], ["100.97.2.20", "ssh"])
        self.assertEqual(r["unknown_ni"], ["100.97.2.99", "22"])
        self.assertEqual(r["unknown"], 1)  # HOST_NOT_FOUND: the overlay is the authority, DNS is not asked
        self.assertEqual(r["namereqd"], socket.EAI_NONAME)

    def test_hostent_calls(self):
        r = self.probe("hostent", "beta-20")
        want = "name=beta-20 af=2 len=4 addr=100.97.2.20 aliases=0"
        for k in ("gethostbyname", "gethostbyname2_inet", "gethostbyname_r_result", "gethostbyname2_r_inet"):
            self.assertEqual(r[k], [want], k)
        self.assertEqual(r["gethostbyname2_inet6"], ["null h_errno=4"])  # NO_DATA: getent then asks AF_INET
        self.assertEqual(r["gethostbyname_r"], ["rc=0 herr=0"])
        self.assertEqual(r["gethostbyname_r_small"], ["rc=34 null=1"])  # ERANGE
        self.assertEqual(r["gethostbyname2_r_inet6"], ["rc=0 null=1 herr=4"])
        r = self.probe("addr", "100.97.2.20")
        self.assertEqual(r["gethostbyaddr"], [want])
        self.assertEqual(r["gethostbyaddr6"], ["name=beta-20 af=10 len=16 addr=::ffff:100.97.2.20 aliases=0"])
        self.assertEqual(r["gethostbyaddr_r_result"], [want])
        self.assertEqual(r["getnameinfo"], ["rc=0 host=beta-20 serv=ssh"])
        self.assertEqual(r["getnameinfo_small"], ["rc=%d" % socket.EAI_OVERFLOW])
        r = self.probe("addr", "100.97.2.98")
        self.assertEqual(r["gethostbyaddr"], ["null h_errno=1"])
        self.assertEqual(r["getnameinfo"], ["rc=0 host=100.97.2.98 serv=ssh"])

    def test_other_names_fall_through(self):
        hosts = hosts_file_name()
        r = self.py("""
            hosts = %r
            res = dict(local=socket.gethostbyname("localhost"), numeric=socket.getaddrinfo("127.0.0.1", 80)[0][4][0],
                       outside=socket.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICSERV)[1])
            if hosts:
                res["hosts"] = [socket.gethostbyname(hosts[0]), socket.gethostbyname(hosts[0])]
            out(**res)
        """ % (hosts,))
        self.assertEqual(r["local"], "127.0.0.1")
        self.assertEqual(r["numeric"], "127.0.0.1")
        if hosts:
            self.assertEqual(r["hosts"], [hosts[1], hosts[1]])
            self.assertEqual(self.router.resolves, 1)  # asked once, "not found" cached
        else:
            self.assertEqual(self.router.resolves, 0)  # localhost and numbers are never asked

    def test_silent_or_absent_router(self):
        hosts = hosts_file_name()
        if not hosts:
            self.skipTest("no name in /etc/hosts to fall through to")
        self.router.resolve_silent = True
        body = """
            t = time.monotonic()
            a = socket.gethostbyname(%r)
            t1 = time.monotonic() - t
            t = time.monotonic()
            b = socket.gethostbyname(%r)
            out(a=a, b=b, first=t1, second=time.monotonic() - t, host=socket.gethostname())
        """ % (hosts[0], hosts[0])
        r = self.py(body)
        self.assertEqual((r["a"], r["b"], r["host"]), (hosts[1], hosts[1], "alpha-10"))
        self.assertLess(r["first"], 1.0)   # bounded by the 300 ms query budget
        self.assertLess(r["second"], 0.1)  # and the miss is cached
        # No router at all on the port: the ICMP error ends the wait at once.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
        s.close()
        r = self.py(body, env=self.env(self.router.config(port=dead, name="alpha-10")))
        self.assertEqual(r["a"], hosts[1])
        self.assertLess(r["first"], 0.25)

    def test_threads_and_memory(self):
        # curl resolves in a thread: many threads at once, results always right.
        r = self.py("""
            bad = []
            def work(i):
                for k in range(200):
                    n = ("beta-20", "gamma.example", "alpha-10")[(i + k) %% 3]
                    want = {"beta-20": "100.97.2.20", "gamma.example": "100.97.3.30", "alpha-10": "100.97.1.10"}[n]
                    got = socket.getaddrinfo(n, 80, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)
                    if got[0][4][0] != want or socket.gethostbyaddr(want)[0].lower() != n:
                        bad.append((n, got))
            ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
            for t in ts: t.start()
            for t in ts: t.join()
            out(bad=bad[:3])
        """.replace("%%", "%"))
        self.assertEqual(r["bad"], [])
        # Allocation shapes: glibc's freeaddrinfo and our freeifaddrs free exactly what was allocated.
        p = subprocess.run(["bash", "-c", PROBE + " loop 20000 beta-20 && grep VmRSS /proc/self/status"],
                           env=self.env(), capture_output=True, text=True, timeout=60)
        self.assertIn("loop ok 20000", p.stdout, p.stderr)
        r = self.probe("loop", "1", "beta-20", env=self.env(MALLOC_CHECK_="3"))
        self.assertEqual(r["loop"], ["ok 1"])

    def test_no_config_is_pass_through(self):
        env = self.env()
        del env["UVPN_SHIM_CONFIG"]
        r = self.probe("hostname", env=env)
        self.assertEqual(r["gethostname"], ["rc=0 name=%s" % socket.gethostname()])
        r = self.probe("ifaces", env=env)
        self.assertNotIn("uvpn0", " ".join(r.get("getifaddrs", []) + r.get("ifconf", [])))
        # A configuration without name=: resolution works, gethostname stays the kernel's.
        r = self.probe("hostname", env=self.env(self.router.config()))
        self.assertEqual(r["gethostname"], ["rc=0 name=%s" % socket.gethostname()])


class InterfaceTests(NamesTest):
    def test_virtual_interface(self):
        r = self.probe("ifaces")
        self.assertIn("uvpn0 100.97.1.10 255.255.0.0 up", r["getifaddrs"])
        self.assertIn("lo 127.0.0.1 255.0.0.0 up", r["getifaddrs"])  # the real interfaces stay
        self.assertEqual(r["getifaddrs"][-1], "uvpn0 100.97.1.10 255.255.0.0 up")
        self.assertIn("uvpn0 100.97.1.10", r["ifconf"])
        self.assertIn("lo 127.0.0.1", r["ifconf"])
        self.assertEqual(int(r["ifconf_needed"][0]), 40 * len(r["ifconf"]))
        self.assertEqual(r["ifconf_small"], ["len=40 guard=intact"])
        self.assertEqual(r["ioctl"], [
            "uvpn0 addr 100.97.1.10", "uvpn0 netmask 255.255.0.0", "uvpn0 flags up", "uvpn0 index 4095",
            "uvpn0 mtu 65536", "index 4095 name uvpn0",
            "lo addr 127.0.0.1", "lo netmask 255.0.0.0", "lo flags up", "lo index 1", "lo mtu 65536",
            "index 1 name lo"])
        self.assertEqual(r["ioctl_notsock"], ["Inappropriate ioctl for device"])
        self.assertEqual(r["ioctl_badfd"], ["Bad file descriptor"])

    def test_python_sees_interface(self):
        r = self.py("""
            import fcntl, struct, array
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            req = struct.pack("16s16x", b"uvpn0")
            addr = socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24])   # SIOCGIFADDR
            mask = socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x891b, req)[20:24])   # SIOCGIFNETMASK
            buf = array.array("B", b"\\0" * 40 * 32)
            n = struct.unpack("iL", fcntl.ioctl(s.fileno(), 0x8912,                 # SIOCGIFCONF
                              struct.pack("iL", len(buf), buf.buffer_info()[0])))[0]
            names = [bytes(buf[i:i + 16]).rstrip(b"\\0").decode() for i in range(0, n, 40)]
            out(addr=addr, mask=mask, names=names)
        """)
        self.assertEqual((r["addr"], r["mask"]), ("100.97.1.10", "255.255.0.0"))
        self.assertIn("uvpn0", r["names"])
        self.assertIn("lo", r["names"])


if __name__ == "__main__":
    SHIM = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
