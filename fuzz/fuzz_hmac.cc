// libFuzzer target for src/proto/hmac.h. Theory of operation: the input is read as
//   [key_len: 1 byte][n_splits: 1 byte][n_splits chunk lengths: 1 byte each][key: key_len bytes][message: rest]
// (fields cut short by the end of the input are shortened, so every input is usable). The message is fed to
// incremental SHA-256 and HMAC-SHA256 in the chunks given (the last chunk takes what is left), and the results must
// equal the one-shot ones; the one-shot HMAC must equal H((K' ^ opad) || H((K' ^ ipad) || m)) built from Sha256 by
// hand (K' the key, hashed first if longer than a block); a keyed object must give the same tag again after Final
// (it resets to its key) and when copied; TagsEqual must accept equal tags and reject any single flipped bit.
#include <cstdint>
#include <cstring>

#include "fuzz_check.h"
#include "proto/hmac.h"

namespace {

using namespace uvpn::proto;

// Feeds data[0..len) to `sink` in the chunk lengths of `splits` (then the remainder).
template <typename T>
void Feed(T* sink, const uint8_t* data, size_t len, const uint8_t* splits, size_t n_splits) {
  size_t off = 0;
  for (size_t i = 0; i < n_splits && off < len; ++i) {
    size_t n = splits[i];
    if (n > len - off) n = len - off;
    sink->Update(data + off, n);
    off += n;
  }
  sink->Update(data + off, len - off);
}

// HMAC-SHA256 from its definition (RFC 2104), using only Sha256.
void HmacByHand(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t len, uint8_t out[kSha256Size]) {
  uint8_t k[kSha256BlockSize] = {};
  if (key_len > kSha256BlockSize) {
    Sha256::Hash(key, key_len, k);
  } else if (key_len > 0) {
    std::memcpy(k, key, key_len);
  }
  uint8_t pad[kSha256BlockSize];
  Sha256 inner;
  for (size_t i = 0; i < sizeof pad; ++i) pad[i] = static_cast<uint8_t>(k[i] ^ 0x36);
  inner.Update(pad, sizeof pad);
  inner.Update(msg, len);
  uint8_t ih[kSha256Size];
  inner.Final(ih);
  Sha256 outer;
  for (size_t i = 0; i < sizeof pad; ++i) pad[i] = static_cast<uint8_t>(k[i] ^ 0x5c);
  outer.Update(pad, sizeof pad);
  outer.Update(ih, sizeof ih);
  outer.Final(out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  size_t pos = 0;
  size_t key_len = pos < size ? data[pos++] : 0;
  size_t n_splits = pos < size ? data[pos++] : 0;
  if (n_splits > size - pos) n_splits = size - pos;
  const uint8_t* splits = data + pos;
  pos += n_splits;
  if (key_len > size - pos) key_len = size - pos;
  const uint8_t* key = data + pos;
  pos += key_len;
  const uint8_t* msg = data + pos;
  size_t len = size - pos;

  // SHA-256: incremental in the given chunks == one-shot.
  uint8_t one[kSha256Size], inc[kSha256Size];
  Sha256::Hash(msg, len, one);
  Sha256 s;
  Feed(&s, msg, len, splits, n_splits);
  s.Final(inc);
  FUZZ_CHECK(std::memcmp(one, inc, sizeof one) == 0);
  s.Update(msg, len);  // Final re-initialized it
  s.Final(inc);
  FUZZ_CHECK(std::memcmp(one, inc, sizeof one) == 0);

  // HMAC-SHA256: one-shot == definition; incremental == one-shot; reuse after Final and copies agree.
  uint8_t mac[kHmacSha256Size], ref[kHmacSha256Size], got[kHmacSha256Size];
  HmacSha256::Mac(key, key_len, msg, len, mac);
  HmacByHand(key, key_len, msg, len, ref);
  FUZZ_CHECK(std::memcmp(mac, ref, sizeof mac) == 0);
  HmacSha256 m(key, key_len);
  HmacSha256 fresh = m;
  Feed(&m, msg, len, splits, n_splits);
  m.Final(got);
  FUZZ_CHECK(std::memcmp(mac, got, sizeof mac) == 0);
  m.Update(msg, len);
  m.Final(got);
  FUZZ_CHECK(std::memcmp(mac, got, sizeof mac) == 0);
  Feed(&fresh, msg, len, splits + (n_splits > 0 ? 1 : 0), n_splits > 0 ? n_splits - 1 : 0);
  fresh.Final(got);
  FUZZ_CHECK(std::memcmp(mac, got, sizeof mac) == 0);

  // TagsEqual: equal tags match (any prefix length), a flipped bit never does.
  FUZZ_CHECK(TagsEqual(mac, got, sizeof mac));
  size_t bit = len > 0 ? msg[0] % (8 * sizeof got) : 0;
  got[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  FUZZ_CHECK(!TagsEqual(mac, got, sizeof mac));
  FUZZ_CHECK(TagsEqual(mac, got, bit / 8));
  return 0;
}
