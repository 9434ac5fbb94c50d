#include "crypto/noise.h"

#include <sodium.h>

#include <cstring>

namespace uvpn::crypto {
namespace {
constexpr char kProtocolName[] = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b";
constexpr size_t kBlockLen = 128;

void Nonce(uint64_t n, uint8_t out[12]) {
  memset(out, 0, 4);
  for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<uint8_t>(n >> (8 * i));
}
}  // namespace

void HmacBlake2b(const uint8_t* key, size_t key_len, const uint8_t* data, size_t data_len, uint8_t out[kHashLen]) {
  uint8_t k[kBlockLen] = {};
  if (key_len > kBlockLen) {
    crypto_generichash(k, kHashLen, key, key_len, nullptr, 0);
  } else {
    memcpy(k, key, key_len);
  }
  uint8_t pad[kBlockLen];
  crypto_generichash_state st;
  for (size_t i = 0; i < kBlockLen; ++i) pad[i] = k[i] ^ 0x36;
  uint8_t inner[kHashLen];
  crypto_generichash_init(&st, nullptr, 0, kHashLen);
  crypto_generichash_update(&st, pad, kBlockLen);
  crypto_generichash_update(&st, data, data_len);
  crypto_generichash_final(&st, inner, kHashLen);
  for (size_t i = 0; i < kBlockLen; ++i) pad[i] = k[i] ^ 0x5c;
  crypto_generichash_init(&st, nullptr, 0, kHashLen);
  crypto_generichash_update(&st, pad, kBlockLen);
  crypto_generichash_update(&st, inner, kHashLen);
  crypto_generichash_final(&st, out, kHashLen);
  sodium_memzero(k, sizeof k);
  sodium_memzero(pad, sizeof pad);
  sodium_memzero(inner, sizeof inner);
}

void Hkdf(const uint8_t ck[kHashLen], const uint8_t* ikm, size_t ikm_len, int outputs, uint8_t out1[kHashLen],
          uint8_t out2[kHashLen], uint8_t out3[kHashLen]) {
  uint8_t temp[kHashLen];
  HmacBlake2b(ck, kHashLen, ikm, ikm_len, temp);
  uint8_t in[kHashLen + 1];
  in[0] = 0x01;
  HmacBlake2b(temp, kHashLen, in, 1, out1);
  memcpy(in, out1, kHashLen);
  in[kHashLen] = 0x02;
  HmacBlake2b(temp, kHashLen, in, kHashLen + 1, out2);
  if (outputs == 3) {
    memcpy(in, out2, kHashLen);
    in[kHashLen] = 0x03;
    HmacBlake2b(temp, kHashLen, in, kHashLen + 1, out3);
  }
  sodium_memzero(temp, sizeof temp);
  sodium_memzero(in, sizeof in);
}

Handshake::Handshake(bool initiator, const uint8_t psk[kPskLen], const uint8_t* prologue, size_t prologue_len)
    : initiator_(initiator) {
  // InitializeSymmetric: the name fits in HASHLEN, so h = name padded with zeros; ck = h.
  memset(h_, 0, sizeof h_);
  memcpy(h_, kProtocolName, sizeof kProtocolName - 1);
  memcpy(ck_, h_, kHashLen);
  MixHash(prologue, prologue_len);
  // psk0: the psk token comes first in the first message, for both roles.
  MixKeyAndHash(psk, kPskLen);
}

Handshake::~Handshake() {
  sodium_memzero(ck_, sizeof ck_);
  sodium_memzero(k_, sizeof k_);
  sodium_memzero(e_sk_, sizeof e_sk_);
}

void Handshake::MixHash(const uint8_t* data, size_t len) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, kHashLen);
  crypto_generichash_update(&st, h_, kHashLen);
  crypto_generichash_update(&st, data, len);
  crypto_generichash_final(&st, h_, kHashLen);
}

void Handshake::MixKey(const uint8_t* ikm, size_t len) {
  uint8_t tk[kHashLen];
  Hkdf(ck_, ikm, len, 2, ck_, tk, nullptr);
  memcpy(k_, tk, kKeySize);  // HASHLEN 64: truncated to 32
  has_k_ = true;
  n_ = 0;
  sodium_memzero(tk, sizeof tk);
}

void Handshake::MixKeyAndHash(const uint8_t* ikm, size_t len) {
  uint8_t th[kHashLen], tk[kHashLen];
  Hkdf(ck_, ikm, len, 3, ck_, th, tk);
  MixHash(th, kHashLen);
  memcpy(k_, tk, kKeySize);
  has_k_ = true;
  n_ = 0;
  sodium_memzero(tk, sizeof tk);
}

void Handshake::EncryptAndHash(const uint8_t* pt, size_t len, uint8_t* out) {
  // k is always set here (psk0 keys the first message).
  uint8_t nonce[12];
  Nonce(n_++, nonce);
  unsigned long long clen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt, len, h_, kHashLen, nullptr, nonce, k_);
  MixHash(out, len + kTagSize);
}

bool Handshake::DecryptAndHash(const uint8_t* ct, size_t len, uint8_t* out) {
  if (!has_k_ || len < kTagSize) return false;
  uint8_t nonce[12];
  Nonce(n_, nonce);
  unsigned long long plen = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, nullptr, ct, len, h_, kHashLen, nonce, k_) != 0)
    return false;
  ++n_;
  MixHash(ct, len);
  return true;
}

void Handshake::NewEphemeral() {
  randombytes_buf(e_sk_, sizeof e_sk_);
  crypto_scalarmult_curve25519_base(e_pk_, e_sk_);
}

bool Handshake::MixDh() {
  uint8_t dh[kDhLen];
  if (crypto_scalarmult_curve25519(dh, e_sk_, re_) != 0) return false;  // all-zero output: a low-order point
  MixKey(dh, kDhLen);
  sodium_memzero(dh, sizeof dh);
  return true;
}

bool Handshake::WriteFirst(uint8_t payload, uint8_t out[kHandshakeBody]) {
  if (!initiator_) return false;
  NewEphemeral();
  memcpy(out, e_pk_, kDhLen);
  MixHash(e_pk_, kDhLen);
  MixKey(e_pk_, kDhLen);  // psk handshakes: "e" also calls MixKey
  EncryptAndHash(&payload, 1, out + kDhLen);
  return true;
}

bool Handshake::ReadFirst(const uint8_t in[kHandshakeBody], uint8_t* payload) {
  if (initiator_) return false;
  memcpy(re_, in, kDhLen);
  MixHash(re_, kDhLen);
  MixKey(re_, kDhLen);
  return DecryptAndHash(in + kDhLen, 1 + kTagSize, payload);
}

bool Handshake::WriteSecond(uint8_t payload, uint8_t out[kHandshakeBody]) {
  if (initiator_) return false;
  NewEphemeral();
  memcpy(out, e_pk_, kDhLen);
  MixHash(e_pk_, kDhLen);
  MixKey(e_pk_, kDhLen);
  if (!MixDh()) return false;
  EncryptAndHash(&payload, 1, out + kDhLen);
  return true;
}

bool Handshake::ReadSecond(const uint8_t in[kHandshakeBody], uint8_t* payload) {
  if (!initiator_) return false;
  memcpy(re_, in, kDhLen);
  MixHash(re_, kDhLen);
  MixKey(re_, kDhLen);
  if (!MixDh()) return false;
  return DecryptAndHash(in + kDhLen, 1 + kTagSize, payload);
}

void Handshake::Finish(LinkSession* out) {
  uint8_t k1[kHashLen], k2[kHashLen];
  Hkdf(ck_, nullptr, 0, 2, k1, k2, nullptr);
  out->initiator = initiator_;
  out->tx.SetKey(Suite::kChaCha20Poly1305, initiator_ ? k1 : k2);
  out->rx.SetKey(Suite::kChaCha20Poly1305, initiator_ ? k2 : k1);
  static constexpr char kLabel[] = "uvpn exporter";
  crypto_generichash(out->exporter, kExporterLen, reinterpret_cast<const uint8_t*>(kLabel), sizeof kLabel - 1, ck_,
                     kHashLen);
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i) id = (id << 8) | h_[i];
  out->link_id = id;
  sodium_memzero(k1, sizeof k1);
  sodium_memzero(k2, sizeof k2);
}

}  // namespace uvpn::crypto
