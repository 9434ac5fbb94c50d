#!/usr/bin/python3
"""Hostile nodes and other users of a node against the node side of the security design (docs/security.md "Node
side", src/proto/auth.h): unsigned, wrongly signed, replayed and stale REGISTERs and hop-0 CONN_HEADERs, a node
claiming another's address, headers for unregistered addresses, another user of a node without the key, and a
forged hop-2 header sent straight to a server under `uvpn run` (preload library and ptrace monitor).

Theory of operation: the attacks come from raw programs in a node's (or s2-head's) namespace without the shim
(overlay=False): the nodeauth.py agent holds TCP connections and answers one JSON line per command, so a test can
keep a registration open while it sends headers. Messages are built test-side by nodeauth.py, from the session
secret that `uvpn session new` wrote beside the route file; every refusal has its positive control with the right
key (a REGISTER_OK whose mac verifies, a hop-0 header that carries echoed bytes, a hop-2 header the shim takes), so
a refusal cannot pass by accident. Router log lines are matched by the attacker's real address and local port.
Listeners on s2-n1 are netprogs `aserver` under `uvpn run` (one "PEER ip port" line per accepted connection, the
peer as the application sees it). Every test ends with both routers alive and a real cross-site connection under
`uvpn run` carrying 64 KiB echoed and compared. Every wait is bounded; the whole file runs in well under a minute.
"""
import ast
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import nodeauth as na  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, "netprogs.py")
NODEAUTH = os.path.join(HERE, "nodeauth.py")
NODE1 = ("10.91.1.1", h.ROUTER_NODE_PORT)  # s1's node endpoint
PORT = 9000        # aserver under the shim on s2-n1
TRACE_PORT = 9002  # aserver under --mode ptrace on s2-n1
RAW_PORT = 9001    # a plain listener (no shim) on s1-n1's real address


# ---- helpers ------------------------------------------------------------------------------------------------------
def keys(ov):
    """(secret, node key) of the overlay's session."""
    secret = na.load_secret(os.path.join(ov.dir, f".uvpn_secret_{ov.session}"))
    return secret, na.node_key(secret)


def agent(ov, host, label):
    p = ov.run(host, [h.PYTHON, "-u", NODEAUTH, "agent"], overlay=False, label=label, stdin=subprocess.PIPE,
               stdout=subprocess.PIPE)
    return na.Agent(p)


def start_echo(ov, host="s2-n1", port=PORT, mode=None):
    """netprogs aserver on host:port under `uvpn run` (with --mode when given); returns its log label."""
    label = f"echo-{host}-{port}"
    if mode is None:
        p = ov.run(host, [h.PYTHON, "-u", PROGS, "aserver", str(port)], label=label)
    else:
        argv = [h.uvpn_bin(), "run", "--routes", ov.routes, "--site", ov.site_of(host), "--vip", ov.vip_of(host),
                "--shim", h.shim_lib(), "--mode", mode, "--", h.PYTHON, "-u", PROGS, "aserver", str(port)]
        p = ov.run(host, argv, overlay=False, label=label)
    ov.wait_listening(host, port, proc=p)
    return label


def peers(ov, label):
    """The "PEER ip port" lines of an aserver log, as (ip, port)."""
    with open(ov.log_path(label), errors="replace") as f:
        return [tuple(ln.split()[1:3]) for ln in f if ln.startswith("PEER ")]


def hold_lease(ov, host, name=None):
    """A long-lived `uvpn run` on host, so it keeps its lease; waits until its router lists it."""
    ov.run(host, ["sleep", "600"], label=f"holder-{host}", name=name)
    site = ov.site_of(host)
    h.wait_until(lambda: node(ov, site, ov.vip_of(host)), 10, f"the lease of {host}")


def node(ov, site, vip):
    for n in ov.status_json(site)["nodes"]:
        if n["vip"] == vip:
            return n
    return None


def traffic_ok(ov, label, what=""):
    """Both routers alive, and a new connection s1-n1 -> s2-n1 under `uvpn run` carries 64 KiB echoed intact,
    logged by the listener with s1-n1's virtual address."""
    assert ov.router_alive("s1") and ov.router_alive("s2"), f"a router died {what}"
    before = len(peers(ov, label))
    r = ov.call("s1-n1", [h.PYTHON, PROGS, "hold", ov.vip_of("s2-n1"), str(PORT), "0"], timeout=40)
    out = r.stdout.decode().strip()
    assert out == "HOLDING", f"cross-site connection {what}: {out!r} {r.stderr.decode(errors='replace')[-1000:]}"
    h.wait_until(lambda: len(peers(ov, label)) > before, 5, f"the listener to log the connection {what}")
    assert peers(ov, label)[-1][0] == ov.vip_of("s1-n1"), f"{what}: {peers(ov, label)[-1]}"
    assert ov.router_alive("s1") and ov.router_alive("s2"), f"a router died {what}"


def log_line(ov, site, *needles, timeout=5):
    """Waits for a line of the router's log containing every needle; returns it (without the timestamp part)."""
    def find():
        for ln in ov.router_log(site).splitlines():
            if all(n in ln for n in needles):
                return ln
        return None
    ln = h.wait_until(find, timeout, f"router {site} to log {needles}")
    return ln.split("] ", 1)[-1]


def register_once(ag, msg, cid, keep=False):
    """Sends a REGISTER on a new connection from the agent; returns (reply bytes or None, lport, end)."""
    r = ag.cmd(op="open", id=cid, host=NODE1[0], port=NODE1[1], send=msg.hex())
    assert "error" not in r, r
    m = ag.cmd(op="msg", id=cid, timeout=5)
    if not keep:
        ag.cmd(op="close", id=cid)
    if "msg" in m:
        return bytes.fromhex(m["msg"]), r["lport"], None
    return None, r["lport"], m["end"]


def expect_register_err(ov, ag, msg, cid, code, why, src):
    reply, lport, end = register_once(ag, msg, cid)
    assert reply is not None, f"{cid}: no REGISTER_ERR (connection {end})"
    d = na.parse_reply(reply)
    assert not d["ok"] and d["code"] == code and why in d["text"], f"{cid}: {d}"
    ln = log_line(ov, "s1", f"{src}:{lport}")
    print(f"  {cid}: REGISTER_ERR {d['code']} {d['text']!r}; s1: {ln}")
    return d, ln


def header_once(ag, cid, hdr, dst=NODE1, bind=None, data=None, timeout=5):
    """Opens a connection, sends a header; if WANT_STATUS, reads the STATUS. With `data` (after STATUS 0) sends it and
    reads its echo. Returns dict(lport, status, echo, end)."""
    kw = {"bind": bind} if bind else {}
    r = ag.cmd(op="open", id=cid, host=dst[0], port=dst[1], send=hdr.hex(), **kw)
    assert "error" not in r, r
    out = {"lport": r["lport"], "status": None, "echo": None, "end": None}
    if hdr[5] & na.WANT_STATUS:
        m = ag.cmd(op="msg", id=cid, timeout=timeout)
        if "msg" in m:
            out["status"] = na.status_code(bytes.fromhex(m["msg"]))
        else:
            out["end"] = m["end"]
    if data is not None and out["status"] in (0, None) and out["end"] is None:
        ag.cmd(op="send", id=cid, data=data.hex())
        e = ag.cmd(op="read", id=cid, n=len(data), timeout=timeout)
        out["echo"] = bytes.fromhex(e["got"])
        out["end"] = e["end"]
    elif out["status"] not in (None, 0) or not hdr[5] & na.WANT_STATUS:
        e = ag.cmd(op="read", id=cid, n=1, timeout=timeout)  # what follows: the router closes (reset)
        out["end"] = e["end"] if not e["got"] else "data:" + e["got"]
    ag.cmd(op="close", id=cid)
    return out


def signed_registration(ov, nk, ag, cid="lease", host="s1-n2"):
    """Registers `host` (the agent's node) with a signed REGISTER and keeps it (heartbeats); returns (vip, real,
    lease key)."""
    msg, nonce = na.register(nk, want_vip=ov.vip_of(host), name=b"attacker-" + host.encode())
    reply, _, end = register_once(ag, msg, cid, keep=True)
    assert reply is not None and na.register_ok_mac_ok(nk, nonce, reply), f"registration {cid}: {reply} {end}"
    d = na.parse_reply(reply)
    assert d["ok"] and d["vip"] == ov.vip_of(host) and d["real"] == ov.real_ip(host), d
    ag.cmd(op="keepalive", id=cid, every=2)
    return d["vip"], d["real"], na.lease_key(nk, d["vip"], d["real"])


# ---- 1. missing MAC ----------------------------------------------------------------------------------------------
def test_register_without_mac():
    with h.Overlay(tag="nauth1") as ov:
        label = start_echo(ov)
        traffic_ok(ov, label, "before")
        ag = agent(ov, "s1-n2", "agent-s1-n2")
        src = ov.real_ip("s1-n2")
        for what, name in (("plain", b""), ("plain-named", b"intruder")):
            msg, _ = na.register(None, name=name)
            _, ln = expect_register_err(ov, ag, msg, what, 6, "without authentication", src)
            assert "REGISTER without authentication" in ln, ln
        # The flag alone with no trailer does not parse as a signed REGISTER: refused (REGISTER_ERR or dropped).
        plain, _ = na.register(None)
        flagged = plain[:5] + bytes([na.AUTH]) + plain[6:]
        reply, lport, end = register_once(ag, flagged, "flag-only")
        ln = log_line(ov, "s1", f"{src}:{lport}")
        print(f"  flag without trailer: {na.parse_reply(reply) if reply else end}; s1: {ln}")
        assert reply is None or not na.parse_reply(reply)["ok"], reply
        assert node(ov, "s1", ov.vip_of("s1-n2")) is None, "an unsigned REGISTER got a lease"
        assert f"-> {src} " not in ov.router_log("s1"), "a lease was added for an unsigned REGISTER"
        traffic_ok(ov, label, "after unsigned REGISTERs")


# ---- 2. wrong MAC ------------------------------------------------------------------------------------------------
def test_register_wrong_mac():
    with h.Overlay(tag="nauth2") as ov:
        label = start_echo(ov)
        _, nk = keys(ov)
        ag = agent(ov, "s1-n2", "agent-s1-n2")
        src = ov.real_ip("s1-n2")
        other = na.node_key(os.urandom(32))
        msg, _ = na.register(other, want_vip=ov.vip_of("s1-n2"))
        _, ln = expect_register_err(ov, ag, msg, "other-secret", 6, "failed authentication", src)
        assert "REGISTER failed authentication" in ln, ln
        # The right key, one bit of the signed part changed after signing (want_vip): the mac no longer matches.
        good, _ = na.register(nk, want_vip=ov.vip_of("s1-n2"))
        bent = bytearray(good)
        bent[11] ^= 1
        expect_register_err(ov, ag, bytes(bent), "altered", 6, "failed authentication", src)
        # The secret itself used as the key (not the derived node key): also wrong.
        secret, _ = keys(ov)
        msg, _ = na.register(secret)
        expect_register_err(ov, ag, msg, "raw-secret", 6, "failed authentication", src)
        assert node(ov, "s1", ov.vip_of("s1-n2")) is None, "a wrongly signed REGISTER got a lease"
        # Positive control: the same node, the right key -> REGISTER_OK with a mac over our nonce.
        msg, nonce = na.register(nk, want_vip=ov.vip_of("s1-n2"))
        reply, _, end = register_once(ag, msg, "right")
        assert reply is not None and na.parse_reply(reply)["ok"], (reply, end)
        assert na.register_ok_mac_ok(nk, nonce, reply), "REGISTER_OK's mac does not verify with the node key"
        traffic_ok(ov, label, "after wrongly signed REGISTERs")


# ---- 3. replayed and stale registration --------------------------------------------------------------------------
def test_register_replay_and_stale():
    with h.Overlay(tag="nauth3") as ov:
        label = start_echo(ov)
        _, nk = keys(ov)
        ag = agent(ov, "s1-n2", "agent-s1-n2")
        src = ov.real_ip("s1-n2")
        msg, nonce = na.register(nk, want_vip=ov.vip_of("s1-n2"), name=b"replayed")
        reply, _, end = register_once(ag, msg, "first")
        assert reply is not None, f"no answer to a signed REGISTER ({end})"
        d = na.parse_reply(reply)
        assert d["ok"] and d["vip"] == ov.vip_of("s1-n2") and d["real"] == src and d["name"] == "replayed", d
        assert na.register_ok_mac_ok(nk, nonce, reply), "REGISTER_OK's mac does not verify"
        assert not na.register_ok_mac_ok(nk, os.urandom(16), reply), "REGISTER_OK's mac is not bound to the nonce"
        assert not na.register_ok_mac_ok(na.node_key(os.urandom(32)), nonce, reply)
        print(f"  first: REGISTER_OK {d['vip']} ({d['name']}), mac verifies with nk and our nonce")
        log_line(ov, "s1", f"lease add {d['vip']} -> {src}")
        h.wait_until(lambda: node(ov, "s1", d["vip"]) is None, 5, "the lease to end with its connection")
        _, ln = expect_register_err(ov, ag, msg, "replay", 6, "replayed", src)
        assert "REGISTER replayed" in ln, ln
        now = na.now_ms()
        for what, ts in (("stale", now - 120_000), ("future", now + 120_000)):
            m, _ = na.register(nk, want_vip=ov.vip_of("s1-n2"), ts_ms=ts)
            _, ln = expect_register_err(ov, ag, m, what, 6, "timestamp", src)
            assert "timestamp outside 60 s" in ln, ln
        # Inside the window is fine (clock skew of 30 s).
        m, n2 = na.register(nk, want_vip=ov.vip_of("s1-n2"), ts_ms=now - 30_000)
        reply, _, _ = register_once(ag, m, "skewed")
        assert reply is not None and na.parse_reply(reply)["ok"] and na.register_ok_mac_ok(nk, n2, reply), reply
        traffic_ok(ov, label, "after replayed and stale REGISTERs")


# ---- 4. claiming another node's address --------------------------------------------------------------------------
def test_claim_other_address():
    with h.Overlay(tag="nauth4") as ov:
        label = start_echo(ov)
        hold_lease(ov, "s1-n1", name="victim")
        _, nk = keys(ov)
        victim = ov.vip_of("s1-n1")
        before = node(ov, "s1", victim)
        assert before and before["real"] == ov.real_ip("s1-n1"), before
        ag = agent(ov, "s1-n2", "agent-s1-n2")
        src = ov.real_ip("s1-n2")
        msg, _ = na.register(nk, want_vip=victim, name=b"thief")
        _, ln = expect_register_err(ov, ag, msg, "claim", 2, "leased to another node", src)
        assert "refused" in ln and victim in ln, ln
        # The site's reserved addresses (network, router) are no node addresses either.
        for vip in ("100.97.1.0", "100.97.1.1", "100.97.2.11"):
            msg, _ = na.register(nk, want_vip=vip)
            d, _ = expect_register_err(ov, ag, msg, f"claim-{vip}", 2, "", src)
        # Unsigned, it does not even get that far.
        msg, _ = na.register(None, want_vip=victim)
        expect_register_err(ov, ag, msg, "claim-unsigned", 6, "without authentication", src)
        after = node(ov, "s1", victim)
        assert after == before or (after["real"], after["name"]) == (before["real"], before["name"]), (before, after)
        assert node(ov, "s1", ov.vip_of("s1-n2")) is None
        # And the name of s1-n1 cannot be taken either.
        msg, _ = na.register(nk, name=before["name"].encode())
        reply, lport, end = register_once(ag, msg, "claim-name")
        ln = log_line(ov, "s1", f"{src}:{lport}")
        print(f"  claim name {before['name']!r}: {na.parse_reply(reply) if reply else end}; s1: {ln}")
        assert reply is not None and not na.parse_reply(reply)["ok"], reply
        assert node(ov, "s1", victim)["real"] == ov.real_ip("s1-n1")
        traffic_ok(ov, label, "after claims on s1-n1's address")


# ---- 5. hop-0 headers from a node that holds a lease -------------------------------------------------------------
def test_hop0_header_auth():
    with h.Overlay(tag="nauth5") as ov:
        label = start_echo(ov)
        traffic_ok(ov, label, "before")
        _, nk = keys(ov)
        ag = agent(ov, "s1-n2", "agent-s1-n2")
        src = ov.real_ip("s1-n2")
        vip, real, lk = signed_registration(ov, nk, ag)
        dst_vip = ov.vip_of("s2-n1")

        def hdr(**kw):
            return na.conn_header(dst_vip, PORT, src_vip=vip, **kw)

        # Positive control: the right tag; bytes echoed; the listener sees our virtual address.
        good = hdr(lk=lk)
        n0 = len(peers(ov, label))
        data = os.urandom(4096)
        r = header_once(ag, "good", good, data=data)
        assert r["status"] == 0 and r["echo"] == data, f"signed header: {r}"
        h.wait_until(lambda: len(peers(ov, label)) > n0, 5, "the listener to log the signed connection")
        assert peers(ov, label)[-1][0] == vip, peers(ov, label)[-1]
        print(f"  right tag: STATUS 0, 4 KiB echoed, listener saw {peers(ov, label)[-1][0]}")
        n1 = len(peers(ov, label))

        now = na.now_ms()
        cases = [
            ("no MAC", hdr(), "CONN_HEADER without a MAC"),
            ("garbage tag", hdr(tag=os.urandom(16)), "CONN_HEADER failed authentication"),
            ("key of another secret", hdr(lk=na.lease_key(na.node_key(os.urandom(32)), vip, real)),
             "CONN_HEADER failed authentication"),
            ("node key instead of lease key", hdr(lk=nk), "CONN_HEADER failed authentication"),
            ("key of another lease", hdr(lk=na.lease_key(nk, ov.vip_of("s1-n1"), ov.real_ip("s1-n1"))),
             "CONN_HEADER failed authentication"),
            ("stale timestamp", hdr(lk=lk, ts_ms=now - 45_000), "CONN_HEADER timestamp outside 30 s"),
            ("future timestamp", hdr(lk=lk, ts_ms=now + 45_000), "CONN_HEADER timestamp outside 30 s"),
            ("replayed", good, "CONN_HEADER replayed"),
        ]
        for what, b, why in cases:
            r = header_once(ag, what, b, data=b"x" * 16)
            ln = log_line(ov, "s1", f"from {src}:{r['lport']}", "failed")
            print(f"  {what}: STATUS {r['status']}, then {r['end']}; s1: {ln}")
            assert r["status"] == 6 and r["echo"] is None, f"{what}: {r}"
            assert "EACCES" in ln and why in ln, f"{what}: {ln}"
        # Without WANT_STATUS a refused header gets no STATUS: the connection is reset, nothing is read.
        for what, b, why in (("no MAC, no WANT_STATUS", hdr(flags=0), "without a MAC"),
                             ("garbage tag, no WANT_STATUS", hdr(flags=0, tag=os.urandom(16)), "failed auth")):
            r = header_once(ag, what, b)
            ln = log_line(ov, "s1", f"from {src}:{r['lport']}", "failed")
            print(f"  {what}: {r['end']}; s1: {ln}")
            assert r["end"] in ("reset", "closed"), f"{what}: {r}"
            assert why in ln, ln
        # A fresh signed header again works after all that (a new nonce), and nothing else reached the listener.
        r = header_once(ag, "good-again", hdr(lk=lk), data=data)
        assert r["status"] == 0 and r["echo"] == data, f"signed header after the attacks: {r}"
        h.wait_until(lambda: len(peers(ov, label)) > n1, 5, "the listener to log the second signed connection")
        assert len(peers(ov, label)) == n1 + 1, f"refused headers reached the listener: {peers(ov, label)[n1:]}"
        assert node(ov, "s1", vip)["real"] == real, "the attacker's own lease was lost"
        traffic_ok(ov, label, "after the hop-0 header attacks")
        ag.cmd(op="close", id="lease")


# ---- 6. unregistered destinations; another user of a node --------------------------------------------------------
def test_unregistered_destination_and_other_user():
    with h.Overlay(tag="nauth6") as ov:
        label = start_echo(ov)
        raw_label = "raw-s1-n1"
        rawp = ov.run("s1-n1", [h.PYTHON, "-u", PROGS, "aserver", str(RAW_PORT)], overlay=False, label=raw_label)
        ov.wait_listening("s1-n1", RAW_PORT, proc=rawp)
        hold_lease(ov, "s1-n1")
        _, nk = keys(ov)
        ag = agent(ov, "s1-n2", "agent-s1-n2")
        src = ov.real_ip("s1-n2")
        vip, real, lk = signed_registration(ov, nk, ag)
        n0 = len(peers(ov, label))
        cases = [
            # (what, dst ip, port, site whose router refuses, its reason)
            ("unleased VIP in s2's subnet", "100.97.2.99", PORT, "s2", "destination has no lease"),
            ("unleased VIP in s1's subnet", "100.97.1.99", RAW_PORT, "s1", "destination has no lease"),
            ("s2-n1's real address", ov.real_ip("s2-n1"), PORT, "s1", "destination is in no site's subnet"),
            ("s1-n1's real address", ov.real_ip("s1-n1"), RAW_PORT, "s1", "destination is in no site's subnet"),
            ("s1-head's real address", "10.91.1.1", h.ROUTER_NODE_PORT, "s1", "destination is in no site's subnet"),
        ]
        for what, ip, port, site, why in cases:
            r = header_once(ag, what, na.conn_header(ip, port, lk=lk, src_vip=vip))
            ln = log_line(ov, site, f"-> {ip}:{port} failed", why)
            print(f"  {what} ({ip}:{port}): STATUS {r['status']}, then {r['end']}; {site}: {ln}")
            assert r["status"] == 2, f"{what}: {r}"
            for s in ("s1", "s2"):  # a router connects only to its peer router's WAN listener for it
                for x in ov.router_log(s).splitlines():
                    if f"-> {ip}:{port}: connecting to" in x:
                        assert x.endswith("connecting to 10.91.0.2:7700") and s == "s1", f"{what}: {x}"
        time.sleep(0.5)
        assert peers(ov, raw_label) == [], f"a router connected to a plain listener: {peers(ov, raw_label)}"
        assert len(peers(ov, label)) == n0, f"a refused header reached s2-n1: {peers(ov, label)[n0:]}"

        # Another user of s1-n1 (which holds a lease through `uvpn run`) without the lease key.
        other = agent(ov, "s1-n1", "agent-s1-n1")
        osrc = ov.real_ip("s1-n1")
        ovip = ov.vip_of("s1-n1")
        dst = ov.vip_of("s2-n1")
        tries = [
            ("other user, no MAC", na.conn_header(dst, PORT, src_vip=ovip), "CONN_HEADER without a MAC"),
            ("other user, garbage tag", na.conn_header(dst, PORT, src_vip=ovip, tag=os.urandom(16)),
             "CONN_HEADER failed authentication"),
            ("other user, s1-n2's lease key", na.conn_header(dst, PORT, src_vip=ovip, lk=lk),
             "CONN_HEADER failed authentication"),
            ("other user, garbage tag, no WANT_STATUS",
             na.conn_header(dst, PORT, src_vip=ovip, tag=os.urandom(16), flags=0), "CONN_HEADER failed auth"),
        ]
        for what, b, why in tries:
            r = header_once(other, what, b, data=b"y" * 16)
            ln = log_line(ov, "s1", f"from {osrc}:{r['lport']}", "failed")
            print(f"  {what}: STATUS {r['status']}, then {r['end']}; s1: {ln}")
            assert not r["echo"] and (r["status"] == 6 or (r["status"] is None and r["end"] in ("reset", "closed"))), r
            assert why in ln and "EACCES" in ln, ln
        time.sleep(0.5)
        assert len(peers(ov, label)) == n0, f"another user's connection reached s2-n1: {peers(ov, label)[n0:]}"
        # Positive control from the same raw program: with s1-n1's lease key it is let through.
        olk = na.lease_key(nk, ovip, osrc)
        data = os.urandom(2048)
        r = header_once(other, "with s1-n1's key", na.conn_header(dst, PORT, src_vip=ovip, lk=olk), data=data)
        assert r["status"] == 0 and r["echo"] == data, r
        h.wait_until(lambda: len(peers(ov, label)) > n0, 5, "the listener to log the keyed connection")
        assert peers(ov, label)[-1][0] == ovip
        traffic_ok(ov, label, "after headers for unregistered destinations")
        ag.cmd(op="close", id="lease")


# ---- 7. forged hop-2 header straight to a node -------------------------------------------------------------------
def forge_hop2(ov, nk, port, label):
    """From s2-head (the router's own address), straight to s2-n1's listener on `port`: hop-2 headers claiming to
    come from s1-n1. Returns nothing; asserts the listener never reports s1-n1's virtual address for them, and that
    a correctly signed fresh one (positive control: the test holds the secret) is taken."""
    ag = agent(ov, "s2-head", f"agent-s2-head-{port}")
    claimed, dst = ov.vip_of("s1-n1"), ov.vip_of("s2-n1")
    dst_lk = na.lease_key(nk, dst, ov.real_ip("s2-n1"))
    target = (ov.real_ip("s2-n1"), port)

    def hop2(**kw):
        return na.conn_header(dst, port, hop=2, flags=0, src_vip=claimed, src_port=4444, relay_id=(1 << 48) | 77,
                              **kw)

    now = na.now_ms()
    forged = [
        ("plain hop 2", hop2()),
        ("hop 2, garbage tag", hop2(tag=os.urandom(16))),
        ("hop 2, key of another secret", hop2(lk=na.lease_key(na.node_key(os.urandom(32)), dst,
                                                              ov.real_ip("s2-n1")))),
        ("hop 2, the source's lease key", hop2(lk=na.lease_key(nk, claimed, ov.real_ip("s1-n1")))),
        ("hop 2, stale", hop2(lk=dst_lk, ts_ms=now - 45_000)),
    ]
    for what, b in forged:
        n = len(peers(ov, label))
        hello = b"hello-" + what.encode()
        r = header_once(ag, what, b + hello, dst=target, bind="10.91.2.1", timeout=4)
        # header_once read 1 byte (no WANT_STATUS): the echo of our first byte, or the end of the connection.
        h.wait_until(lambda: len(peers(ov, label)) > n or r["end"] in ("reset", "closed"), 5,
                     f"the listener to accept the {what} connection")
        got = peers(ov, label)[n:]
        print(f"  {what}: listener saw {got}, connection: {r['end']}")
        assert all(p[0] != claimed for p in got), f"{what}: the listener took the forged peer {claimed}: {got}"
        assert all(p[0] == "10.91.2.1" for p in got), f"{what}: {got}"
        if got:  # taken as a plain connection: the header's first byte comes back as data
            assert r["end"] == "data:" + b[:1].hex(), f"{what}: the header was consumed: {r}"
    # Positive control: the same from s2-head, signed with s2-n1's lease key and fresh -> taken, peer = claimed.
    n = len(peers(ov, label))
    r = header_once(ag, "signed", hop2(lk=dst_lk) + b"Z", dst=target, bind="10.91.2.1", timeout=4)
    h.wait_until(lambda: len(peers(ov, label)) > n, 5, "the listener to accept the signed hop-2 connection")
    print(f"  hop 2 signed with s2-n1's lease key: listener saw {peers(ov, label)[n:]}, echo {r['end']}")
    assert peers(ov, label)[n][0] == claimed and r["end"] == "data:" + b"Z".hex(), (peers(ov, label)[n:], r)


def test_hop2_forgery():
    with h.Overlay(tag="nauth7") as ov:
        _, nk = keys(ov)
        label = start_echo(ov)
        traffic_ok(ov, label, "before (positive control: the listener sees s1-n1's VIP)")
        forge_hop2(ov, nk, PORT, label)
        # The same against a server under the ptrace monitor.
        tlabel = start_echo(ov, port=TRACE_PORT, mode="ptrace")
        r = ov.call("s1-n1", [h.PYTHON, PROGS, "hold", ov.vip_of("s2-n1"), str(TRACE_PORT), "0"], timeout=40)
        assert r.stdout.decode().strip() == "HOLDING", r
        h.wait_until(lambda: peers(ov, tlabel), 5, "the ptrace listener to log the overlay connection")
        assert peers(ov, tlabel)[-1][0] == ov.vip_of("s1-n1"), peers(ov, tlabel)
        print(f"  under --mode ptrace: overlay connection seen as {peers(ov, tlabel)[-1][0]}")
        forge_hop2(ov, nk, TRACE_PORT, tlabel)
        traffic_ok(ov, label, "after the forged hop-2 headers")


# ---- 7b. the same peer address and port as a closed relay, seen by an exec'd child ------------------------------
# A server that hands each accepted connection to a program it executes (inetd style; sshd re-executes itself per
# connection): the child's shim has no cache entry for the socket, so getpeername() asks the router (LOOKUP).
EXEC_SERVER = r'''
import socket, subprocess, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1])))
srv.listen(16)
child = "import socket, sys; s = socket.socket(fileno=int(sys.argv[1])); print('CHILD', *s.getpeername(), flush=True)"
while True:
    c, a = srv.accept()
    print("ACCEPT", a[0], a[1], flush=True)
    subprocess.run([sys.executable, "-c", child, str(c.fileno())], pass_fds=[c.fileno()], timeout=20)
    c.close()
'''
# Under the shim on s1-n1: connect, wait, read to EOF (the server closes first, so the node keeps the TIME_WAIT).
HOLD_CLIENT = r'''
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
time.sleep(float(sys.argv[3]))
while s.recv(100):
    pass
print("DONE", flush=True)
'''
EXEC_PORT = 9003


def exec_lines(ov, label, what):
    with open(ov.log_path(label), errors="replace") as f:
        return [tuple(ln.split()[1:3]) for ln in f if ln.startswith(what + " ")]


def test_exec_child_after_port_reuse():
    """A user of s2-head (no secret) connects to a server on s2-n1 from the router's address and the source port of
    an overlay relay that has just closed. The server's own accept sees the head's real address (no signed header);
    the program it executes for the connection must see the same, not the closed relay's source VIP (the router
    forgets a leg 2's LOOKUP entry when the relay ends instead of keeping it frozen)."""
    with h.Overlay(tag="nauth7b") as ov:
        label = start_echo(ov)
        srv = ov.run("s2-n1", [h.PYTHON, "-u", "-c", EXEC_SERVER, str(EXEC_PORT)], label="execsrv")
        ov.wait_listening("s2-n1", EXEC_PORT, proc=srv)
        s1vip = ov.vip_of("s1-n1")
        cli = ov.run("s1-n1", [h.PYTHON, "-u", "-c", HOLD_CLIENT, ov.vip_of("s2-n1"), str(EXEC_PORT), "1.5"],
                     label="holdcli")
        h.wait_until(lambda: exec_lines(ov, "execsrv", "CHILD"), 10, "the exec'd child of the overlay connection")
        # What any user of s2-head can read (/proc/net/tcp): the router's leg 2 to the server.
        ss = subprocess.run(["nsenter", f"--net=/run/netns/{ov.ns('s2-head')}", "--", "ss", "-Htn", "dst",
                             f"{ov.real_ip('s2-n1')}:{EXEC_PORT}"], capture_output=True, text=True, timeout=10)
        legs = [ln.split()[3] for ln in ss.stdout.splitlines() if ln.split()[3].startswith("10.91.2.1:")]
        assert len(legs) == 1, f"expected the router's leg 2 in ss: {ss.stdout!r}"
        leg_port = int(legs[0].rsplit(":", 1)[1])
        cli.wait(timeout=20)
        assert exec_lines(ov, "execsrv", "ACCEPT")[0][0] == s1vip, exec_lines(ov, "execsrv", "ACCEPT")
        assert exec_lines(ov, "execsrv", "CHILD")[0][0] == s1vip, "control: the exec'd child did not see the VIP"
        log_line(ov, "s2", "closed (fwd")
        ag = agent(ov, "s2-head", "agent-s2-head")
        for attempt in range(10):  # the node's TIME_WAIT normally takes the new SYN; retry a little if not
            r = ag.cmd(op="open", id=f"reuse{attempt}", host=ov.real_ip("s2-n1"), port=EXEC_PORT, send="",
                       bind="10.91.2.1", bind_port=leg_port)
            if "error" not in r:
                break
            time.sleep(0.3)
        assert "error" not in r, f"could not reuse {leg_port}: {r}"
        h.wait_until(lambda: len(exec_lines(ov, "execsrv", "CHILD")) >= 2, 10, "the child of the reused port")
        acc, child = exec_lines(ov, "execsrv", "ACCEPT")[1], exec_lines(ov, "execsrv", "CHILD")[1]
        ag.cmd(op="close", id=f"reuse{attempt}")
        print(f"  overlay connection: router leg 2 from 10.91.2.1:{leg_port}; then the same port from a user of "
              f"s2-head: accept saw {acc}, the exec'd child saw {child}")
        assert acc == ("10.91.2.1", str(leg_port)), f"accept() took the reused port for an overlay peer: {acc}"
        lookups = [x.split("] ", 1)[-1] for x in ov.router_log("s2").splitlines() if f"router port {leg_port} " in x]
        traffic_ok(ov, label, "after the port reuse")
        assert child[0] == "10.91.2.1", (f"the exec'd child saw {child} for a connection from a user of s2-head "
                                         f"(router answered {lookups[-1] if lookups else '?'})")


LOOKUP_PROBE = r"""
import socket, struct, sys, time, hmac, hashlib
router, node_ip, lk_hex = sys.argv[1], sys.argv[2], sys.argv[3]
def ip(a): return struct.unpack("!I", socket.inet_aton(a))[0]
def lookup(qid, key):
    body = struct.pack("!IIHH", qid, ip(node_ip), 40000, 7701)
    if key is None:
        return b"UVP1" + struct.pack("!BBH", 7, 0, 20) + body
    msg = b"UVP1" + struct.pack("!BBH", 7, 4, 44) + body
    ts = struct.pack("!Q", int(time.time() * 1000))
    return msg + ts + hmac.new(key, msg + ts, hashlib.sha256).digest()[:16]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((node_ip, 0))
s.settimeout(1.0)
out = {}
for name, key in (("unsigned", None), ("wrong", b"\x01" * 32), ("signed", bytes.fromhex(lk_hex))):
    s.sendto(lookup(len(out) + 1, key), (router, 7701))
    try:
        out[name] = len(s.recv(100))
    except socket.timeout:
        out[name] = 0
print(out)
"""


def test_lookup_auth():
    """LOOKUP (protocol.md section 12): a router answers only a LOOKUP signed with the asking node's lease key, so
    another user of the node cannot learn the state of the node's connections; the signed one (positive control)
    is answered."""
    with h.Overlay(tag="nauth8") as ov:
        _, nk = keys(ov)
        holder = ov.run("s1-n2", ["sleep", "60"], label="lease-holder")  # `uvpn run` holds s1-n2's lease
        h.wait_until(lambda: any(n.get("vip") == ov.vip_of("s1-n2") for n in ov.status_json("s1")["nodes"]), 10,
                     "s1-n2's lease")
        lk = na.lease_key(nk, ov.vip_of("s1-n2"), ov.real_ip("s1-n2"))
        r = ov.call("s1-n2", [h.PYTHON, "-c", LOOKUP_PROBE, "10.91.1.1", ov.real_ip("s1-n2"), lk.hex()],
                    overlay=False, timeout=20)
        got = ast.literal_eval(r.stdout.decode().strip().splitlines()[-1])  # {'unsigned': n, ...} from the probe
        print(f"  LOOKUP answers (bytes): {got}")
        assert got["unsigned"] == 0 and got["wrong"] == 0, f"an unauthenticated LOOKUP was answered: {got}"
        assert got["signed"] == 32, f"a signed LOOKUP was not answered: {got}"
        ov.stop(holder)


if __name__ == "__main__":
    h.main([test_register_without_mac, test_register_wrong_mac, test_register_replay_and_stale,
            test_claim_other_address, test_hop0_header_auth, test_unregistered_destination_and_other_user,
            test_hop2_forgery, test_exec_child_after_port_reuse, test_lookup_auth])
