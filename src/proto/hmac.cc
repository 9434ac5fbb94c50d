// SHA-256 and HMAC-SHA256 (see hmac.h). Straight from FIPS 180-4 section 6.2 (message schedule of 64 words, 64
// rounds) and RFC 2104 (H(K ^ opad, H(K ^ ipad, m))). The compression function has no data-dependent branches or
// table lookups, so its timing does not depend on the key or message bytes. Freestanding: memcpy/memset only.
#include "proto/hmac.h"

#include <cstring>

namespace uvpn::proto {
namespace {

constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

constexpr uint32_t kInit[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline uint32_t Load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

inline void Store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace

void Sha256::Init() {
  memcpy(h_, kInit, sizeof h_);
  total_ = 0;
  buf_len_ = 0;
}

void Sha256::Block(const uint8_t* block) {
  uint32_t w[64];
  for (int t = 0; t < 16; ++t) w[t] = Load32(block + 4 * t);
  for (int t = 16; t < 64; ++t) {
    uint32_t s0 = Rotr(w[t - 15], 7) ^ Rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = Rotr(w[t - 2], 17) ^ Rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
  for (int t = 0; t < 64; ++t) {
    uint32_t t1 = h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[t] + w[t];
    uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h_[0] += a;
  h_[1] += b;
  h_[2] += c;
  h_[3] += d;
  h_[4] += e;
  h_[5] += f;
  h_[6] += g;
  h_[7] += h;
}

void Sha256::Update(const uint8_t* data, size_t len) {
  if (len == 0) return;
  total_ += len;
  if (buf_len_ > 0) {
    size_t take = kSha256BlockSize - buf_len_;
    if (take > len) take = len;
    memcpy(buf_ + buf_len_, data, take);
    buf_len_ += take;
    data += take;
    len -= take;
    if (buf_len_ < kSha256BlockSize) return;
    Block(buf_);
    buf_len_ = 0;
  }
  while (len >= kSha256BlockSize) {
    Block(data);
    data += kSha256BlockSize;
    len -= kSha256BlockSize;
  }
  if (len > 0) {
    memcpy(buf_, data, len);
    buf_len_ = len;
  }
}

void Sha256::Final(uint8_t out[kSha256Size]) {
  uint64_t bits = total_ * 8;
  buf_[buf_len_++] = 0x80;
  if (buf_len_ > kSha256BlockSize - 8) {
    memset(buf_ + buf_len_, 0, kSha256BlockSize - buf_len_);
    Block(buf_);
    buf_len_ = 0;
  }
  memset(buf_ + buf_len_, 0, kSha256BlockSize - 8 - buf_len_);
  Store32(buf_ + 56, static_cast<uint32_t>(bits >> 32));
  Store32(buf_ + 60, static_cast<uint32_t>(bits));
  Block(buf_);
  for (int i = 0; i < 8; ++i) Store32(out + 4 * i, h_[i]);
  Wipe(buf_, sizeof buf_);
  Init();
}

void Sha256::Hash(const uint8_t* data, size_t len, uint8_t out[kSha256Size]) {
  Sha256 s;
  s.Update(data, len);
  s.Final(out);
}

void HmacSha256::Init(const uint8_t* key, size_t key_len) {
  uint8_t k[kSha256BlockSize];
  memset(k, 0, sizeof k);
  if (key_len > kSha256BlockSize) {
    Sha256::Hash(key, key_len, k);
  } else if (key_len > 0) {
    memcpy(k, key, key_len);
  }
  uint8_t pad[kSha256BlockSize];
  for (size_t i = 0; i < kSha256BlockSize; ++i) pad[i] = static_cast<uint8_t>(k[i] ^ 0x36);
  inner_key_.Init();
  inner_key_.Update(pad, sizeof pad);
  for (size_t i = 0; i < kSha256BlockSize; ++i) pad[i] = static_cast<uint8_t>(k[i] ^ 0x5c);
  outer_key_.Init();
  outer_key_.Update(pad, sizeof pad);
  inner_ = inner_key_;
  Wipe(k, sizeof k);
  Wipe(pad, sizeof pad);
}

void HmacSha256::Update(const uint8_t* data, size_t len) { inner_.Update(data, len); }

void HmacSha256::Final(uint8_t out[kHmacSha256Size]) {
  uint8_t ih[kSha256Size];
  inner_.Final(ih);
  Sha256 outer = outer_key_;
  outer.Update(ih, sizeof ih);
  outer.Final(out);
  Wipe(ih, sizeof ih);
  inner_ = inner_key_;
}

void HmacSha256::Mac(const uint8_t* key, size_t key_len, const uint8_t* data, size_t len,
                     uint8_t out[kHmacSha256Size]) {
  HmacSha256 m(key, key_len);
  m.Update(data, len);
  m.Final(out);
}

bool TagsEqual(const uint8_t* a, const uint8_t* b, size_t len) {
  uint32_t diff = 0;
  for (size_t i = 0; i < len; ++i) {
    diff |= static_cast<uint32_t>(a[i] ^ b[i]);
    // Keeps the compiler from turning the loop into an early exit once diff is nonzero.
    __asm__ __volatile__("" : "+r"(diff));
  }
  return diff == 0;
}

void Wipe(void* p, size_t len) {
  memset(p, 0, len);
  // The memset is observable to the asm (which may read memory through p), so it is not removed as a dead store.
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

}  // namespace uvpn::proto
