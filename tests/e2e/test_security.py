#!/usr/bin/python3
"""Hostile WAN peers against sealed routers (docs/security.md, docs/protocol.md section 11), two sites.

Theory of operation: every attack is sent from s1-head's namespace without the shim (ov.call(..., overlay=False)),
i.e. from the WAN side, to router s2's WAN listener 10.91.0.2:7700. The raw client (SENDER) opens one connection
per payload, sends it, optionally half-closes, and reports per connection its local port, what came back and how the
connection ended (closed, reset, still open after its wait), so the test can find the router's log line for exactly
that connection ("10.91.0.1:<port>: <why>; connection closed"). Listeners on s2's nodes are netprogs `aserver`, which
logs one "PEER" line per accepted connection: "no connection reached the node" is "no new PEER line". After every
attack the test checks that both routers are alive and that a real cross-site connection still carries bytes
(netprogs `hold`: 64 KiB random echoed and compared). Handshakes are built test-side with noisepy.py (an independent
Noise NNpsk0 initiator), against the session secret `uvpn session new` wrote beside the route file; a handshake with
the right key is the positive control that shows the wrong-key case can fail. Captures are tshark in a head's
namespace written as classic pcap, parsed here (pcap_packets). Every wait is bounded; the whole file runs in about a
minute.
"""
import json
import os
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

try:
    import noisepy  # noqa: E402  (needs python3-cryptography)
except ImportError as e:
    noisepy = None
    _NOISE_ERROR = str(e)

HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, "netprogs.py")
UDPPROGS = os.path.join(HERE, "udpprogs.py")
WAN2 = ("10.91.0.2", h.ROUTER_PEER_PORT)
PORT = 9000          # echo listener on s2-n1
OUTSIDER = "10.91.0.201"  # an extra WAN address on s1-head: a WAN outsider that is not a router

# One connection per payload (hex), all at once; each sends its payload, half-closes if mode is "fin", then reads
# until EOF, RST or `wait` seconds. Prints one JSON list: {lport, end: closed|reset|open, t, got (hex)}.
SENDER = r'''
import json, socket, sys, threading, time
host, port, bind, mode, wait = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
payloads = [bytes.fromhex(p) for p in sys.argv[6:]]
res = [None] * len(payloads)
def one(i):
    s = socket.socket()
    if bind != "-":
        s.bind((bind, 0))
    s.settimeout(10)
    s.connect((host, port))
    r = {"lport": s.getsockname()[1], "got": ""}
    t0 = time.monotonic()
    got = b""
    try:
        s.sendall(payloads[i])
        if mode == "fin":
            s.shutdown(socket.SHUT_WR)
        s.settimeout(max(0.1, wait))
        while True:
            b = s.recv(4096)
            if not b:
                r["end"] = "closed"
                break
            got += b
    except socket.timeout:
        r["end"] = "open"
    except OSError as e:
        r["end"] = "reset"
        r["err"] = e.__class__.__name__
    r["t"] = round(time.monotonic() - t0, 2)
    r["got"] = got.hex()
    s.close()
    res[i] = r
ts = [threading.Thread(target=one, args=(i,)) for i in range(len(payloads))]
for t in ts: t.start()
for t in ts: t.join(60)
print(json.dumps(res))
'''

# N connections from `bind`: even ones send nothing, odd ones one byte per second of `slow` (a slowloris), for at
# most `secs` seconds. Prints a JSON summary: how each connection ended and when.
FLOOD = r'''
import json, select, socket, sys, time
host, port, bind, n, secs, slow = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), \
    float(sys.argv[5]), bytes.fromhex(sys.argv[6])
t0 = time.monotonic()
conns, failed = [], 0
for i in range(n):
    s = socket.socket()
    s.bind((bind, 0))
    s.settimeout(3)
    try:
        s.connect((host, port))
    except OSError:
        failed += 1
        s.close()
        continue
    s.setblocking(False)
    conns.append({"s": s, "slow": i % 2 == 1, "sent": 0, "end": None, "t": None})
print("CONNECTED %d" % len(conns), file=sys.stderr, flush=True)
by_fd = {c["s"].fileno(): c for c in conns}
next_tick = time.monotonic()
while time.monotonic() - t0 < secs and any(c["end"] is None for c in conns):
    now = time.monotonic()
    if now >= next_tick:
        next_tick = now + 1.0
        for c in conns:
            if c["end"] is None and c["slow"] and c["sent"] < len(slow):
                try:
                    c["s"].send(slow[c["sent"]:c["sent"] + 1])
                    c["sent"] += 1
                except OSError:
                    c["end"], c["t"] = "reset", round(now - t0, 2)
    live = [c["s"] for c in conns if c["end"] is None]
    r, _, _ = select.select(live, [], [], max(0.01, min(0.2, next_tick - time.monotonic())))
    for s in r:
        c = by_fd[s.fileno()]
        try:
            b = s.recv(100)
            if not b:
                c["end"], c["t"] = "closed", round(time.monotonic() - t0, 2)
        except BlockingIOError:
            pass
        except OSError:
            c["end"], c["t"] = "reset", round(time.monotonic() - t0, 2)
out = {"connect_failed": failed, "open": 0, "closed": 0, "reset": 0, "reset_fast": 0, "slow_reset": 0,
       "silent_reset": 0, "closed_t": [], "elapsed": round(time.monotonic() - t0, 2)}
for c in conns:
    end = c["end"] or "open"
    out[end] += 1
    if end == "reset":
        out["slow_reset" if c["slow"] else "silent_reset"] += 1
        if c["t"] < 2.0:
            out["reset_fast"] += 1
    if end == "closed":
        out["closed_t"].append(c["t"])
    c["s"].close()
out["closed_t"] = sorted(out["closed_t"])[::10]
print(json.dumps(out), flush=True)
'''

# Under the shim: sends `size` bytes of PATTERN to HOST:PORT (netprogs hashserver), checks the sha256 it answers.
PATTERN_CLIENT = r'''
import hashlib, socket, sys
host, port, marker, size = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4])
data = (marker * (size // len(marker) + 1))[:size]
s = socket.create_connection((host, port), timeout=30)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    got += b
print("OK" if got.strip().decode() == hashlib.sha256(data).hexdigest() else "FAIL %r" % got)
'''

# Under the shim: one datagram carrying `marker` to a udpprogs echo server; checks the echoed payload.
UDP_CLIENT = r'''
import socket, sys
host, port, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
data = marker * 40
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
for attempt in range(3):
    s.sendto(data, (host, port))
    try:
        reply, _ = s.recvfrom(65535)
    except socket.timeout:
        continue
    print("OK" if reply.partition(b"\n")[2] == data else "FAIL payload differs")
    break
else:
    print("FAIL no answer")
'''


# ---- helpers ------------------------------------------------------------------------------------------------------
def send_raw(ov, payloads, mode="fin", wait=10.0, bind="-", dst=WAN2, host="s1-head", timeout=60):
    """Runs SENDER to completion; returns its list of per-connection results."""
    r = ov.call(host, [h.PYTHON, "-c", SENDER, dst[0], str(dst[1]), bind, mode, str(wait)] +
                [p.hex() for p in payloads], overlay=False, timeout=timeout)
    assert r.returncode == 0, f"raw sender failed: {r.stderr.decode(errors='replace')[-2000:]}"
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def start_raw(ov, label, payloads, mode="fin", wait=10.0, dst=WAN2, host="s1-head"):
    """SENDER in the background (output in <label>.log); raw_result() collects it."""
    return ov.run(host, [h.PYTHON, "-c", SENDER, dst[0], str(dst[1]), "-", mode, str(wait)] +
                  [p.hex() for p in payloads], overlay=False, label=label)


def raw_result(ov, p, label, timeout=60):
    p.wait(timeout=timeout)
    lines = open(ov.log_path(label), errors="replace").read().strip().splitlines()
    assert p.returncode == 0 and lines, f"raw sender failed: {lines[-20:]}"
    return json.loads(lines[-1])


def drop_line(ov, site, src_ip, lport):
    """The router's log line about the connection from src_ip:lport being closed, or None."""
    tag = f"{src_ip}:{lport}: "
    for ln in ov.router_log(site).splitlines():
        if tag in ln and "connection closed" in ln:
            return ln
    return None


def wait_drop_line(ov, site, lport, src_ip="10.91.0.1", timeout=8):
    return h.wait_until(lambda: drop_line(ov, site, src_ip, lport), timeout,
                        f"router {site}'s log line about {src_ip}:{lport}")


def start_echo(ov, host="s2-n1", port=PORT):
    label = f"echo-{host}-{port}"
    p = ov.run(host, [h.PYTHON, "-u", PROGS, "aserver", str(port)], label=label)
    ov.wait_listening(host, port, proc=p)
    return label


def accepts(ov, label):
    """How many connections the netprogs aserver logged as accepted ("PEER ip port" lines)."""
    with open(ov.log_path(label), errors="replace") as f:
        return sum(1 for ln in f if ln.startswith("PEER "))


def link_up(ov, site, other):
    return any(ln["site"] == other and ln["up"] is True for ln in ov.status_json(site)["links"])


def link_since(ov, site, other):
    for ln in ov.status_json(site)["links"]:
        if ln["site"] == other:
            return ln["since_s"]
    raise AssertionError(f"no link {other} in the status of {site}")


def traffic_ok(ov, label, client="s1-n1", server="s2-n1", what=""):
    """Both routers alive, a new cross-site connection carries 64 KiB both ways intact, and the listener logged it."""
    assert ov.router_alive("s1") and ov.router_alive("s2"), f"a router died {what}"
    before = accepts(ov, label)
    r = ov.call(client, [h.PYTHON, PROGS, "hold", ov.vip_of(server), str(PORT), "0"], timeout=40)
    out = r.stdout.decode().strip()
    assert out == "HOLDING", f"cross-site connection {client} -> {server} {what}: {out!r} " \
                             f"{r.stderr.decode(errors='replace')[-1000:]}"
    h.wait_until(lambda: accepts(ov, label) > before, 5, f"the listener to log the connection {what}")
    assert ov.router_alive("s1") and ov.router_alive("s2"), f"a router died {what}"


def need_noise():
    if noisepy is None:
        raise h.Skip(f"python3-cryptography missing: {_NOISE_ERROR}")


def secret_of(ov):
    return noisepy.load_secret(os.path.join(ov.dir, f".uvpn_secret_{ov.session}"))


def router_fds(ov, site):
    return len(os.listdir(f"/proc/{ov.routers[site].pid}/fd"))


class Capture:
    """tshark on `iface` in `host`'s namespace, written to <dir>/<name>.pcap (classic pcap)."""

    def __init__(self, ov, host, iface, name, bpf=None):
        self.ov, self.path, self.label = ov, os.path.join(ov.dir, name + ".pcap"), "tshark-" + name
        argv = ["tshark", "-n", "-i", iface, "-F", "pcap", "-w", self.path] + (["-f", bpf] if bpf else [])
        self.p = ov.run(host, argv, overlay=False, label=self.label)
        h.wait_until(lambda: self.p.poll() is not None or "Capturing on" in open(ov.log_path(self.label),
                                                                                errors="replace").read(),
                     15, f"tshark on {host} {iface}")
        assert self.p.poll() is None, open(ov.log_path(self.label), errors="replace").read()

    def stop(self):
        time.sleep(0.5)  # let the last packets reach the capture
        self.ov.stop(self.p, sig=signal.SIGINT, timeout=10)
        with open(self.path, "rb") as f:
            return f.read()


def pcap_packets(raw):
    """Yields (src, dst, proto, sport, dport, payload) of the IPv4 TCP/UDP packets of a classic pcap file."""
    magic = raw[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", raw[20:24])[0]
    link_len = {1: 14, 113: 16, 276: 20}.get(linktype)
    assert link_len is not None, f"unexpected pcap link type {linktype}"
    off = 24
    while off + 16 <= len(raw):
        incl = struct.unpack(endian + "I", raw[off + 8:off + 12])[0]
        pkt = raw[off + 16:off + 16 + incl]
        off += 16 + incl
        ip = pkt[link_len:]
        if len(ip) < 20 or ip[0] >> 4 != 4:
            continue
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        proto = ip[9]
        src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
        l4 = ip[ihl:total] if total >= ihl else ip[ihl:]
        if proto == 6 and len(l4) >= 20:
            sport, dport = struct.unpack(">HH", l4[:4])
            yield src, dst, "tcp", sport, dport, l4[(l4[12] >> 4) * 4:]
        elif proto == 17 and len(l4) >= 8:
            sport, dport = struct.unpack(">HH", l4[:4])
            yield src, dst, "udp", sport, dport, l4[8:]


def conn_header(dst_vip, dst_port, hop, relay_id=0):
    vip = struct.unpack(">I", bytes(int(x) for x in dst_vip.split(".")))[0]
    src = struct.unpack(">I", bytes([100, 97, 1, 11]))[0]
    return noisepy.prefix(1, 0, 32) + struct.pack(">IHIHBBHQ", src, 40000, vip, dst_port, 6, hop, 0, relay_id)


def hello(site, session):
    body = struct.pack(">HB5x", 1, len(site)) + site.encode() + session.encode()
    return noisepy.prefix(9, 0, 8 + len(body)) + body


# ---- 1. plaintext open relay ---------------------------------------------------------------------------------------
def test_plaintext_open_relay():
    """A plaintext hop-1 CONN_HEADER naming a leased node and a listening port, from the WAN (even from the right
    peer address): refused, and nothing reaches the node. Plaintext HELLO and RESUME likewise."""
    need_noise()
    with h.Overlay(tag="secopen") as ov:
        label = start_echo(ov)
        traffic_ok(ov, label, what="before the attack")
        base = accepts(ov, label)
        vip = ov.vip_of("s2-n1")
        resume = noisepy.prefix(17, 0, 32) + struct.pack(">QQ4xI", (1 << 48) | 1, 0, 1)
        cases = {"hop-1 CONN_HEADER": conn_header(vip, PORT, 1, relay_id=(1 << 48) | 7),
                 "HELLO": hello("s1", ov.session), "RESUME": resume}
        res = send_raw(ov, list(cases.values()), wait=8)
        for (what, _), r in zip(cases.items(), res):
            assert r["end"] in ("closed", "reset"), f"plaintext {what} left open: {r}"
            assert r["got"] == "", f"plaintext {what} got an answer: {r}"
            ln = wait_drop_line(ov, "s2", r["lport"])
            print(f"  plaintext {what}: {r['end']} after {r['t']}s; s2: {ln.split('] ')[-1]}")
            if what == "hop-1 CONN_HEADER":
                # protocol.md section 11 lists hop-1 CONN_HEADER among the refused plaintext messages; the router
                # words it as a hop error, which is equally a refusal.
                assert ("plaintext router message refused" in ln or "CONN_HEADER with hop 1 not allowed" in ln), ln
            else:
                assert "plaintext router message refused" in ln, ln
        time.sleep(1.0)  # a connection the router made to the node would have been accepted by now
        assert accepts(ov, label) == base, "a plaintext CONN_HEADER from the WAN reached the node's listener"
        assert not any("PEER" in ln and "10.91.0." in ln for ln in open(ov.log_path(label), errors="replace"))
        traffic_ok(ov, label, what="after the plaintext attempts")
        assert link_up(ov, "s1", "s2") and link_up(ov, "s2", "s1")


# ---- 2. garbage, oversized, truncated ------------------------------------------------------------------------------
def test_bad_first_messages():
    """Garbage, a LINK_INIT prefix whose length is beyond the maximum, LINK_INITs cut short (then FIN, then silence):
    each closed with a log line saying why; the link and the traffic are unaffected."""
    need_noise()
    with h.Overlay(tag="secbad") as ov:
        label = start_echo(ov)
        secret = secret_of(ov)
        good, _ = noisepy.link_init("s1", ov.session, noisepy.link_psk(secret, "s1", "s2"))
        garbage = os.urandom(300)
        if garbage[:2] == b"UV":
            garbage = b"\x00" + garbage[1:]
        oversized = noisepy.prefix(20, 0, 162) + os.urandom(154)   # LINK_INIT is 67..161 bytes
        huge = noisepy.prefix(20, 0, 0xFFFF) + os.urandom(200)
        short = good[:40]
        fin_cases = {"garbage": (garbage, "bad message prefix"),
                     "LINK_INIT length 162": (oversized, "bad message prefix"),
                     "LINK_INIT length 65535": (huge, "bad message prefix"),
                     "LINK_INIT truncated, FIN": (short, "truncated first message")}
        t0 = time.monotonic()
        bg = start_raw(ov, "silent", [short, noisepy.prefix(20, 0, len(good))], mode="silent", wait=12)
        res = send_raw(ov, [p for p, _ in fin_cases.values()], wait=8)
        for (what, (_, why)), r in zip(fin_cases.items(), res):
            assert r["end"] in ("closed", "reset") and r["t"] < 3, f"{what}: {r}"
            ln = wait_drop_line(ov, "s2", r["lport"])
            print(f"  {what}: {r['end']} after {r['t']}s; s2: {ln.split('] ')[-1]}")
            assert why in ln, f"{what}: {ln}"
        silent = raw_result(ov, bg, "silent")
        for what, r in zip(("LINK_INIT truncated, silence", "LINK_INIT prefix only, silence"), silent):
            assert r["end"] in ("closed", "reset") and 3.5 <= r["t"] <= 9, f"{what}: {r}"
            ln = wait_drop_line(ov, "s2", r["lport"])
            print(f"  {what}: {r['end']} after {r['t']}s; s2: {ln.split('] ')[-1]}")
            assert "header timeout" in ln, f"{what}: {ln}"
        assert time.monotonic() - t0 < 30
        traffic_ok(ov, label, what="after the bad first messages")
        assert link_up(ov, "s1", "s2") and link_up(ov, "s2", "s1")


# ---- 3. wrong key, and the positive control ------------------------------------------------------------------------
def test_wrong_key_and_positive_control():
    need_noise()
    with h.Overlay(tag="seckey") as ov:
        label = start_echo(ov)
        secret = secret_of(ov)
        since = link_since(ov, "s2", "s1")
        # Positive control: the right psk completes the handshake against the real router.
        right, ini = noisepy.link_init("s1", ov.session, noisepy.link_psk(secret, "s1", "s2"))
        r = send_raw(ov, [right], mode="keep", wait=2)[0]
        body = noisepy.parse_link_resp(bytes.fromhex(r["got"]))
        assert body is not None, f"no LINK_RESP to a LINK_INIT with the right key: {r}"
        suite = ini.read_second(body)
        assert suite == noisepy.SUITE_CHACHA, f"LINK_RESP did not decrypt with the right key (payload {suite})"
        _, _, _, link_id = ini.split()
        print(f"  right key: LINK_RESP decrypts, cipher {suite}, link id {link_id:016x}")
        # Wrong keys: another secret, and the right secret for the wrong pair of sites.
        other = noisepy.link_psk(os.urandom(32), "s1", "s2")
        wrong_pair = noisepy.link_psk(secret, "s1", "s3")
        attempts = [noisepy.link_init("s1", ov.session, k)[0] for k in (other, wrong_pair)]
        res = send_raw(ov, attempts, wait=8)
        for what, r in zip(("another secret", "psk of another pair"), res):
            assert r["end"] in ("closed", "reset") and r["got"] == "", f"wrong key ({what}): {r}"
            ln = wait_drop_line(ov, "s2", r["lport"])
            print(f"  wrong key ({what}): {r['end']} after {r['t']}s; s2: {ln.split('] ')[-1]}")
            assert "failed authentication" in ln, ln
        assert link_up(ov, "s1", "s2") and link_up(ov, "s2", "s1")
        assert link_since(ov, "s2", "s1") >= since, "link s1-s2 was replaced during the wrong-key attempts"
        assert "replaced by a new connection" not in ov.router_log("s2")
        traffic_ok(ov, label, what="after the wrong-key handshakes")


# ---- 4. replayed LINK_INIT -----------------------------------------------------------------------------------------
def test_replayed_link_init():
    """The same valid LINK_INIT twice on new connections, never followed by the first record: the responder answers
    (it cannot tell) but keeps its link, and closes both pending connections after the header timeout."""
    need_noise()
    with h.Overlay(tag="secrepl") as ov:
        label = start_echo(ov)
        since = link_since(ov, "s2", "s1")
        msg, _ = noisepy.link_init("s1", ov.session, noisepy.link_psk(secret_of(ov), "s1", "s2"))
        t0 = time.monotonic()
        res = send_raw(ov, [msg, msg], mode="keep", wait=12)
        for r in res:
            assert noisepy.parse_link_resp(bytes.fromhex(r["got"])) is not None, f"no LINK_RESP: {r}"
            assert r["end"] in ("closed", "reset") and 3.5 <= r["t"] <= 9, f"pending handshake not timed out: {r}"
            ln = wait_drop_line(ov, "s2", r["lport"])
            print(f"  replayed LINK_INIT: LINK_RESP, then {r['end']} after {r['t']}s; s2: {ln.split('] ')[-1]}")
            assert "header timeout" in ln, ln
        assert res[0]["got"] != res[1]["got"], "the responder answered a replay with the same ephemeral key"
        assert link_up(ov, "s1", "s2") and link_up(ov, "s2", "s1")
        assert link_since(ov, "s2", "s1") >= since + (time.monotonic() - t0) - 1, "link s1-s2 was replaced"
        assert "replaced by a new connection" not in ov.router_log("s2")
        traffic_ok(ov, label, what="after the replayed LINK_INITs")


# ---- 5. replayed LEG_OPEN ------------------------------------------------------------------------------------------
def test_replayed_leg_open():
    """A LEG_OPEN captured on the WAN and sent again from s1-head (the right source address): refused, nothing reaches
    the destination."""
    need_noise()
    h.require_tools("tshark")
    with h.Overlay(tag="seclegs") as ov:
        label = start_echo(ov)
        cap = Capture(ov, "s1-head", "wan0", "legs", bpf=f"tcp port {h.ROUTER_PEER_PORT}")
        traffic_ok(ov, label, what="(the captured connection)")
        raw = cap.stop()
        legs = [p[:72] for src, dst, proto, sport, dport, p in pcap_packets(raw)
                if proto == "tcp" and dst == WAN2[0] and dport == WAN2[1] and p[:8] == b"UVP1\x16\x00\x00\x48"]
        assert legs, f"no LEG_OPEN from s1 in the capture ({len(raw)} bytes)"
        leg = legs[0]
        link_id, leg_no = struct.unpack(">QQ", leg[8:24])
        print(f"  captured {len(legs)} LEG_OPEN; replaying link {link_id:016x} leg {leg_no}")
        base = accepts(ov, label)
        res = send_raw(ov, [leg, leg], mode="keep", wait=8)
        for r in res:
            assert r["end"] in ("closed", "reset") and r["got"] == "", f"replayed LEG_OPEN: {r}"
            ln = wait_drop_line(ov, "s2", r["lport"])
            print(f"  replayed LEG_OPEN: {r['end']} after {r['t']}s; s2: {ln.split('] ')[-1]}")
            assert "replayed" in ln or "no current link session" in ln, ln
        # The same bytes with one bit flipped in the sealed part: authentication, not the replay window, refuses it.
        forged = bytearray(leg)
        forged[40] ^= 1
        forged[16:24] = struct.pack(">Q", leg_no + 1000)
        r = send_raw(ov, [bytes(forged)], mode="keep", wait=8)[0]
        ln = wait_drop_line(ov, "s2", r["lport"])
        print(f"  forged LEG_OPEN: {r['end']}; s2: {ln.split('] ')[-1]}")
        assert "failed authentication" in ln, ln
        time.sleep(1.0)
        assert accepts(ov, label) == base, "a replayed LEG_OPEN reached the destination's listener"
        traffic_ok(ov, label, what="after the replayed LEG_OPEN")
        assert link_up(ov, "s1", "s2") and link_up(ov, "s2", "s1")


# ---- 6. flood and slowloris ----------------------------------------------------------------------------------------
def flood(ov, bind, n=200, secs=15):
    slow = conn_header(ov.vip_of("s2-n1"), PORT, 1)
    return ov.run("s1-head", [h.PYTHON, "-u", "-c", FLOOD, WAN2[0], str(WAN2[1]), bind, str(n), str(secs),
                              slow.hex()], overlay=False, label=f"flood-{bind}")


def flood_result(ov, p, bind, timeout=40):
    p.wait(timeout=timeout)
    lines = open(ov.log_path(f"flood-{bind}"), errors="replace").read().strip().splitlines()
    return json.loads(lines[-1])


def test_flood_and_slowloris():
    """200 connections from one WAN address that never complete a first message (half silent, half one byte a
    second): beyond 64 the oldest are reset as new ones come, the rest meet the header timeout; meanwhile and
    afterwards cross-site connections work, and afterwards the router holds no more than before."""
    need_noise()
    with h.Overlay(tag="secflood") as ov:
        label = start_echo(ov)
        # A WAN outsider: an extra address on s1-head's WAN port, routed by the WAN namespace.
        subprocess.run(["ip", "-n", ov.ns("s1-head"), "addr", "add", f"{OUTSIDER}/32", "dev", "wan0"], check=True)
        subprocess.run(["ip", "-n", f"{ov.name}-wan", "route", "add", f"{OUTSIDER}/32", "dev", "s1"], check=True)
        traffic_ok(ov, label, what="before the flood")
        time.sleep(0.5)
        base_relays = len(ov.status_json("s2")["relays"])
        base_fds = router_fds(ov, "s2")
        p = flood(ov, OUTSIDER)
        h.wait_until(lambda: "CONNECTED" in open(ov.log_path(f"flood-{OUTSIDER}"), errors="replace").read() or
                     p.poll() is not None, 15, "the flood's connections")
        h.wait_until(lambda: "connections without a first message" in ov.router_log("s2"), 10,
                     "router s2 to reset connections beyond the per-source limit")
        ln = next(x for x in ov.router_log("s2").splitlines() if "connections without a first message" in x)
        print(f"  s2: {ln.split('] ')[-1]}")
        assert OUTSIDER in ln and ": 64 connections" in ln, ln
        during = router_fds(ov, "s2")
        t0 = time.monotonic()
        for client, server, n in (("s1-n1", "s2-n1", 3), ("s1-n2", "s2-n1", 2)):
            for _ in range(n):
                traffic_ok(ov, label, client=client, server=server, what="during the flood")
        print(f"  5 cross-site connections during the flood in {time.monotonic() - t0:.1f}s "
              f"(router s2 fds: {base_fds} before, {during} during)")
        res = flood_result(ov, p, OUTSIDER)
        print(f"  flood: {res}")
        assert res["connect_failed"] == 0, res
        assert res["reset"] >= 200 - 2 * 64, f"expected >= 72 of 200 reset beyond the per-source limit: {res}"
        assert res["open"] == 0, f"connections still held by the router after 15 s: {res}"
        assert "no complete first message within the header timeout" in ov.router_log("s2")
        # Released: relays and descriptors back to the baseline, and the same source is accepted again (a garbage
        # message gets its own "bad message prefix" line instead of a reset at accept).
        h.wait_until(lambda: router_fds(ov, "s2") <= base_fds + 2, 10,
                     f"router s2's descriptors back to {base_fds} (now {router_fds(ov, 's2')})")
        assert len(ov.status_json("s2")["relays"]) == base_relays
        r = send_raw(ov, [b"\x00" * 40], bind=OUTSIDER)[0]
        ln = wait_drop_line(ov, "s2", r["lport"], src_ip=OUTSIDER)
        assert "bad message prefix" in ln, ln
        traffic_ok(ov, label, what="after the flood")
        traffic_ok(ov, start_echo(ov, "s1-n1"), client="s2-n1", server="s1-n1", what="after the flood, s2 -> s1")
        assert link_up(ov, "s1", "s2") and link_up(ov, "s2", "s1")


def test_flood_from_router_address():
    """The same flood from s1-head's own WAN address (another user of the head node, or anyone behind the same NAT):
    both directions keep working during it (router s1's legs identify themselves at accept, so the per-source limit
    sheds the flood's oldest connections, never them), and the router recovers afterwards."""
    need_noise()
    with h.Overlay(tag="secflood2") as ov:
        label = start_echo(ov)
        label1 = start_echo(ov, "s1-n1")
        p = flood(ov, "10.91.0.1", secs=12)
        h.wait_until(lambda: "connections without a first message" in ov.router_log("s2"), 15,
                     "router s2 to reset connections beyond the per-source limit")
        # s2 -> s1: its legs go to s1's WAN listener, untouched by the flood.
        traffic_ok(ov, label1, client="s2-n1", server="s1-n1", what="s2 -> s1 during a flood from s1-head")
        # s1 -> s2: its legs come from 10.91.0.1, the flooding address, and count against the same limit.
        before = accepts(ov, label)
        r = ov.call("s1-n1", [h.PYTHON, PROGS, "hold", ov.vip_of("s2-n1"), str(PORT), "0"], timeout=40)
        out = r.stdout.decode().strip() or (r.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
        during_ok = out == "HOLDING" and accepts(ov, label) > before
        print(f"  s1 -> s2 during a flood from s1's own WAN address: {out!r}")
        res = flood_result(ov, p, "10.91.0.1")
        print(f"  flood: {res}")
        assert res["reset"] >= 200 - 2 * 64, res
        traffic_ok(ov, label, what="after the flood from s1-head")
        traffic_ok(ov, label1, client="s2-n1", server="s1-n1", what="s2 -> s1 after the flood")
        assert during_ok, f"s1 -> s2 failed during a flood from s1-head's own WAN address: {out!r}"


# ---- 7. no plaintext on the WAN ------------------------------------------------------------------------------------
def test_no_plaintext_on_wan():
    """A 1 MB known pattern over TCP and a datagram with a marker, s1-n1 -> s2-n1: neither marker appears anywhere in
    a capture of s1-head's WAN port; both appear in a capture of s2-head's port to s2-n1 (the control)."""
    tcp_marker, udp_marker = "UVPN-KNOWN-PLAINTEXT-", "UVPN-UDP-MARKER-"
    need_noise()
    h.require_tools("tshark")
    with h.Overlay(tag="secwan") as ov:
        hs = ov.run("s2-n1", [h.PYTHON, "-u", PROGS, "hashserver", "9100"], label="hashserver")
        ov.wait_listening("s2-n1", 9100, proc=hs)
        us = ov.run("s2-n1", [h.PYTHON, "-u", UDPPROGS, "echo", "9999"], label="udp-echo")
        h.wait_until(lambda: us.poll() is not None or "READY" in open(ov.log_path("udp-echo")).read(), 10,
                     "the UDP echo server")
        wan = Capture(ov, "s1-head", "wan0", "wan")
        lan = Capture(ov, "s2-head", "n1", "node")
        r = ov.call("s1-n1", [h.PYTHON, "-c", PATTERN_CLIENT, ov.vip_of("s2-n1"), "9100", tcp_marker,
                              str(1 << 20)], timeout=60)
        assert r.stdout.decode().strip() == "OK", f"pattern transfer: {r.stdout!r} {r.stderr[-1000:]!r}"
        r = ov.call("s1-n1", [h.PYTHON, "-c", UDP_CLIENT, ov.vip_of("s2-n1"), "9999", udp_marker], timeout=30)
        assert r.stdout.decode().strip() == "OK", f"UDP echo: {r.stdout!r} {r.stderr[-1000:]!r}"
        wan_raw, lan_raw = wan.stop(), lan.stop()
        wan_pkts = list(pcap_packets(wan_raw))
        wan_bytes = sum(len(p[5]) for p in wan_pkts)
        udp_wan = [p for p in wan_pkts if p[2] == "udp" and h.ROUTER_PEER_PORT in (p[3], p[4])]
        print(f"  WAN capture: {len(wan_pkts)} packets, {wan_bytes} payload bytes ({len(udp_wan)} UDP datagrams); "
              f"node capture: {len(lan_raw)} bytes")
        assert wan_bytes >= 1 << 20, "the capture missed the transfer: the WAN carried less than 1 MB"
        assert udp_wan, "no router-to-router datagram in the WAN capture"
        assert lan_raw.count(tcp_marker.encode()) > 1000, "control: the node capture lacks the TCP marker"
        assert udp_marker.encode() in lan_raw, "control: the node capture lacks the UDP marker"
        for m in (tcp_marker, udp_marker, "UVPN-KNOWN", "UDP-MARKER"):
            assert m.encode() not in wan_raw, f"plaintext {m!r} seen on the WAN"
        # Nor the virtual addresses of the connection in clear (the hop-1 header is sealed too).
        dst = bytes([100, 97, 2, 11]) + struct.pack(">H", 9100)
        assert not any(dst in p[5] for p in wan_pkts), "a clear CONN_HEADER (destination VIP and port) on the WAN"
        secret = secret_of(ov)
        assert secret not in wan_raw and secret.hex().encode() not in wan_raw, "the session secret on the WAN"
        assert ov.router_alive("s1") and ov.router_alive("s2")


if __name__ == "__main__":
    h.main([test_plaintext_open_relay, test_bad_first_messages, test_wrong_key_and_positive_control,
            test_replayed_link_init, test_replayed_leg_open, test_flood_and_slowloris, test_flood_from_router_address,
            test_no_plaintext_on_wan])
