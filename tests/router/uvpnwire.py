"""Python encoders/decoders of docs/protocol.md for the router's integration tests (test-side only)."""
import struct

MAGIC = b"UVP1"
T_CONN, T_STATUS, T_REGISTER, T_REGISTER_OK, T_REGISTER_ERR, T_HEARTBEAT, T_LOOKUP, T_LOOKUP_REPLY, T_HELLO, \
    T_NODE_ADD, T_NODE_DEL = range(1, 12)
T_ACK, T_RESUME, T_RESUME_OK, T_RELAY_RESET = range(16, 20)  # outage recovery, section 10
T_HOSTS_LIST, T_HOSTS_REPLY = 24, 25  # the whole name table, section 13
WANT_STATUS = 1
RESUMABLE = 2


def resume(relay_id, r_bytes, leg, flags=0):
    """RESUME (section 10): relay_id, r_bytes, 4 reserved, leg."""
    return prefix(T_RESUME, flags, 32) + struct.pack(">QQ4xI", relay_id, r_bytes, leg)


def resume_ok(relay_id, r_bytes, code, leg):
    """RESUME_OK (section 10): relay_id, r_bytes, code, 2 reserved, leg."""
    return prefix(T_RESUME_OK, 0, 32) + struct.pack(">QQH2xI", relay_id, r_bytes, code, leg)
CODES = {0: "ok", 1: "ECONNREFUSED", 2: "EHOSTUNREACH", 3: "ENETUNREACH", 4: "ETIMEDOUT", 5: "ECONNRESET",
         6: "EACCES", 7: "EPROTO"}


def ip2int(s):
    a, b, c, d = (int(x) for x in s.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def int2ip(v):
    return ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))


def prefix(t, flags, length):
    return MAGIC + struct.pack(">BBH", t, flags, length)


def conn_header(dst_ip, dst_port, hop=0, flags=WANT_STATUS, src_ip="0.0.0.0", src_port=0, relay_id=0):
    return prefix(T_CONN, flags, 32) + struct.pack(">IHIHBBHQ", ip2int(src_ip), src_port, ip2int(dst_ip), dst_port,
                                                   6, hop, 0, relay_id)


def parse_conn_header(b):
    assert len(b) == 32 and b[:4] == MAGIC and b[4] == T_CONN, b
    src, sport, dst, dport, proto, hop, _, rid = struct.unpack(">IHIHBBHQ", b[8:])
    return dict(flags=b[5], src=int2ip(src), src_port=sport, dst=int2ip(dst), dst_port=dport, proto=proto, hop=hop,
                relay_id=rid)


def parse_status(b):
    assert len(b) == 16 and b[:4] == MAGIC and b[4] == T_STATUS, b
    return struct.unpack(">H", b[8:10])[0]


def register(want_vip="0.0.0.0", pid=1234, name=b""):
    return prefix(T_REGISTER, 0, 16 + len(name)) + struct.pack(">II", ip2int(want_vip), pid) + name


def parse_register_reply(b):
    assert b[:4] == MAGIC, b
    t = b[4]
    if t == T_REGISTER_OK:
        vip, real, net, plen, hb = struct.unpack(">IIIBB", b[8:22])
        return dict(ok=True, vip=int2ip(vip), real=int2ip(real), net=int2ip(net), prefix=plen, heartbeat=hb,
                    name=b[24:].decode())
    assert t == T_REGISTER_ERR, t
    code = struct.unpack(">H", b[8:10])[0]
    return dict(ok=False, code=code, text=b[12:].decode())


def heartbeat(seq):
    return prefix(T_HEARTBEAT, 0, 16) + struct.pack(">II", seq, 0)


def lookup(qid, node_ip, node_port, router_port):
    return prefix(T_LOOKUP, 0, 20) + struct.pack(">IIHH", qid, ip2int(node_ip), node_port, router_port)


def hosts_list(qid, after_ip="0.0.0.0", padding=None):
    return prefix(T_HOSTS_LIST, 0, 1200) + struct.pack(">II", qid, ip2int(after_ip)) + (padding or bytes(1184))


def parse_hosts_reply(b):
    """-> (qid, more, [(ip, home, name)]); asserts the layout of protocol.md section 13."""
    assert b[:4] == MAGIC and b[4] == T_HOSTS_REPLY and struct.unpack(">H", b[6:8])[0] == len(b), b[:16]
    qid, count, _ = struct.unpack(">IHH", b[8:16])
    off, out = 16, []
    for _ in range(count):
        vip, flags, n = struct.unpack(">IBB", b[off:off + 6])
        out.append((int2ip(vip), bool(flags & 1), b[off + 6:off + 6 + n].decode()))
        off += 6 + n
    assert off == len(b), (off, len(b))
    return qid, bool(b[5] & 1), out


def parse_lookup_reply(b):
    assert len(b) == 32 and b[:4] == MAGIC and b[4] == T_LOOKUP_REPLY, b
    qid, state, _, code, lvip, lport, pvip, pport, _ = struct.unpack(">IBBHIHIHI", b[8:])
    return dict(qid=qid, state=state, code=code, local=(int2ip(lvip), lport), peer=(int2ip(pvip), pport))
