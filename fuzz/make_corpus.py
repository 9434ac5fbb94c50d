#!/usr/bin/python3
# Writes the seed corpora of fuzz/corpus/ from the field tables of docs/protocol.md and the examples of
# docs/route-table.md. The wire seeds are built here with struct, independently of src/proto, so the unit test
# that decodes every valid_* seed also cross-checks the codec against the documented layout.
# Usage: /usr/bin/python3 fuzz/make_corpus.py   (rewrites fuzz/corpus/*; the output is committed)
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE = os.path.join(HERE, "corpus", "fuzz_wire")
ROUTES = os.path.join(HERE, "corpus", "fuzz_routes")


def prefix(t, flags, body):
    return struct.pack(">4sBBH", b"UVP1", t, flags, 8 + len(body)) + body


def ip(s):
    a, b, c, d = (int(x) for x in s.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


wire = {
    "valid_conn_header_hop0": prefix(1, 1, struct.pack(">IHIHBBHQ", 0, 0, ip("100.97.2.10"), 22, 6, 0, 0, 0)),
    "valid_conn_header_hop2": prefix(1, 0, struct.pack(">IHIHBBHQ", ip("100.97.1.10"), 40000, ip("100.97.2.10"),
                                                       6379, 6, 2, 0, 0x0102030405060708)),
    "valid_status_ok": prefix(2, 0, struct.pack(">HHI", 0, 0, 0)),
    "valid_status_refused": prefix(2, 0, struct.pack(">HHI", 1, 0, 0)),
    "valid_register": prefix(3, 0, struct.pack(">II", ip("100.97.1.10"), 4242) + b"alpha-10"),
    "valid_register_noname": prefix(3, 0, struct.pack(">II", 0, 1)),
    "valid_register_ok": prefix(4, 0, struct.pack(">IIIBBH", ip("100.97.1.10"), ip("10.91.1.10"),
                                                  ip("100.97.0.0"), 16, 5, 0) + b"alpha-10"),
    "valid_register_err": prefix(5, 0, struct.pack(">HH", 2, 0) + b"address 100.97.9.9 is outside site alpha"),
    "valid_heartbeat": prefix(6, 0, struct.pack(">II", 7, 0)),
    "valid_lookup": prefix(7, 0, struct.pack(">IIHH", 9, ip("10.91.1.10"), 51000, 7701)),
    "valid_lookup_reply": prefix(8, 0, struct.pack(">IBBHIHIHI", 9, 2, 0, 0, ip("100.97.1.10"), 51000,
                                                   ip("100.97.2.11"), 6379, 0)),
    "valid_lookup_reply_failed": prefix(8, 0, struct.pack(">IBBHIHIHI", 9, 3, 0, 4, 0, 0, 0, 0, 0)),
    "valid_hello": prefix(9, 0, struct.pack(">HB5s", 1, 5, b"") + b"alpha" + b"3f9c2a7e"),
    "valid_node_add": prefix(10, 0, struct.pack(">II", ip("100.97.1.10"), 0) + b"alpha-10"),
    "valid_node_del": prefix(11, 0, struct.pack(">I", ip("100.97.1.10"))),
}
# Host names (protocol.md section 8). Named names_valid_* (not valid_*): tests/unit/wire_names_test.cc checks these.
wire["names_valid_resolve"] = prefix(12, 0, struct.pack(">II", 0x01020304, 0) + b"beta-11.example")
wire["names_valid_resolve_addr"] = prefix(13, 0, struct.pack(">II", 0x11223344, ip("100.97.2.11")))
wire["names_valid_resolve_reply"] = prefix(14, 0, struct.pack(">IB3xI", 0x01020304, 0, ip("100.97.2.11"))
                                           + b"beta-11")
wire["names_valid_resolve_reply_missing"] = prefix(14, 0, struct.pack(">IB3xI", 0x11223344, 1, 0))
wire["names_resolve_bad_name"] = prefix(12, 0, struct.pack(">II", 1, 0) + b"bad name")
wire["names_pair_resolve_addr_twice"] = wire["names_valid_resolve_addr"] * 2
# The whole name table (protocol.md section 13). Named hosts_* (tests/unit/wire_hosts_test.cc checks hosts_valid_*).
wire["hosts_valid_list"] = prefix(24, 0, struct.pack(">II", 0x0A0B0C0D, ip("100.97.1.11")) + bytes(1184))
wire["hosts_valid_reply"] = prefix(25, 1, struct.pack(">IHH", 0x0A0B0C0D, 2, 0)
                                   + struct.pack(">IBB", ip("100.97.1.12"), 1, 5) + b"s1-12"
                                   + struct.pack(">IBB", ip("100.97.2.11"), 0, 13) + b"beta1.cluster")
wire["hosts_valid_reply_empty"] = prefix(25, 0, struct.pack(">IHH", 0x0A0B0C0D, 0, 0))
wire["hosts_bad_reply_order"] = prefix(25, 0, struct.pack(">IHH", 1, 2, 0) + struct.pack(">IBB", ip("100.97.2.11"), 0, 1)
                                       + b"b" + struct.pack(">IBB", ip("100.97.1.11"), 0, 1) + b"a")
wire["hosts_bad_list_padding"] = prefix(24, 0, struct.pack(">II", 1, 0) + bytes(1183) + b"\x01")
# Datagrams (protocol.md section 9). Named udp_* (tests/unit/wire_udp_test.cc checks udp_valid_*).
wire["udp_valid_hop0"] = prefix(15, 0, struct.pack(">IHIHB3x", 0, 0, ip("100.97.2.10"), 5201, 0) + b"hello")
wire["udp_valid_hop2"] = prefix(15, 0, struct.pack(">IHIHB3x", ip("100.97.1.10"), 40000, ip("100.97.2.10"),
                                                   5201, 2) + bytes(range(256)) * 4)
wire["udp_valid_empty"] = prefix(15, 0, struct.pack(">IHIHB3x", ip("100.97.1.10"), 1, ip("100.97.1.11"), 2, 1))
wire["udp_bad_hop"] = prefix(15, 0, struct.pack(">IHIHB3x", 0, 0, ip("100.97.2.10"), 5201, 3) + b"x")
wire["udp_truncated"] = wire["udp_valid_hop2"][:100]
# Outage recovery (protocol.md section 10). Named resume_* (tests/unit/wire_resume_test.cc checks resume_valid_*).
wire["resume_valid_conn_header_hop1"] = prefix(1, 2, struct.pack(">IHIHBBHQ", ip("100.97.1.10"), 40000,
                                                                  ip("100.97.2.10"), 22, 6, 1, 0, 0x0001000000000007))
wire["resume_valid_ack"] = prefix(16, 1, struct.pack(">QQ4xI", 0x0001000000000007, 123456, 0))
wire["resume_valid_ack_leg_lost"] = prefix(16, 2, struct.pack(">QQ4xI", 0x0002000000000009, 0, 3))
wire["resume_valid_resume"] = prefix(17, 1, struct.pack(">QQ4xI", 0x0001000000000007, 65536, 1))
wire["resume_valid_resume_ok"] = prefix(18, 0, struct.pack(">QQH2xI", 0x0001000000000007, 1 << 33, 0, 1))
wire["resume_valid_resume_ok_unknown"] = prefix(18, 0, struct.pack(">QQH2xI", 0x0001000000000007, 0, 5, 2))
wire["resume_valid_relay_reset"] = prefix(19, 0, struct.pack(">Q", 0x0001000000000007))
wire["resume_bad_resume_flag"] = prefix(17, 2, struct.pack(">QQ4xI", 1, 1, 1))
wire["resume_pair_acks"] = wire["resume_valid_ack"] + wire["resume_valid_ack_leg_lost"]
# A few seeds that are not single valid messages: two back to back, a truncation, a bad magic.
wire["pair_conn_header_then_data"] = wire["valid_conn_header_hop2"] + b"GET / HTTP/1.0\r\n\r\n"
wire["truncated_register_ok"] = wire["valid_register_ok"][:20]
wire["bad_magic"] = b"SSH-2.0-OpenSSH_9.2\r\n"

example = """# uvpn route table
uvpn-route 1
session 3f9c2a7e
network 100.97.0.0/16
site alpha subnet=100.97.1.0/24 peer=10.91.0.1:7700 node=10.91.1.1:7701
site beta  subnet=100.97.2.0/24 peer=10.91.0.2:7700 node=10.91.2.1:7701
"""
routes = {
    "example": example,
    "variants": "\r\n# comment\r\n\tuvpn-route\t1 # v\r\nnetwork 10.0.0.0/8\nsession A_b-9\n"
                "site x node=1.2.3.4:65535 peer=1.2.3.4:1 subnet=10.255.255.252/30#c\n"
                "site y subnet=10.0.0.0/9 peer=0.0.0.0:7 node=255.255.255.255:8",
    "three_sites": example + "site gamma_3 subnet=100.97.128.0/17 peer=10.91.0.3:7700 node=10.91.3.1:7701\n",
    "err_outside": example.replace("100.97.2.0/24", "100.98.2.0/24"),
    "err_overlap": example.replace("100.97.2.0/24", "100.97.0.0/23"),
    "err_duplicate": example.replace("site beta ", "site alpha "),
    "err_missing_key": example.replace(" node=10.91.2.1:7701", ""),
    "err_port": example.replace(":7700", ":0", 1),
}

os.makedirs(WIRE, exist_ok=True)
os.makedirs(ROUTES, exist_ok=True)
for name, data in wire.items():
    with open(os.path.join(WIRE, name), "wb") as f:
        f.write(data)
for name, text in routes.items():
    with open(os.path.join(ROUTES, name), "w") as f:
        f.write(text)
print(f"wrote {len(wire)} wire seeds and {len(routes)} route seeds")

# Security layer (protocol.md section 11), fuzz/fuzz_seal.cc. Real handshake messages are made with the independent
# reference tests/unit/noise_ref.py (needs python3-cryptography), with fixed ephemerals so the output is stable, and
# with a psk (all 0x5a) that is NOT fuzz_seal's: the target's responder must refuse every first message it sees.
import hashlib  # noqa: E402
import sys  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "tests", "unit"))
import noise_ref  # noqa: E402

SEAL = os.path.join(HERE, "corpus", "fuzz_seal")
SEED_PSK = b"\x5a" * 32
E_INIT = bytes.fromhex("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a")
E_RESP = bytes.fromhex("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b")


def link_init(site, session, offer=1):
    clear = prefix(20, 0, struct.pack(">HB5s", 1, len(site), b"") + site + session + bytes(49))[:16 + len(site)
                                                                                                + len(session)]
    i = noise_ref.Handshake(True, SEED_PSK, clear, E_INIT)
    return clear + i.write_first(bytes([offer])), i


def seal(key, counter, ad, pt):
    return noise_ref.transport_seal(key, counter, ad, pt)


seal_seeds = {}
seal_seeds["link_init"], init_hs = link_init(b"alpha", b"3f9c2a7e", 3)
seal_seeds["link_init_max"], _ = link_init(b"s" * 32, b"S" * 64)
seal_seeds["link_init_min"], _ = link_init(b"a", b"b")
seal_seeds["link_init_bad_site"], _ = link_init(b"al.ha", b"3f9c2a7e")
resp = noise_ref.Handshake(False, SEED_PSK, seal_seeds["link_init"][:29], E_RESP)
resp.read_first(seal_seeds["link_init"][29:])
seal_seeds["link_resp"] = prefix(21, 0, resp.write_second(b"\x01"))
init_hs.read_second(seal_seeds["link_resp"][8:])
c1, c2, exporter, link_id = init_hs.session()
# Records: the initiator's first HEARTBEAT, and an empty record (authenticated end of stream).
hb = wire["valid_heartbeat"]
seal_seeds["record_heartbeat"] = struct.pack(">H", len(hb) + 16) + seal(c1, 0, struct.pack(">H", len(hb) + 16), hb)
seal_seeds["record_empty"] = b"\x00\x10" + seal(c1, 1, b"\x00\x10", b"")
# LEG_OPEN with a sealed hop-1 CONN_HEADER (key: any 32 bytes will do for a seed), and leg number 0 (bad).
leg_key = hashlib.blake2b(b"uvpn leg\x00\x00" + struct.pack(">Q", 1) + b"d", key=exporter, digest_size=32).digest()
head = prefix(22, 0, struct.pack(">QQ", link_id, 1) + bytes(48))[:24]
seal_seeds["leg_open"] = head + seal(leg_key, 0, head, wire["resume_valid_conn_header_hop1"])
head0 = prefix(22, 0, struct.pack(">QQ", link_id, 0) + bytes(48))[:24]
seal_seeds["leg_open_leg0"] = head0 + seal(leg_key, 0, head0, wire["resume_valid_conn_header_hop1"])
# UDP_SEALED with a sealed UDP_DATA, and its header alone.
inner = wire["udp_valid_hop0"]
uhead = prefix(23, 0, struct.pack(">QQ", link_id, 7) + bytes(len(inner) + 16))[:24]
seal_seeds["udp_sealed"] = uhead + seal(b"\x11" * 32, 7, uhead, inner)
seal_seeds["udp_sealed_header_only"] = uhead
# Replay-window driver: (mode, value) steps -- forward, back, jumps, absolute, top of the counter space.
seal_seeds["replay_steps"] = bytes([0, 0, 1, 0, 0, 5, 1, 0, 2, 1, 0, 2, 2, 0, 100, 1, 0, 64, 1, 16, 0,
                                    3, 0, 7, 4, 0, 0, 4, 0, 1, 1, 0, 1, 0, 0, 0])

os.makedirs(SEAL, exist_ok=True)
for name, data in seal_seeds.items():
    with open(os.path.join(SEAL, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seal_seeds)} seal seeds")
