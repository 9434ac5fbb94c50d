#!/usr/bin/python3
# Independent reference for the router-link handshake: Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b written from the Noise
# Protocol Framework specification (revision 34, sections 4, 5, 9), not from src/crypto/noise.cc.
#
# Theory of operation: the spec's objects, literally. CipherState (k, n; nonce = 4 zero bytes + LE64 n),
# SymmetricState (ck, h; MixKey, MixHash, MixKeyAndHash, EncryptAndHash, DecryptAndHash, Split) with HASH =
# BLAKE2b-512 (hashlib), HMAC = RFC 2104 over it (hmac module), HKDF as in section 4.3, DH = X25519 and the AEAD
# ChaCha20-Poly1305 (python3-cryptography). HandshakeState runs the two message patterns of NNpsk0:
#   -> psk, e        <- e, ee
# ("e" also calls MixKey because the handshake has a psk, section 9.2). Ephemeral private keys can be fixed (test
# vectors). After the handshake `session()` returns what uvpn derives from it: the two transport keys (c1:
# initiator -> responder, c2), the exporter B(key=ck, msg=b"uvpn exporter", 64) and the link id (first 8 bytes
# of h, big-endian) -- docs/protocol.md section 11. Errors raise NoiseError.
import hashlib
import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

PROTOCOL_NAME = b"Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b"
HASHLEN = 64
DHLEN = 32


class NoiseError(Exception):
    pass


def HASH(data):
    return hashlib.blake2b(data, digest_size=HASHLEN).digest()


def HMAC_HASH(key, data):
    return hmac.new(key, data, hashlib.blake2b).digest()  # blake2b block size 128, digest 64


def HKDF(ck, ikm, n):
    temp = HMAC_HASH(ck, ikm)
    out1 = HMAC_HASH(temp, b"\x01")
    out2 = HMAC_HASH(temp, out1 + b"\x02")
    if n == 2:
        return out1, out2
    out3 = HMAC_HASH(temp, out2 + b"\x03")
    return out1, out2, out3


def nonce(n):
    return b"\x00" * 4 + struct.pack("<Q", n)


def pub_bytes(pub):
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class CipherState:
    def __init__(self, k=None):
        self.k = k
        self.n = 0

    def encrypt(self, ad, pt):
        if self.k is None:
            return pt
        ct = ChaCha20Poly1305(self.k).encrypt(nonce(self.n), pt, ad)
        self.n += 1
        return ct

    def decrypt(self, ad, ct):
        if self.k is None:
            return ct
        try:
            pt = ChaCha20Poly1305(self.k).decrypt(nonce(self.n), ct, ad)
        except InvalidTag as e:
            raise NoiseError("decrypt failed") from e
        self.n += 1
        return pt


class SymmetricState:
    def __init__(self, name):
        self.h = name + b"\x00" * (HASHLEN - len(name)) if len(name) <= HASHLEN else HASH(name)
        self.ck = self.h
        self.cs = CipherState()

    def mix_key(self, ikm):
        self.ck, temp_k = HKDF(self.ck, ikm, 2)
        self.cs = CipherState(temp_k[:32])

    def mix_hash(self, data):
        self.h = HASH(self.h + data)

    def mix_key_and_hash(self, ikm):
        self.ck, temp_h, temp_k = HKDF(self.ck, ikm, 3)
        self.mix_hash(temp_h)
        self.cs = CipherState(temp_k[:32])

    def encrypt_and_hash(self, pt):
        ct = self.cs.encrypt(self.h, pt)
        self.mix_hash(ct)
        return ct

    def decrypt_and_hash(self, ct):
        pt = self.cs.decrypt(self.h, ct)
        self.mix_hash(ct)
        return pt

    def split(self):
        k1, k2 = HKDF(self.ck, b"", 2)
        return k1[:32], k2[:32]


class Handshake:
    """One side of NNpsk0. Initiator: write_first, read_second. Responder: read_first, write_second."""

    def __init__(self, initiator, psk, prologue, ephemeral=None):
        if len(psk) != 32:
            raise NoiseError("psk must be 32 bytes")
        self.initiator = initiator
        self.ss = SymmetricState(PROTOCOL_NAME)
        self.ss.mix_hash(prologue)
        self.psk = psk
        self.fixed_e = ephemeral
        self.e = None
        self.re = None
        self.done = False

    def _new_e(self):
        if self.fixed_e is not None:
            self.e = X25519PrivateKey.from_private_bytes(self.fixed_e)
        else:
            self.e = X25519PrivateKey.generate()
        return pub_bytes(self.e.public_key())

    def _write_e(self):
        e_pub = self._new_e()
        self.ss.mix_hash(e_pub)
        self.ss.mix_key(e_pub)  # psk handshake
        return e_pub

    def _read_e(self, msg):
        if len(msg) < DHLEN:
            raise NoiseError("short message")
        self.re = msg[:DHLEN]
        self.ss.mix_hash(self.re)
        self.ss.mix_key(self.re)  # psk handshake
        return msg[DHLEN:]

    def _ee(self):
        dh = self.e.exchange(X25519PublicKey.from_public_bytes(self.re))  # raises on an all-zero result
        self.ss.mix_key(dh)

    # -> psk, e
    def write_first(self, payload):
        assert self.initiator
        self.ss.mix_key_and_hash(self.psk)
        out = self._write_e()
        return out + self.ss.encrypt_and_hash(payload)

    def read_first(self, msg):
        assert not self.initiator
        self.ss.mix_key_and_hash(self.psk)
        rest = self._read_e(msg)
        return self.ss.decrypt_and_hash(rest)

    # <- e, ee
    def write_second(self, payload):
        assert not self.initiator
        out = self._write_e()
        self._ee()
        out += self.ss.encrypt_and_hash(payload)
        self.done = True
        return out

    def read_second(self, msg):
        assert self.initiator
        rest = self._read_e(msg)
        try:
            self._ee()
        except ValueError as e:
            raise NoiseError("degenerate DH") from e
        pt = self.ss.decrypt_and_hash(rest)
        self.done = True
        return pt

    def handshake_hash(self):
        return self.ss.h

    def session(self):
        """(c1, c2, exporter, link_id): c1 encrypts initiator -> responder."""
        assert self.done
        c1, c2 = self.ss.split()
        exporter = hashlib.blake2b(b"uvpn exporter", key=self.ss.ck, digest_size=64).digest()
        link_id = struct.unpack(">Q", self.ss.h[:8])[0]
        return c1, c2, exporter, link_id


def transport_seal(key, n, ad, pt):
    return ChaCha20Poly1305(key).encrypt(nonce(n), pt, ad)


def transport_open(key, n, ad, ct):
    try:
        return ChaCha20Poly1305(key).decrypt(nonce(n), ct, ad)
    except InvalidTag as e:
        raise NoiseError("transport decrypt failed") from e
