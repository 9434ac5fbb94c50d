#!/usr/bin/python3
"""UDP across sites through the overlay (docs/protocol.md section 9, docs/shim.md "UDP"): a Python echo checking
payloads (up to a 65000-byte datagram, which works) and the virtual source addresses both ends see, connected UDP,
AF_INET6 v4-mapped; iperf3 -u at a fixed rate with its loss; datagrams to an unleased VIP are dropped (counted in the
router's status) without harm, and so are datagrams while the WAN link is down; afterwards UDP works again."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
PROGS = os.path.join(HERE, "udpprogs.py")
PORT = 9999


def start_echo(ov, host, port, v6=False):
    srv = ov.run(host, [PY, "-u", PROGS, "echo", str(port)] + (["v6"] if v6 else []), label=f"udp-echo-{port}")
    log = ov.log_path(f"udp-echo-{port}")
    h.wait_until(lambda: srv.poll() is not None or "READY" in open(log, errors="replace").read(), 10,
                 "the UDP echo server")
    assert srv.poll() is None, open(log, errors="replace").read()
    return srv


def client(ov, host, target, port):
    r = ov.call(host, [PY, PROGS, "client", target, str(port)], timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def test_udp_echo_across_sites():
    with h.Overlay(tag="udp") as ov:
        start_echo(ov, "s2-n1", PORT)
        start_echo(ov, "s2-n2", PORT + 1, v6=True)
        for target, port in ((ov.vip_of("s2-n1"), PORT), (ov.vip_of("s2-n2"), PORT + 1)):
            res = client(ov, "s1-n1", target, port)
            assert res["ok"], res["errors"]
            me = ov.vip_of("s1-n1")
            for who in res["server_saw"]:
                assert who[0] in (me, "::ffff:" + me), f"server saw {who}, want {me}"
            assert res["server_saw"][0][1] == res["local_port"], res
            assert res["peer"] == [target, port], res
        # Same site too (no WAN hop).
        res = client(ov, "s2-n2", ov.vip_of("s2-n1"), PORT)
        assert res["ok"], res["errors"]
        assert res["server_saw"][0][0] == ov.vip_of("s2-n2"), res
        st = ov.status_json("s2")["udp"]
        assert st["rx"] > 0 and st["tx"] > 0, st


def test_unleased_vip_dropped():
    with h.Overlay(tag="udpdrop") as ov:
        start_echo(ov, "s2-n1", PORT)
        for target in ("100.97.2.99", "100.97.77.1"):  # unleased in s2; in no site
            r = ov.call("s1-n1", [PY, PROGS, "silent", target, str(PORT)], timeout=30)
            assert r.returncode == 0, r.stderr.decode(errors="replace")
            assert json.loads(r.stdout.decode().splitlines()[-1])["answers"] == 0
        assert ov.router_alive("s1") and ov.router_alive("s2")
        s1, s2 = ov.status_json("s1")["udp"], ov.status_json("s2")["udp"]
        assert s2["drop_no_lease"] >= 20, s2
        assert s1["drop_no_route"] >= 20, s1
        res = client(ov, "s1-n1", ov.vip_of("s2-n1"), PORT)  # everything still works
        assert res["ok"], res["errors"]


SEND_RAW = """
import socket, struct, sys
def hdr(src, sport, dst, dport, hop, n, length=None):
    ip = lambda a: struct.unpack("!I", socket.inet_aton(a))[0]
    return (b"UVP1" + struct.pack("!BBH", 15, 0, 24 + n if length is None else length)
            + struct.pack("!IHIHB3x", ip(src), sport, ip(dst), dport, hop))
to = (sys.argv[1], int(sys.argv[2]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for case in sys.argv[3:]:
    src, dst, dport, hop, length = case.split(",")
    s.sendto(hdr(src, 4000, dst, int(dport), int(hop), 5, int(length) if length else None) + b"spoof", to)
"""


def test_bad_datagrams_dropped():
    """Malformed and misaddressed datagrams are dropped and counted; a router vouches only for its own subnet."""
    with h.Overlay(tag="udpbad") as ov:
        start_echo(ov, "s2-n1", PORT)
        n1 = ov.vip_of("s2-n1")
        # From a node to its home router: wrong length, wrong hop (1 and 2 are for routers only).
        ov.call("s1-n1", [PY, "-c", SEND_RAW, "10.91.1.1", "7701", f"0.0.0.0,{n1},{PORT},0,40",
                          f"100.97.1.11,{n1},{PORT},1,", f"100.97.1.11,{n1},{PORT},2,"], check=True)
        # From router s1's WAN address to s2's WAN endpoint, in clear: the session is sealed (docs/protocol.md
        # section 11), so even a well-formed hop 1 from the right address is refused as unauthenticated.
        ov.call("s1-head", [PY, "-c", SEND_RAW, "10.91.0.2", "7700", f"100.97.1.11,{n1},{PORT},1,",
                            f"100.97.3.1,{n1},{PORT},1,"], overlay=False, check=True)
        # A forged UDP_SEALED (right type and length, a made-up link id and counter, random ciphertext).
        forged = ("import socket,os,struct; b=os.urandom(24+40); "
                  "d=struct.pack('>IBBH',0x55565031,23,0,24+len(b))+struct.pack('>QQ',1234,1)+b; "
                  "socket.socket(socket.AF_INET,socket.SOCK_DGRAM).sendto(d,('10.91.0.2',7700))")
        ov.call("s1-head", [PY, "-c", forged], overlay=False, check=True)
        h.wait_until(lambda: ov.status_json("s2")["udp"]["drop_auth"] >= 3, 5, "s2 drops counted")
        # From a leased node, a well-formed hop 0 without the AUTH trailer (docs/protocol.md section 12): another user
        # of that node, who has no lease key, cannot send datagrams as the node.
        ov.call("s1-n1", [PY, "-c", SEND_RAW, "10.91.1.1", "7701", f"0.0.0.0,{n1},{PORT},0,"], check=True)
        h.wait_until(lambda: ov.status_json("s1")["udp"]["drop_auth"] >= 1, 5, "s1 counts the unauthenticated hop 0")
        assert ov.status_json("s1")["udp"]["drop_malformed"] >= 3, ov.status_json("s1")["udp"]
        assert ov.status_json("s2")["udp"]["tx"] == 0, ov.status_json("s2")["udp"]
        assert ov.router_alive("s1") and ov.router_alive("s2")
        res = client(ov, "s1-n1", n1, PORT)
        assert res["ok"], res["errors"]


def test_link_down_drops():
    with h.Overlay(tag="udpcut") as ov:
        start_echo(ov, "s2-n1", PORT)
        target = ov.vip_of("s2-n1")
        ov.cut("s1", "s2")
        try:
            h.wait_until(lambda: not ov.links_up("s1"), 20, "link s1-s2 down")
            r = ov.call("s1-n1", [PY, PROGS, "silent", target, str(PORT)], timeout=30)
            assert r.returncode == 0, r.stderr.decode(errors="replace")
            assert json.loads(r.stdout.decode().splitlines()[-1])["answers"] == 0
            st = ov.status_json("s1")["udp"]
            assert st["drop_link_down"] >= 20, st
        finally:
            ov.restore("s1", "s2")
        ov.wait_links_up(timeout=30)
        res = client(ov, "s1-n1", target, PORT)
        assert res["ok"], res["errors"]


def test_iperf3_udp():
    h.require_tools("iperf3")
    with h.Overlay(tag="udpiperf") as ov:
        srv = ov.run("s2-n1", ["iperf3", "-s", "-p", "5201"], label="iperf3-server")
        ov.wait_listening("s2-n1", 5201, proc=srv)
        r = ov.call("s1-n1", ["iperf3", "-c", ov.vip_of("s2-n1"), "-p", "5201", "-u", "-b", "50M", "-t", "3", "-J"],
                    timeout=60)
        assert r.returncode == 0, f"iperf3 exited {r.returncode}: {r.stdout[-1500:]!r} {r.stderr[-1500:]!r}"
        res = json.loads(r.stdout)
        s = res["end"]["sum"]
        print(f"  iperf3 -u -b 50M: {s['bits_per_second'] / 1e6:.1f} Mbit/s, {s['packets']} packets, "
              f"lost {s['lost_packets']} ({s['lost_percent']:.2f}%), jitter {s['jitter_ms']:.3f} ms")
        assert s["packets"] > 1000, s
        assert s["lost_percent"] < 20, s
        st = ov.status_json("s1")["udp"]
        print(f"  router s1 udp: {st}")
        assert st["tx"] >= s["packets"] * 0.8, st


if __name__ == "__main__":
    h.main([test_udp_echo_across_sites, test_unleased_vip_dropped, test_bad_datagrams_dropped, test_link_down_drops,
            test_iperf3_udp])
