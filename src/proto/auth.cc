// Node-side authentication; see auth.h for the contract.
#include "proto/auth.h"

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "proto/hmac.h"

namespace uvpn::proto {
namespace {
void Put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
constexpr size_t kTagAt = kConnHeaderAuthSize - 16;
}  // namespace

void DeriveNodeKey(const uint8_t secret[32], uint8_t nk[kAuthKeySize]) {
  static constexpr char kLabel[] = "uvpn node key";
  HmacSha256::Mac(secret, 32, reinterpret_cast<const uint8_t*>(kLabel), sizeof kLabel - 1, nk);
}

void DeriveLeaseKey(const uint8_t nk[kAuthKeySize], uint32_t vip, uint32_t real, uint8_t lk[kAuthKeySize]) {
  uint8_t msg[10 + 8] = {'u', 'v', 'p', 'n', ' ', 'l', 'e', 'a', 's', 'e'};
  Put32(msg + 10, vip);
  Put32(msg + 14, real);
  HmacSha256::Mac(nk, kAuthKeySize, msg, sizeof msg, lk);
}

int64_t RealtimeMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

uint64_t NextNonce() {
  static std::atomic<uint64_t> counter{0};
  uint64_t c = counter.fetch_add(1, std::memory_order_relaxed);
  return (static_cast<uint64_t>(getpid()) << 40) | (c & ((1ull << 40) - 1));
}

void SignHeader(const uint8_t lk[kAuthKeySize], uint8_t msg[kConnHeaderAuthSize]) {
  uint8_t tag[kHmacSha256Size];
  HmacSha256::Mac(lk, kAuthKeySize, msg, kTagAt, tag);
  memcpy(msg + kTagAt, tag, 16);
}

bool CheckHeaderTag(const uint8_t lk[kAuthKeySize], const uint8_t msg[kConnHeaderAuthSize]) {
  uint8_t tag[kHmacSha256Size];
  HmacSha256::Mac(lk, kAuthKeySize, msg, kTagAt, tag);
  return TagsEqual(tag, msg + kTagAt, 16);
}

size_t EncodeSignedHeader(ConnHeader h, const uint8_t lk[kAuthKeySize], uint8_t out[kConnHeaderAuthSize]) {
  h.flags |= kFlagAuth;
  h.ts_ms = static_cast<uint64_t>(RealtimeMs());
  h.nonce = NextNonce();
  size_t n = Encode(h, out, kConnHeaderAuthSize);
  SignHeader(lk, out);
  return n;
}

bool Fresh(int64_t now_ms, uint64_t ts_ms, int64_t window_ms) {
  int64_t ts = static_cast<int64_t>(ts_ms);
  if (ts < 0) return false;
  int64_t d = now_ms - ts;
  return d <= window_ms && d >= -window_ms;
}

static void TrailerTag(const uint8_t lk[kAuthKeySize], const uint8_t* covered, size_t n, const uint8_t ts[8],
                       uint8_t out[kHmacSha256Size]) {
  HmacSha256 m(lk, kAuthKeySize);
  m.Update(covered, n);
  m.Update(ts, 8);
  m.Final(out);
}

void SignTrailer(const uint8_t lk[kAuthKeySize], const uint8_t* covered, size_t n, uint8_t trailer[kUdpAuthTrailer]) {
  uint64_t ts = static_cast<uint64_t>(RealtimeMs());
  for (int i = 0; i < 8; ++i) trailer[i] = static_cast<uint8_t>(ts >> (56 - 8 * i));
  uint8_t tag[kHmacSha256Size];
  TrailerTag(lk, covered, n, trailer, tag);
  memcpy(trailer + 8, tag, 16);
}

bool CheckTrailer(const uint8_t lk[kAuthKeySize], const uint8_t* covered, size_t n,
                  const uint8_t trailer[kUdpAuthTrailer], int64_t now_ms) {
  uint8_t tag[kHmacSha256Size];
  TrailerTag(lk, covered, n, trailer, tag);
  if (!TagsEqual(tag, trailer + 8, 16)) return false;
  uint64_t ts = 0;
  for (int i = 0; i < 8; ++i) ts = (ts << 8) | trailer[i];
  return Fresh(now_ms, ts, kHeaderWindowMs);
}

void SignUdp(const uint8_t lk[kAuthKeySize], const uint8_t hdr[kUdpHeaderSize], uint8_t trailer[kUdpAuthTrailer]) {
  SignTrailer(lk, hdr, kUdpHeaderSize, trailer);
}

bool CheckUdp(const uint8_t lk[kAuthKeySize], const uint8_t hdr[kUdpHeaderSize], const uint8_t trailer[kUdpAuthTrailer],
              int64_t now_ms) {
  return CheckTrailer(lk, hdr, kUdpHeaderSize, trailer, now_ms);
}

void SignRegister(const uint8_t nk[kAuthKeySize], uint8_t* msg, size_t total) {
  HmacSha256::Mac(nk, kAuthKeySize, msg, total - 32, msg + total - 32);
}

bool CheckRegister(const uint8_t nk[kAuthKeySize], const uint8_t* msg, size_t total) {
  if (total < 32) return false;
  uint8_t mac[kHmacSha256Size];
  HmacSha256::Mac(nk, kAuthKeySize, msg, total - 32, mac);
  return TagsEqual(mac, msg + total - 32, 32);
}

static void RegisterOkMac(const uint8_t nk[kAuthKeySize], const uint8_t reg_nonce[16], const uint8_t* msg,
                          size_t total, uint8_t out[kHmacSha256Size]) {
  HmacSha256 m(nk, kAuthKeySize);
  m.Update(reg_nonce, 16);
  m.Update(msg, total - 32);
  m.Final(out);
}

void SignRegisterOk(const uint8_t nk[kAuthKeySize], const uint8_t reg_nonce[16], uint8_t* msg, size_t total) {
  RegisterOkMac(nk, reg_nonce, msg, total, msg + total - 32);
}

bool CheckRegisterOk(const uint8_t nk[kAuthKeySize], const uint8_t reg_nonce[16], const uint8_t* msg, size_t total) {
  if (total < 32) return false;
  uint8_t mac[kHmacSha256Size];
  RegisterOkMac(nk, reg_nonce, msg, total, mac);
  return TagsEqual(mac, msg + total - 32, 32);
}

void KeyToHex(const uint8_t key[kAuthKeySize], char out[2 * kAuthKeySize]) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < kAuthKeySize; ++i) {
    out[2 * i] = kHex[key[i] >> 4];
    out[2 * i + 1] = kHex[key[i] & 15];
  }
}

bool KeyFromHex(const char* s, size_t len, uint8_t key[kAuthKeySize]) {
  if (len != 2 * kAuthKeySize) return false;
  for (size_t i = 0; i < len; ++i) {
    char c = s[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (v < 0) return false;
    if (i % 2 == 0) {
      key[i / 2] = static_cast<uint8_t>(v << 4);
    } else {
      key[i / 2] = static_cast<uint8_t>(key[i / 2] | v);
    }
  }
  return true;
}

}  // namespace uvpn::proto
