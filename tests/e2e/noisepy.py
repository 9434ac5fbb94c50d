"""The uvpn link messages around a test-side Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b initiator (docs/protocol.md
section 11), for the security e2e tests (test_security.py). The Noise part is tests/unit/noise_ref.py, the
independent reference implementation (python3-cryptography, hashlib) that the unit tests check against the C++
handshake and a published test vector.

Theory of operation: Initiator(psk, prologue) wraps noise_ref.Handshake: write_first() returns the 49-byte body (e,
one encrypted payload byte, tag); read_second(body) returns the responder's decrypted payload byte, or None if it
does not authenticate; split() gives (c1, c2, exporter, link id). link_init(site, session, psk) builds a whole
LINK_INIT (prefix, HELLO layout, body) and returns it with its Initiator. Nothing here touches the network.
"""
import hashlib
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit"))
import noise_ref  # noqa: E402

BODY_LEN = 32 + 1 + 16
T_LINK_INIT, T_LINK_RESP, T_LEG_OPEN = 20, 21, 22
LINK_RESP_LEN = 8 + BODY_LEN
SUITE_CHACHA = 1


def link_psk(secret, site1, site2):
    """psk = B(S, "uvpn link psk" 0 a 0 b, 32), a < b (byte order of the names)."""
    a, b = sorted([site1.encode(), site2.encode()])
    return hashlib.blake2b(b"uvpn link psk\x00" + a + b"\x00" + b, key=secret, digest_size=32).digest()


def load_secret(path):
    """The 32-byte session secret from a .uvpn_secret_<id> file (64 hex digits and a newline)."""
    with open(path) as f:
        text = f.read().strip()
    assert len(text) == 64, f"{path}: not 64 hex digits"
    return bytes.fromhex(text)


class Initiator:
    def __init__(self, psk, prologue):
        self.hs = noise_ref.Handshake(True, psk, prologue)

    def write_first(self, payload=SUITE_CHACHA):
        return self.hs.write_first(bytes([payload]))

    def read_second(self, body):
        """The responder's payload byte (the chosen cipher), or None if the message does not authenticate."""
        if len(body) != BODY_LEN:
            return None
        try:
            pt = self.hs.read_second(body)
        except noise_ref.NoiseError:
            return None
        return pt[0] if pt else None

    def split(self):
        """(c1 key initiator->responder, c2 key, exporter, link_id)."""
        return self.hs.session()


def prefix(t, flags, length):
    return b"UVP1" + struct.pack(">BBH", t, flags, length)


def link_init(site, session, psk, offer=SUITE_CHACHA):
    """(LINK_INIT bytes, Initiator): prefix, version 1, site_len, 5 reserved, site, session, then the body."""
    site, session = site.encode(), session.encode()
    head = prefix(T_LINK_INIT, 0, 16 + len(site) + len(session) + BODY_LEN) + struct.pack(">HB5x", 1, len(site))
    prologue = head + site + session
    ini = Initiator(psk, prologue)
    return prologue + ini.write_first(offer), ini


def parse_link_resp(b):
    """The 49-byte body of a LINK_RESP, or None if `b` is not one."""
    if len(b) != LINK_RESP_LEN or b[:4] != b"UVP1" or b[4] != T_LINK_RESP or struct.unpack(">H", b[6:8])[0] != 57:
        return None
    return b[8:]
