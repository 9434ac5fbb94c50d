"""A fake uvpn home router on 127.0.0.1 for the shim tests (docs/protocol.md sections 2, 3, 5).

Theory of operation: one TCP listener and one UDP socket on the same port of 127.0.0.1. Each TCP connection is
served by a thread: it reads the hop-0 CONN_HEADER, looks up the behaviour configured for the destination virtual
IP, records the connection (keyed like LOOKUP: node ip, node port, router port) and then answers:
  ok          STATUS 0 if asked, then echo every byte back (the "destination" is the router itself)
  refuse      code 1 (ECONNREFUSED);  unreach: code 2 (EHOSTUNREACH); timeout: code 4
  forward     connect to 127.0.0.1:<delay> (the route's second value is the port) and relay both ways;
              code 1 if that is refused
  slow_*      the same after `delay` seconds (the connection is "pending" meanwhile)
The UDP socket answers LOOKUP from the connection table (only if the datagram's source IP equals node_ip).
It also answers RESOLVE / RESOLVE_ADDR (protocol.md section 8) from `names` (name -> vip, compared
case-insensitively), counting them in `resolves`; `resolve_silent` makes it ignore them (a router that does not
answer).
`dial()` plays the destination side: it connects to an application's listener and writes a hop-2 header.
Every thread is a daemon and every wait is bounded; close() stops everything.
"""
import socket
import struct
import threading
import time

MAGIC = b"UVP1"
T_CONN, T_STATUS, T_LOOKUP, T_LOOKUP_REPLY = 1, 2, 7, 8
T_RESOLVE, T_RESOLVE_ADDR, T_RESOLVE_REPLY = 12, 13, 14
T_UDP = 15
CODES = {"ok": 0, "refuse": 1, "unreach": 2, "netunreach": 3, "timeout": 4}
ST_UNKNOWN, ST_PENDING, ST_ESTABLISHED, ST_FAILED, ST_CLOSED = 0, 1, 2, 3, 4


def ip2int(s):
    return struct.unpack("!I", socket.inet_aton(s))[0]


def int2ip(v):
    return socket.inet_ntoa(struct.pack("!I", v))


def conn_header(src, dst, hop, flags=0, relay_id=0):
    return (MAGIC + struct.pack("!BBH", T_CONN, flags, 32)
            + struct.pack("!IHIHBBHQ", ip2int(src[0]), src[1], ip2int(dst[0]), dst[1], 6, hop, 0, relay_id))


def parse_conn_header(b):
    assert len(b) == 32 and b[:4] == MAGIC and b[4] == T_CONN, b
    flags = b[5]
    src_ip, src_port, dst_ip, dst_port, proto, hop, _, relay = struct.unpack("!IHIHBBHQ", b[8:32])
    return dict(flags=flags, src=(int2ip(src_ip), src_port), dst=(int2ip(dst_ip), dst_port), hop=hop)


def udp_header(src, dst, hop, payload_len, length=None):
    return (MAGIC + struct.pack("!BBH", T_UDP, 0, length if length is not None else 24 + payload_len)
            + struct.pack("!IHIHB3x", ip2int(src[0]), src[1], ip2int(dst[0]), dst[1], hop))


def parse_udp_header(b):
    length = struct.unpack("!H", b[6:8])[0]
    src_ip, src_port, dst_ip, dst_port, hop = struct.unpack("!IHIHB", b[8:21])
    return dict(length=length, src=(int2ip(src_ip), src_port), dst=(int2ip(dst_ip), dst_port), hop=hop)


def status(code):
    return MAGIC + struct.pack("!BBH", T_STATUS, 0, 16) + struct.pack("!HHI", code, 0, 0)


def recv_exact(s, n, timeout=5.0):
    s.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


class FakeRouter:
    def __init__(self, node_vip="100.97.1.10"):
        self.node_vip = node_vip
        self.routes = {}          # dst vip -> (behaviour, delay seconds)
        self.conns = {}           # (node_ip, node_port, router_port) -> dict(state, code, local, peer)
        self.headers = []         # hop-0 headers received
        self.lookups = 0
        self.names = {}           # host name -> vip (RESOLVE / RESOLVE_ADDR)
        self.resolves = 0
        self.resolve_silent = False
        self.datagrams = []       # UDP_DATA received: (header dict, payload, real source) (section 9)
        self.udp_echo = set()     # destination vips whose datagrams are echoed back as hop 2
        self.lock = threading.Lock()
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.tcp.listen(64)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.stop = False
        self.threads = [threading.Thread(target=self._accept_loop, daemon=True),
                        threading.Thread(target=self._udp_loop, daemon=True)]
        for t in self.threads:
            t.start()

    def route(self, vip, behaviour, delay=0.0):
        self.routes[vip] = (behaviour, delay)

    def config(self, timeout_ms=3000, port=None, name=None):
        return ("v1 net=100.97.0.0/16 router=127.0.0.1:%d vip=%s real=127.0.0.1 timeout_ms=%d"
                % (port or self.port, self.node_vip, timeout_ms)) + (" name=" + name if name else "")

    def close(self):
        self.stop = True
        for s in (self.tcp, self.udp):
            try:
                s.close()
            except OSError:
                pass

    # --- TCP (leg 0)
    def _accept_loop(self):
        self.tcp.settimeout(0.2)
        while not self.stop:
            try:
                c, addr = self.tcp.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(c, addr), daemon=True).start()

    def _serve(self, c, addr):
        try:
            raw = recv_exact(c, 32)
            if len(raw) < 32:
                return
            h = parse_conn_header(raw)
            key = (addr[0], addr[1], self.port)
            behaviour, delay = self.routes.get(h["dst"][0], ("unreach", 0.0))
            entry = dict(state=ST_PENDING, code=0, local=(self.node_vip, addr[1]), peer=h["dst"])
            with self.lock:
                self.headers.append(dict(h, real=addr))
                self.conns[key] = entry
            want = h["flags"] & 1
            if behaviour == "forward":
                return self._forward(c, entry, want, delay)
            if delay:
                time.sleep(delay)
            name = behaviour.replace("slow_", "")
            code = CODES[name]
            if code != 0:
                entry.update(state=ST_FAILED, code=code)
                if want:
                    c.sendall(status(code))
                return
            entry["state"] = ST_ESTABLISHED
            if want:
                c.sendall(status(0))
            c.settimeout(10)
            while True:
                data = c.recv(65536)
                if not data:
                    break
                c.sendall(data)
            entry["state"] = ST_CLOSED
        except OSError:
            pass
        finally:
            c.close()

    def _forward(self, c, entry, want, port):
        try:
            f = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
        except OSError:
            entry.update(state=ST_FAILED, code=1)
            if want:
                c.sendall(status(1))
            return
        entry["state"] = ST_ESTABLISHED
        if want:
            c.sendall(status(0))

        def pump(a, b):
            try:
                a.settimeout(30)
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        t = threading.Thread(target=pump, args=(f, c), daemon=True)
        t.start()
        pump(c, f)
        t.join(30)
        f.close()
        entry["state"] = ST_CLOSED

    # --- UDP (LOOKUP)
    def _udp_loop(self):
        self.udp.settimeout(0.2)
        while not self.stop:
            try:
                data, src = self.udp.recvfrom(65536)
            except (socket.timeout, OSError):
                continue
            if len(data) >= 24 and data[:4] == MAGIC and data[4] == T_UDP:
                self._udp_data(data, src)
                continue
            if len(data) >= 16 and data[:4] == MAGIC and data[4] in (T_RESOLVE, T_RESOLVE_ADDR):
                self._resolve(data, src)
                continue
            if len(data) != 20 or data[:4] != MAGIC or data[4] != T_LOOKUP:
                continue
            qid, node_ip, node_port, router_port = struct.unpack("!IIHH", data[8:20])
            if int2ip(node_ip) != src[0]:
                continue
            with self.lock:
                self.lookups += 1
                e = self.conns.get((int2ip(node_ip), node_port, router_port))
            if e is None:
                reply = struct.pack("!IBBHIHIHI", qid, ST_UNKNOWN, 0, 0, 0, 0, 0, 0, 0)
            else:
                reply = struct.pack("!IBBHIHIHI", qid, e["state"], 0, e["code"], ip2int(e["local"][0]),
                                    e["local"][1], ip2int(e["peer"][0]), e["peer"][1], 0)
            try:
                self.udp.sendto(MAGIC + struct.pack("!BBH", T_LOOKUP_REPLY, 0, 32) + reply, src)
            except OSError:
                pass

    def _udp_data(self, data, src):
        h = parse_udp_header(data)
        payload = data[24:]
        with self.lock:
            self.datagrams.append((h, payload, src))
        if h["length"] == len(data) and h["hop"] == 0 and h["dst"][0] in self.udp_echo:
            self.send_udp(src, h["dst"], (self.node_vip, src[1]), payload)

    def send_udp(self, to, src, dst, payload, hop=2, length=None):
        """Sends a UDP_DATA datagram from the router's socket to the real address `to`."""
        try:
            self.udp.sendto(udp_header(src, dst, hop, len(payload), length) + payload, to)
        except OSError:
            pass

    def _resolve(self, data, src):
        (qid,) = struct.unpack("!I", data[8:12])
        with self.lock:
            self.resolves += 1
            if self.resolve_silent:
                return
            hit = None
            if data[4] == T_RESOLVE:
                want = data[16:].decode().lower()
                hit = next(((n, v) for n, v in self.names.items() if n.lower() == want), None)
            else:
                vip = int2ip(struct.unpack("!I", data[12:16])[0])
                hit = next(((n, v) for n, v in self.names.items() if v == vip), None)
        if hit:
            body = struct.pack("!IB3xI", qid, 0, ip2int(hit[1])) + hit[0].encode()
        else:
            body = struct.pack("!IB3xI", qid, 1, 0)
        try:
            self.udp.sendto(MAGIC + struct.pack("!BBH", T_RESOLVE_REPLY, 0, 8 + len(body)) + body, src)
        except OSError:
            pass

    # --- leg 2: play the destination's router
    def dial(self, port, src, dst, payload=b"", header=True):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if header:
            s.sendall(conn_header(src, dst, hop=2, relay_id=7) + payload)
        elif payload:
            s.sendall(payload)
        local = s.getsockname()
        with self.lock:
            self.conns[("127.0.0.1", port, local[1])] = dict(state=ST_ESTABLISHED, code=0, local=dst, peer=src)
        return s
