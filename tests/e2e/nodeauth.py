#!/usr/bin/python3
"""Node-side authentication, test side (docs/security.md "Node side", src/proto/auth.h): key derivation, signed
REGISTER / REGISTER_OK / CONN_HEADER encoders written independently of the C++ code from the description, and a
small raw-socket agent that a test runs in a node's namespace without the shim.

Theory of operation:
  Keys: the session secret S is the 64 hex digits of .uvpn_secret_<id> beside the route file; the node key is
  nk = HMAC-SHA256(S, b"uvpn node key"); a lease key is lk = HMAC-SHA256(nk, b"uvpn lease" + vip + real) (both
  addresses 4 bytes big-endian).
  REGISTER with flag 0x04: prefix, want_vip, pid, name, then ts (u64 ms since the epoch, big-endian), a 16-byte
  nonce and mac = HMAC-SHA256(nk, every byte before the mac). REGISTER_OK with flag 0x04 ends with
  mac = HMAC-SHA256(nk, REGISTER nonce + the REGISTER_OK bytes before the mac).
  CONN_HEADER with flag 0x04 (hops 0 and 2) is 64 bytes: the 32-byte header, ts u64, nonce u64, then
  tag = HMAC-SHA256(lk, bytes 0..47)[:16].
  Every encoder takes explicit ts / nonce / key overrides so a test can build stale, replayed or wrongly keyed
  messages. The plaintext encoders come from tests/router/uvpnwire.py.

  Agent (`nodeauth.py agent`): reads one JSON command per line on stdin and answers one JSON line on stdout, so a
  test can hold a registration open while it does other things. Every command is bounded by its own timeout:
    {"op": "open", "id", "host", "port", "send": hex, "bind": ip?, "bind_port": n?}  -> {"lport"} or {"error"}
    {"op": "msg", "id", "timeout"}        read one uvpn message (prefix + declared length) -> {"msg": hex} or
                                          {"end": closed|reset|timeout, "got": hex}
    {"op": "read", "id", "n", "timeout"}  read up to n bytes -> {"got": hex, "end": null|closed|reset|timeout}
    {"op": "send", "id", "data": hex}     -> {}
    {"op": "keepalive", "id", "every"}    a thread sends HEARTBEATs on that connection until it is closed
    {"op": "close", "id"}                 -> {}
"""
import hashlib
import hmac
import json
import os
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "router"))
import uvpnwire as w  # noqa: E402

AUTH = 0x04
WANT_STATUS = w.WANT_STATUS
T_REGISTER_OK, T_REGISTER_ERR, T_STATUS = w.T_REGISTER_OK, w.T_REGISTER_ERR, w.T_STATUS
ip2int, int2ip = w.ip2int, w.int2ip


# ---- keys ----------------------------------------------------------------------------------------------------------
def load_secret(path):
    with open(path) as f:
        text = f.read().strip()
    assert len(text) == 64, f"{path}: expected 64 hex digits"
    return bytes.fromhex(text)


def mac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def node_key(secret):
    return mac(secret, b"uvpn node key")


def lease_key(nk, vip, real):
    return mac(nk, b"uvpn lease" + struct.pack(">II", ip2int(vip), ip2int(real)))


def now_ms():
    return int(time.time() * 1000)


# ---- REGISTER ------------------------------------------------------------------------------------------------------
def register(nk=None, want_vip="0.0.0.0", pid=4242, name=b"", ts_ms=None, nonce=None):
    """REGISTER; with nk signed (flag 0x04, trailer). Returns (bytes, nonce) -- nonce None when unsigned."""
    if nk is None:
        return w.register(want_vip, pid, name), None
    ts_ms = now_ms() if ts_ms is None else ts_ms
    nonce = os.urandom(16) if nonce is None else nonce
    body = struct.pack(">II", ip2int(want_vip), pid) + name + struct.pack(">Q", ts_ms) + nonce
    head = w.prefix(w.T_REGISTER, AUTH, 8 + len(body) + 32) + body
    return head + mac(nk, head), nonce


def parse_reply(b):
    """REGISTER_OK / REGISTER_ERR -> dict (uvpnwire's parser; a signed REGISTER_OK keeps its mac apart)."""
    if b[4] == T_REGISTER_OK and b[5] & AUTH:
        d = w.parse_register_reply(b[:-32])
        d["mac"] = b[-32:]
        return d
    return w.parse_register_reply(b)


def register_ok_mac_ok(nk, reg_nonce, b):
    """True if REGISTER_OK `b` carries flag 0x04 and its mac is HMAC(nk, reg_nonce + b[:-32])."""
    return b[4] == T_REGISTER_OK and bool(b[5] & AUTH) and hmac.compare_digest(mac(nk, reg_nonce + b[:-32]), b[-32:])


# ---- CONN_HEADER ---------------------------------------------------------------------------------------------------
def conn_header(dst_vip, dst_port, lk=None, hop=0, flags=WANT_STATUS, src_vip="0.0.0.0", src_port=0, relay_id=0,
                ts_ms=None, nonce=None, tag=None, auth=None):
    """CONN_HEADER. With lk (or auth=True) the 64-byte signed form: ts, nonce, tag (HMAC(lk, first 48)[:16], or
    `tag` as given, e.g. garbage). Without, the plaintext 32-byte form."""
    auth = (lk is not None or tag is not None) if auth is None else auth
    if not auth:
        return w.conn_header(dst_vip, dst_port, hop=hop, flags=flags, src_ip=src_vip, src_port=src_port,
                             relay_id=relay_id)
    ts_ms = now_ms() if ts_ms is None else ts_ms
    nonce = int.from_bytes(os.urandom(8), "big") if nonce is None else nonce
    head = w.prefix(w.T_CONN, flags | AUTH, 64) + struct.pack(">IHIHBBHQ", ip2int(src_vip), src_port,
                                                                  ip2int(dst_vip), dst_port, 6, hop, 0, relay_id)
    head += struct.pack(">QQ", ts_ms, nonce)
    if tag is None:
        tag = mac(lk, head)[:16]
    return head + tag


def status_code(b):
    """The code of a 16-byte STATUS, or None if `b` is not one."""
    if len(b) == 16 and b[:4] == w.MAGIC and b[4] == T_STATUS:
        return struct.unpack(">H", b[8:10])[0]
    return None


# ---- agent ---------------------------------------------------------------------------------------------------------
class Agent:
    """The test side of the agent: a Popen whose stdin/stdout are pipes (see the module doc)."""

    def __init__(self, proc):
        self.p = proc

    def cmd(self, timeout=20, **kw):
        self.p.stdin.write((json.dumps(kw) + "\n").encode())
        self.p.stdin.flush()
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        assert r, f"agent did not answer {kw} within {timeout}s"
        line = self.p.stdout.readline()
        assert line, f"agent exited (rc {self.p.poll()}) on {kw}"
        return json.loads(line)


def _agent():
    conns = {}

    def read_n(s, n, timeout):
        s.settimeout(timeout)
        got = b""
        end = None
        deadline = time.monotonic() + timeout
        try:
            while len(got) < n:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                b = s.recv(n - len(got))
                if not b:
                    end = "closed"
                    break
                got += b
        except socket.timeout:
            end = "timeout"
        except OSError:
            end = "reset"
        return got, end

    def keepalive(cid, every):
        seq = 1
        while cid in conns:
            time.sleep(every)
            s = conns.get(cid)
            if s is None:
                return
            try:
                s.send(w.heartbeat(seq))
            except OSError:
                return
            seq += 1

    for line in sys.stdin:
        c = json.loads(line)
        op, cid, out = c["op"], c.get("id"), {}
        if op == "open":
            s = socket.socket()
            if c.get("bind"):
                if c.get("bind_port"):  # a port another socket of this address may still hold in TIME_WAIT
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((c["bind"], c.get("bind_port", 0)))
            s.settimeout(10)
            try:
                s.connect((c["host"], c["port"]))
                out["lport"] = s.getsockname()[1]
                if c.get("send"):
                    s.sendall(bytes.fromhex(c["send"]))
                conns[cid] = s
            except OSError as e:
                out["error"] = repr(e)
                s.close()
        elif op == "msg":
            s = conns[cid]
            got, end = read_n(s, 8, c.get("timeout", 5))
            if end is None:
                n = struct.unpack(">H", got[6:8])[0]
                rest, end = read_n(s, max(0, n - 8), c.get("timeout", 5))
                got += rest
            out = {"msg": got.hex()} if end is None else {"end": end, "got": got.hex()}
        elif op == "read":
            got, end = read_n(conns[cid], c["n"], c.get("timeout", 5))
            out = {"got": got.hex(), "end": end}
        elif op == "send":
            try:
                conns[cid].sendall(bytes.fromhex(c["data"]))
            except OSError as e:
                out["error"] = repr(e)
        elif op == "keepalive":
            threading.Thread(target=keepalive, args=(cid, c["every"]), daemon=True).start()
        elif op == "close":
            s = conns.pop(cid, None)
            if s is not None:
                s.close()
        print(json.dumps(out), flush=True)


if __name__ == "__main__" and sys.argv[1:2] == ["agent"]:
    _agent()
