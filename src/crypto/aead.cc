#include "crypto/aead.h"

#include <sodium.h>

#include <cstring>

namespace uvpn::crypto {
namespace {
void Nonce(uint64_t n, uint8_t out[12]) {
  memset(out, 0, 4);
  for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<uint8_t>(n >> (8 * i));
}
}  // namespace

bool Init() {
  return sodium_init() >= 0;
}

uint8_t SupportedSuites() {
  uint8_t s = static_cast<uint8_t>(Suite::kChaCha20Poly1305);
  if (crypto_aead_aes256gcm_is_available()) s |= static_cast<uint8_t>(Suite::kAes256Gcm);
  return s;
}

void Cipher::SetKey(Suite s, const uint8_t key[kKeySize], uint64_t first_counter) {
  memcpy(key_, key, kKeySize);
  suite_ = s;
  n_ = first_counter;
  valid_ = true;
}

void Cipher::Clear() {
  sodium_memzero(key_, sizeof key_);
  valid_ = false;
  n_ = 0;
}

void Cipher::SealAt(uint64_t counter, const uint8_t* ad, size_t ad_len, const uint8_t* in, size_t n,
                    uint8_t* out) const {
  uint8_t nonce[12];
  Nonce(counter, nonce);
  unsigned long long tag_len = 0;
  if (suite_ == Suite::kAes256Gcm) {
    crypto_aead_aes256gcm_encrypt_detached(out, out + n, &tag_len, in, n, ad, ad_len, nullptr, nonce, key_);
  } else {
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, out + n, &tag_len, in, n, ad, ad_len, nullptr, nonce,
                                                       key_);
  }
}

bool Cipher::OpenAt(uint64_t counter, const uint8_t* ad, size_t ad_len, const uint8_t* in, size_t n,
                    uint8_t* out) const {
  if (n < kTagSize) return false;
  uint8_t nonce[12];
  Nonce(counter, nonce);
  size_t m = n - kTagSize;
  if (suite_ == Suite::kAes256Gcm)
    return crypto_aead_aes256gcm_decrypt_detached(out, nullptr, in, m, in + m, ad, ad_len, nonce, key_) == 0;
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, nullptr, in, m, in + m, ad, ad_len, nonce, key_) ==
         0;
}

void Cipher::Seal(const uint8_t* ad, size_t ad_len, const uint8_t* in, size_t n, uint8_t* out) {
  SealAt(n_++, ad, ad_len, in, n, out);
}

bool Cipher::Open(const uint8_t* ad, size_t ad_len, const uint8_t* in, size_t n, uint8_t* out) {
  if (!OpenAt(n_, ad, ad_len, in, n, out)) return false;
  ++n_;
  return true;
}

size_t SealRecord(Cipher& c, const uint8_t* in, size_t n, uint8_t* out) {
  size_t len = n + kTagSize;
  out[0] = static_cast<uint8_t>(len >> 8);
  out[1] = static_cast<uint8_t>(len);
  c.Seal(out, kRecordHeader, in, n, out + kRecordHeader);
  return kRecordHeader + len;
}

size_t RecordCipherLen(const uint8_t hdr[kRecordHeader]) {
  size_t len = (static_cast<size_t>(hdr[0]) << 8) | hdr[1];
  if (len < kTagSize || len > kMaxRecordPlain + kTagSize) return 0;
  return len;
}

}  // namespace uvpn::crypto
