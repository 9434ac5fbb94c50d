// AEAD records. The handshake and key derivation use libsodium; the bulk record cipher uses OpenSSL's libcrypto, whose
// AES-256-GCM and ChaCha20-Poly1305 are 2-3x faster here (stitched AES-NI/VAES and AVX-512 code paths: 5.2 GB/s
// against libsodium's 2.5 and 1.6 at 16 KiB, `uvpn-bench-seal-speed`), which is most of a sealed relay's CPU
// (docs/security.md, docs/dependencies.md). Both produce the standard constructions (RFC 5116 / RFC 8439, 96-bit
// nonce, 128-bit tag), checked byte for byte against libsodium in tests/unit/crypto_test.cc.
//
// One EVP context per thread, direction and suite, created on first use and re-keyed per message (the key schedule
// is a fraction of a 16 KiB record's cost), so Cipher stays a plain copyable value with no resources to manage.
#include "crypto/aead.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace uvpn::crypto {
namespace {
void Nonce(uint64_t n, uint8_t out[12]) {
  memset(out, 0, 4);
  for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<uint8_t>(n >> (8 * i));
}

const EVP_CIPHER* EvpOf(Suite s) {
  return s == Suite::kAes256Gcm ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
}

// Per thread: [suite][0 seal, 1 open]. Allocation failure at first use is fatal (like libsodium's init).
EVP_CIPHER_CTX* Ctx(Suite s, int open) {
  thread_local EVP_CIPHER_CTX* ctx[2][2] = {};
  EVP_CIPHER_CTX*& c = ctx[s == Suite::kAes256Gcm ? 1 : 0][open];
  if (c == nullptr && (c = EVP_CIPHER_CTX_new()) == nullptr) abort();
  return c;
}

// Input lengths are at most a UDP datagram or a record, far below INT_MAX.
int Len(size_t n) {
  return static_cast<int>(n);
}
}  // namespace

bool Init() {
  return sodium_init() >= 0;
}

uint8_t SupportedSuites() {
  // OpenSSL runs AES-GCM everywhere, but without AES-NI it is slower than ChaCha20-Poly1305 and not constant-time:
  // offer it only where the CPU has it (libsodium's check).
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
  EVP_CIPHER_CTX* c = Ctx(suite_, 0);
  int len = 0;
  bool ok = EVP_EncryptInit_ex(c, EvpOf(suite_), nullptr, key_, nonce) == 1 &&
            (ad_len == 0 || EVP_EncryptUpdate(c, nullptr, &len, ad, Len(ad_len)) == 1) &&
            (n == 0 || EVP_EncryptUpdate(c, out, &len, in, Len(n)) == 1) &&
            EVP_EncryptFinal_ex(c, out + n, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize), out + n) == 1;
  if (!ok) abort();  // only on a broken library: never send an unsealed record
}

bool Cipher::OpenAt(uint64_t counter, const uint8_t* ad, size_t ad_len, const uint8_t* in, size_t n,
                    uint8_t* out) const {
  if (n < kTagSize) return false;
  uint8_t nonce[12];
  Nonce(counter, nonce);
  size_t m = n - kTagSize;
  uint8_t tag[kTagSize];
  memcpy(tag, in + m, kTagSize);  // `out` may overlap `in`
  EVP_CIPHER_CTX* c = Ctx(suite_, 1);
  int len = 0;
  return EVP_DecryptInit_ex(c, EvpOf(suite_), nullptr, key_, nonce) == 1 &&
         (ad_len == 0 || EVP_DecryptUpdate(c, nullptr, &len, ad, Len(ad_len)) == 1) &&
         (m == 0 || EVP_DecryptUpdate(c, out, &len, in, Len(m)) == 1) &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize), tag) == 1 &&
         EVP_DecryptFinal_ex(c, out + m, &len) == 1;
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
