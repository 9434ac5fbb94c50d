// Tests of src/proto/hmac.h: SHA-256 against the FIPS 180-4 / NIST example vectors, HMAC-SHA256 against RFC 4231
// test cases 1-7, incremental == one-shot over random splits, the constant-time comparison, and a randomized
// cross-check against a system library when one is installed. The cross-check dlopen()s libcrypto.so.3 (OpenSSL)
// and libsodium.so.23 at run time -- no build dependency -- and is skipped for a library that is absent.
#include "proto/hmac.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace uvpn::proto {
namespace {

std::string Hex(const uint8_t* p, size_t n) {
  static const char kD[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += kD[p[i] >> 4];
    s += kD[p[i] & 15];
  }
  return s;
}

const uint8_t* U(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

std::string Sha(const std::string& m) {
  uint8_t out[kSha256Size];
  Sha256::Hash(U(m), m.size(), out);
  return Hex(out, sizeof out);
}

std::string Mac(const std::string& key, const std::string& data) {
  uint8_t out[kHmacSha256Size];
  HmacSha256::Mac(U(key), key.size(), U(data), data.size(), out);
  return Hex(out, sizeof out);
}

TEST(Sha256Test, NistVectors) {
  EXPECT_EQ(Sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),  // 448 bits
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopq"
                "rstnopqrstu"),  // 896 bits
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256Test, OneMillionA) {
  const std::string expect = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  EXPECT_EQ(Sha(std::string(1000000, 'a')), expect);
  // Incrementally in odd-sized pieces (crossing block boundaries everywhere).
  Sha256 s;
  std::string piece(997, 'a');
  size_t left = 1000000;
  while (left > 0) {
    size_t n = left < piece.size() ? left : piece.size();
    s.Update(U(piece), n);
    left -= n;
  }
  uint8_t out[kSha256Size];
  s.Final(out);
  EXPECT_EQ(Hex(out, sizeof out), expect);
}

// Known answers at the padding edges (55 bytes: the length fits the last block exactly; 56: it does not), which no
// NIST example hits. Message byte i is (7i + 3) mod 256; digests from Python's hashlib.
TEST(Sha256Test, PaddingEdgeKnownAnswers) {
  const std::pair<size_t, const char*> cases[] = {
      {55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"},
      {56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"},
      {63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"},
      {64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"},
      {119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"},
      {120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"},
  };
  for (const auto& [len, want] : cases) {
    std::string m(len, '\0');
    for (size_t i = 0; i < len; ++i) m[i] = static_cast<char>(i * 7 + 3);
    EXPECT_EQ(Sha(m), want) << "len " << len;
  }
}

TEST(Sha256Test, PaddingBoundaries) {
  // Lengths around the 55/56/64-byte padding edges: incremental byte-at-a-time equals one-shot, and Final resets.
  for (size_t len : {0u, 1u, 54u, 55u, 56u, 57u, 63u, 64u, 65u, 119u, 120u, 127u, 128u, 129u}) {
    std::string m(len, 'x');
    for (size_t i = 0; i < len; ++i) m[i] = static_cast<char>(i * 7 + 3);
    uint8_t one[kSha256Size], inc[kSha256Size], again[kSha256Size];
    Sha256::Hash(U(m), m.size(), one);
    Sha256 s;
    for (size_t i = 0; i < len; ++i) s.Update(U(m) + i, 1);
    s.Update(nullptr, 0);
    s.Final(inc);
    EXPECT_EQ(Hex(one, sizeof one), Hex(inc, sizeof inc)) << "len " << len;
    s.Update(U(m), m.size());  // after Final the object starts a new message
    s.Final(again);
    EXPECT_EQ(Hex(one, sizeof one), Hex(again, sizeof again)) << "len " << len;
  }
}

TEST(HmacSha256Test, Rfc4231) {
  // Test case 1
  EXPECT_EQ(Mac(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: key shorter than the output
  EXPECT_EQ(Mac("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 3
  EXPECT_EQ(Mac(std::string(20, '\xaa'), std::string(50, '\xdd')),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  // Test case 4
  std::string key4;
  for (int i = 1; i <= 25; ++i) key4 += static_cast<char>(i);
  EXPECT_EQ(Mac(key4, std::string(50, '\xcd')), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  // Test case 5: truncation to 128 bits
  EXPECT_EQ(Mac(std::string(20, '\x0c'), "Test With Truncation").substr(0, 32), "a3b6167473100ee06e0c796c2955552b");
  // Test case 6: key larger than the block (hashed first)
  EXPECT_EQ(Mac(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Test case 7: key and data larger than the block
  EXPECT_EQ(Mac(std::string(131, '\xaa'),
                "This is a test using a larger than block-size key and a larger than block-size data. The key needs "
                "to be hashed before being used by the HMAC algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(HmacSha256Test, KeyOfExactlyOneBlockIsNotHashed) {
  // A 64-byte key is used as is (not hashed): compare against H((K ^ opad) || H((K ^ ipad) || m)) built by hand.
  std::string key(64, '\x5a');
  std::string data = "block-size key";
  std::string ipad(64, '\0'), opad(64, '\0');
  for (int i = 0; i < 64; ++i) {
    ipad[i] = static_cast<char>(key[i] ^ 0x36);
    opad[i] = static_cast<char>(key[i] ^ 0x5c);
  }
  uint8_t inner[kSha256Size], outer[kSha256Size];
  std::string im = ipad + data;
  Sha256::Hash(U(im), im.size(), inner);
  std::string om = opad + std::string(reinterpret_cast<char*>(inner), sizeof inner);
  Sha256::Hash(U(om), om.size(), outer);
  EXPECT_EQ(Mac(key, data), Hex(outer, sizeof outer));
}

TEST(HmacSha256Test, IncrementalEqualsOneShotOnRandomSplits) {
  std::mt19937_64 rng(20261124);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string key(rng() % 150, '\0'), data(rng() % 700, '\0');
    for (auto& c : key) c = static_cast<char>(rng());
    for (auto& c : data) c = static_cast<char>(rng());
    uint8_t one[kHmacSha256Size], inc[kHmacSha256Size];
    HmacSha256::Mac(U(key), key.size(), U(data), data.size(), one);
    HmacSha256 m;
    m.Init(U(key), key.size());
    size_t off = 0;
    while (off < data.size()) {
      size_t n = rng() % (data.size() - off + 1);
      m.Update(U(data) + off, n);
      off += n;
    }
    m.Final(inc);
    ASSERT_TRUE(TagsEqual(one, inc, sizeof one)) << "iteration " << iter;
    // Final resets to the same key: a second message under the reused object gives the same tag.
    m.Update(U(data), data.size());
    m.Final(inc);
    ASSERT_TRUE(TagsEqual(one, inc, sizeof one)) << "iteration " << iter << " (reuse)";
    // A copy of a keyed object is an independent MAC under that key.
    HmacSha256 copy = m;
    copy.Update(U(data), data.size());
    copy.Final(inc);
    ASSERT_TRUE(TagsEqual(one, inc, sizeof one)) << "iteration " << iter << " (copy)";
  }
}

TEST(TagsEqualTest, Compares) {
  uint8_t a[32], b[32];
  for (int i = 0; i < 32; ++i) a[i] = b[i] = static_cast<uint8_t>(i * 13);
  EXPECT_TRUE(TagsEqual(a, b, 32));
  EXPECT_TRUE(TagsEqual(a, b, 0));
  for (int i = 0; i < 32; ++i) {
    for (uint8_t bit = 1; bit != 0; bit = static_cast<uint8_t>(bit << 1)) {
      b[i] ^= bit;
      EXPECT_FALSE(TagsEqual(a, b, 32)) << i;
      b[i] ^= bit;
    }
  }
  Wipe(a, sizeof a);
  for (uint8_t x : a) EXPECT_EQ(x, 0);
}

// ---- cross-check against a system library, loaded at run time -------------------------------------------------

struct Reference {
  const char* name;
  void* lib = nullptr;
  // Both return false if the library could not compute.
  bool (*sha)(Reference*, const std::string&, uint8_t*) = nullptr;
  bool (*mac)(Reference*, const std::string&, const std::string&, uint8_t*) = nullptr;
  void* f1 = nullptr;  // library functions, per library
  void* f2 = nullptr;
  void* f3 = nullptr;
  void* f4 = nullptr;
  void* f5 = nullptr;
};

// OpenSSL: SHA256(d, n, md) and HMAC(EVP_sha256(), key, keylen, d, n, md, &mdlen).
bool OpenSslSha(Reference* r, const std::string& m, uint8_t* out) {
  using Fn = unsigned char* (*)(const unsigned char*, size_t, unsigned char*);
  return reinterpret_cast<Fn>(r->f1)(U(m), m.size(), out) != nullptr;
}
bool OpenSslMac(Reference* r, const std::string& key, const std::string& data, uint8_t* out) {
  using Md = const void* (*)();
  using Fn = unsigned char* (*)(const void*, const void*, int, const unsigned char*, size_t, unsigned char*,
                                unsigned int*);
  unsigned int len = 0;
  return reinterpret_cast<Fn>(r->f3)(reinterpret_cast<Md>(r->f2)(), key.data(), static_cast<int>(key.size()),
                                     U(data), data.size(), out, &len) != nullptr &&
         len == kHmacSha256Size;
}

// libsodium: crypto_hash_sha256(out, in, n); crypto_auth_hmacsha256_{init,update,final} (any key length).
bool SodiumSha(Reference* r, const std::string& m, uint8_t* out) {
  using Fn = int (*)(unsigned char*, const unsigned char*, unsigned long long);
  return reinterpret_cast<Fn>(r->f1)(out, U(m), m.size()) == 0;
}
bool SodiumMac(Reference* r, const std::string& key, const std::string& data, uint8_t* out) {
  alignas(64) unsigned char state[1024];  // crypto_auth_hmacsha256_state is 208 bytes in 1.0.18
  using Init = int (*)(void*, const unsigned char*, size_t);
  using Update = int (*)(void*, const unsigned char*, unsigned long long);
  using Final = int (*)(void*, unsigned char*);
  return reinterpret_cast<Init>(r->f2)(state, U(key), key.size()) == 0 &&
         reinterpret_cast<Update>(r->f3)(state, U(data), data.size()) == 0 &&
         reinterpret_cast<Final>(r->f4)(state, out) == 0;
}

bool LoadReference(Reference* r) {
  if (std::strcmp(r->name, "openssl") == 0) {
    r->lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!r->lib) return false;
    r->f1 = dlsym(r->lib, "SHA256");
    r->f2 = dlsym(r->lib, "EVP_sha256");
    r->f3 = dlsym(r->lib, "HMAC");
    r->sha = OpenSslSha;
    r->mac = OpenSslMac;
    return r->f1 && r->f2 && r->f3;
  }
  r->lib = dlopen("libsodium.so.23", RTLD_NOW | RTLD_LOCAL);
  if (!r->lib) return false;
  r->f1 = dlsym(r->lib, "crypto_hash_sha256");
  r->f2 = dlsym(r->lib, "crypto_auth_hmacsha256_init");
  r->f3 = dlsym(r->lib, "crypto_auth_hmacsha256_update");
  r->f4 = dlsym(r->lib, "crypto_auth_hmacsha256_final");
  r->f5 = dlsym(r->lib, "sodium_init");
  r->sha = SodiumSha;
  r->mac = SodiumMac;
  if (!(r->f1 && r->f2 && r->f3 && r->f4 && r->f5)) return false;
  using InitFn = int (*)();
  return reinterpret_cast<InitFn>(r->f5)() >= 0;
}

class CrossCheckTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CrossCheckTest, RandomInputsAgree) {
  Reference ref{GetParam()};
  if (!LoadReference(&ref)) GTEST_SKIP() << GetParam() << " not installed (dlopen failed): no cross-check";
  std::mt19937_64 rng(0x5eed0000u + static_cast<unsigned>(std::strlen(GetParam())));
  for (int iter = 0; iter < 1000; ++iter) {
    std::string key(rng() % 200, '\0'), data(rng() % (iter % 10 == 0 ? 5000 : 300), '\0');
    for (auto& c : key) c = static_cast<char>(rng());
    for (auto& c : data) c = static_cast<char>(rng());
    uint8_t want[kSha256Size], got[kSha256Size];
    ASSERT_TRUE(ref.sha(&ref, data, want));
    Sha256::Hash(U(data), data.size(), got);
    ASSERT_EQ(Hex(got, sizeof got), Hex(want, sizeof want)) << "sha, iteration " << iter;
    ASSERT_TRUE(ref.mac(&ref, key, data, want));
    HmacSha256::Mac(U(key), key.size(), U(data), data.size(), got);
    ASSERT_EQ(Hex(got, sizeof got), Hex(want, sizeof want)) << "hmac, iteration " << iter;
  }
  dlclose(ref.lib);
}

INSTANTIATE_TEST_SUITE_P(Libraries, CrossCheckTest, ::testing::Values("openssl", "libsodium"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

}  // namespace
}  // namespace uvpn::proto
