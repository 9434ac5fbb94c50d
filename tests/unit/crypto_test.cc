// Unit tests of src/crypto (docs/protocol.md section 11): the Noise_NNpsk0 link handshake (noise.h), the AEAD
// records (aead.h), the replay window, and the key derivations (keys.h).
//
// Theory of operation: the handshake is run between two in-process Handshake objects: a completed round trip must
// give both sides crossed transport ciphers (each side's tx opens at the other's rx), one link id and one exporter;
// a wrong psk, a changed prologue or any flipped bit of either message must make the reader refuse it; a replayed
// first message answered twice must yield unrelated sessions. (The byte-exact cross-check against an independent
// implementation and the cacophony vector is tests/unit/noise_interop_test.py.) The AEAD is checked against
// libsodium called directly with the documented nonce layout (4 zero bytes, LE64 counter), for each suite this CPU
// supports. ReplayWindow is compared with a std::set model on bounded pseudo-random sequences. The key
// derivations are recomputed from their definitions with libsodium's keyed BLAKE2b.
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "crypto/aead.h"
#include "crypto/keys.h"
#include "crypto/noise.h"

namespace uvpn::crypto {
namespace {

void Random(uint8_t* p, size_t n) { randombytes_buf(p, n); }

struct Pair {
  LinkSession init, resp;
  uint8_t m1[kHandshakeBody], m2[kHandshakeBody];
};

// A full handshake between two fresh objects; false (with a gtest failure) if any step fails.
bool Handshake2(const uint8_t psk[kPskLen], const uint8_t* prologue, size_t plen, Pair* out) {
  Handshake i(true, psk, prologue, plen), r(false, psk, prologue, plen);
  uint8_t p = 0;
  EXPECT_TRUE(i.WriteFirst(0x03, out->m1));
  if (!r.ReadFirst(out->m1, &p)) return false;
  EXPECT_EQ(p, 0x03);
  EXPECT_TRUE(r.WriteSecond(0x01, out->m2));
  if (!i.ReadSecond(out->m2, &p)) return false;
  EXPECT_EQ(p, 0x01);
  i.Finish(&out->init);
  r.Finish(&out->resp);
  return true;
}

// tx of `a` seals, rx of `b` opens (and the counters move in step).
void ExpectCrossed(Cipher& tx, Cipher& rx) {
  const uint8_t ad[2] = {0x00, 0x20};
  uint8_t msg[16], ct[16 + kTagSize], pt[16];
  Random(msg, sizeof msg);
  for (int k = 0; k < 3; ++k) {
    tx.Seal(ad, sizeof ad, msg, sizeof msg, ct);
    ASSERT_TRUE(rx.Open(ad, sizeof ad, ct, sizeof ct, pt));
    EXPECT_EQ(0, memcmp(pt, msg, sizeof msg));
  }
  EXPECT_EQ(tx.counter(), 3u);
  EXPECT_EQ(rx.counter(), 3u);
}

class CryptoTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(Init()); }
};

// ---------------------------------------------------------------------------------------------- handshake

TEST_F(CryptoTest, HandshakeRoundTrip) {
  uint8_t psk[kPskLen];
  Random(psk, sizeof psk);
  const uint8_t prologue[] = "UVP1 LINK_INIT alpha 3f9c2a7e";
  Pair s;
  ASSERT_TRUE(Handshake2(psk, prologue, sizeof prologue - 1, &s));
  EXPECT_TRUE(s.init.initiator);
  EXPECT_FALSE(s.resp.initiator);
  EXPECT_EQ(s.init.link_id, s.resp.link_id);
  EXPECT_NE(s.init.link_id, 0u);
  EXPECT_EQ(0, memcmp(s.init.exporter, s.resp.exporter, kExporterLen));
  ASSERT_TRUE(s.init.tx.valid() && s.init.rx.valid() && s.resp.tx.valid() && s.resp.rx.valid());
  EXPECT_EQ(s.init.tx.suite(), Suite::kChaCha20Poly1305);
  ExpectCrossed(s.init.tx, s.resp.rx);
  ExpectCrossed(s.resp.tx, s.init.rx);
  // The two directions have different keys: a record sealed by the initiator does not open at its own rx.
  uint8_t msg[4] = {1, 2, 3, 4}, ct[4 + kTagSize], pt[4];
  s.init.tx.SealAt(7, nullptr, 0, msg, sizeof msg, ct);
  EXPECT_FALSE(s.init.rx.OpenAt(7, nullptr, 0, ct, sizeof ct, pt));
  EXPECT_TRUE(s.resp.rx.OpenAt(7, nullptr, 0, ct, sizeof ct, pt));
  // The link id is the message-independent part of h: a second handshake gives another one.
  Pair t;
  ASSERT_TRUE(Handshake2(psk, prologue, sizeof prologue - 1, &t));
  EXPECT_NE(s.init.link_id, t.init.link_id);
  EXPECT_NE(0, memcmp(s.init.exporter, t.init.exporter, kExporterLen));
}

TEST_F(CryptoTest, HandshakeEmptyPrologue) {
  uint8_t psk[kPskLen] = {};
  Pair s;
  ASSERT_TRUE(Handshake2(psk, nullptr, 0, &s));
  EXPECT_EQ(s.init.link_id, s.resp.link_id);
}

TEST_F(CryptoTest, HandshakeWrongPskFailsFirstMessage) {
  uint8_t psk[kPskLen], other[kPskLen];
  Random(psk, sizeof psk);
  memcpy(other, psk, sizeof psk);
  other[31] ^= 0x80;
  const uint8_t prologue[] = "p";
  Handshake i(true, psk, prologue, 1), r(false, other, prologue, 1);
  uint8_t m1[kHandshakeBody], p = 0xee;
  ASSERT_TRUE(i.WriteFirst(1, m1));
  EXPECT_FALSE(r.ReadFirst(m1, &p));
}

TEST_F(CryptoTest, HandshakeAlteredPrologueFailsFirstMessage) {
  uint8_t psk[kPskLen];
  Random(psk, sizeof psk);
  const uint8_t prologue[] = "UVP1 alpha 3f9c2a7e";
  const size_t n = sizeof prologue - 1;
  uint8_t m1[kHandshakeBody], p = 0;
  for (size_t pos = 0; pos < n; ++pos) {
    uint8_t changed[sizeof prologue];
    memcpy(changed, prologue, sizeof prologue);
    changed[pos] ^= 0x01;
    Handshake i(true, psk, prologue, n), r(false, psk, changed, n);
    ASSERT_TRUE(i.WriteFirst(1, m1));
    EXPECT_FALSE(r.ReadFirst(m1, &p)) << "prologue byte " << pos;
  }
  // Shorter and longer prologues too.
  {
    Handshake i(true, psk, prologue, n), r(false, psk, prologue, n - 1);
    ASSERT_TRUE(i.WriteFirst(1, m1));
    EXPECT_FALSE(r.ReadFirst(m1, &p));
  }
  {
    Handshake i(true, psk, prologue, n - 1), r(false, psk, prologue, n);
    ASSERT_TRUE(i.WriteFirst(1, m1));
    EXPECT_FALSE(r.ReadFirst(m1, &p));
  }
}

TEST_F(CryptoTest, HandshakeFlippedBitInFirstMessageFails) {
  uint8_t psk[kPskLen];
  Random(psk, sizeof psk);
  for (size_t bit = 0; bit < kHandshakeBody * 8; bit += 3) {
    Handshake i(true, psk, nullptr, 0), r(false, psk, nullptr, 0);
    uint8_t m1[kHandshakeBody], p = 0;
    ASSERT_TRUE(i.WriteFirst(1, m1));
    m1[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(r.ReadFirst(m1, &p)) << "bit " << bit;
  }
}

TEST_F(CryptoTest, HandshakeFlippedBitInSecondMessageFails) {
  uint8_t psk[kPskLen];
  Random(psk, sizeof psk);
  for (size_t byte = 0; byte < kHandshakeBody; ++byte) {
    Handshake i(true, psk, nullptr, 0), r(false, psk, nullptr, 0);
    uint8_t m1[kHandshakeBody], m2[kHandshakeBody], p = 0;
    ASSERT_TRUE(i.WriteFirst(1, m1));
    ASSERT_TRUE(r.ReadFirst(m1, &p));
    ASSERT_TRUE(r.WriteSecond(1, m2));
    m2[byte] ^= static_cast<uint8_t>(1u << (byte % 8));
    EXPECT_FALSE(i.ReadSecond(m2, &p)) << "byte " << byte;
  }
}

TEST_F(CryptoTest, HandshakeReplayedFirstMessageGivesUnrelatedSessions) {
  uint8_t psk[kPskLen];
  Random(psk, sizeof psk);
  Handshake i(true, psk, nullptr, 0), r1(false, psk, nullptr, 0), r2(false, psk, nullptr, 0);
  uint8_t m1[kHandshakeBody], a[kHandshakeBody], b[kHandshakeBody], p = 0;
  ASSERT_TRUE(i.WriteFirst(1, m1));
  ASSERT_TRUE(r1.ReadFirst(m1, &p));
  ASSERT_TRUE(r2.ReadFirst(m1, &p));  // the replay authenticates (psk0 cannot tell) ...
  ASSERT_TRUE(r1.WriteSecond(1, a));
  ASSERT_TRUE(r2.WriteSecond(1, b));
  EXPECT_NE(0, memcmp(a, b, kDhLen));  // ... but each answer has a fresh ephemeral
  LinkSession s1, s2;
  r1.Finish(&s1);
  r2.Finish(&s2);
  EXPECT_NE(0, memcmp(s1.exporter, s2.exporter, kExporterLen));
  EXPECT_NE(s1.link_id, s2.link_id);
  // Only the answer the real initiator reads completes: its session matches r1's, not r2's.
  ASSERT_TRUE(i.ReadSecond(a, &p));
  LinkSession si;
  i.Finish(&si);
  EXPECT_EQ(0, memcmp(si.exporter, s1.exporter, kExporterLen));
  EXPECT_NE(0, memcmp(si.exporter, s2.exporter, kExporterLen));
}

TEST_F(CryptoTest, HandshakeRolesAreEnforced) {
  uint8_t psk[kPskLen] = {}, m[kHandshakeBody] = {}, p = 0;
  Handshake i(true, psk, nullptr, 0), r(false, psk, nullptr, 0);
  EXPECT_FALSE(r.WriteFirst(1, m));
  EXPECT_FALSE(i.WriteSecond(1, m));
  EXPECT_FALSE(i.ReadFirst(m, &p));
  EXPECT_FALSE(r.ReadSecond(m, &p));
}

TEST_F(CryptoTest, HandshakeLowOrderEphemeralRefused) {
  // An all-zero "e" from the responder makes ee all-zero: ReadSecond must refuse it.
  uint8_t psk[kPskLen] = {}, m1[kHandshakeBody], m2[kHandshakeBody] = {}, p = 0;
  Handshake i(true, psk, nullptr, 0);
  ASSERT_TRUE(i.WriteFirst(1, m1));
  EXPECT_FALSE(i.ReadSecond(m2, &p));
}

// ---------------------------------------------------------------------------------------------- AEAD

std::vector<Suite> Suites() {
  std::vector<Suite> v = {Suite::kChaCha20Poly1305};
  if (SupportedSuites() & static_cast<uint8_t>(Suite::kAes256Gcm)) v.push_back(Suite::kAes256Gcm);
  return v;
}

// libsodium directly, with the documented nonce (4 zero bytes, LE64 counter).
void ReferenceSeal(Suite s, const uint8_t key[kKeySize], uint64_t n, const uint8_t* ad, size_t ad_len,
                   const uint8_t* in, size_t len, uint8_t* out) {
  uint8_t nonce[12] = {};
  for (int k = 0; k < 8; ++k) nonce[4 + k] = static_cast<uint8_t>(n >> (8 * k));
  unsigned long long clen = 0;
  if (s == Suite::kAes256Gcm) {
    crypto_aead_aes256gcm_encrypt(out, &clen, in, len, ad, ad_len, nullptr, nonce, key);
  } else {
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, len, ad, ad_len, nullptr, nonce, key);
  }
  ASSERT_EQ(clen, len + kTagSize);
}

TEST_F(CryptoTest, SupportedSuitesAlwaysHasChaCha) {
  EXPECT_TRUE(SupportedSuites() & static_cast<uint8_t>(Suite::kChaCha20Poly1305));
  EXPECT_EQ(SupportedSuites() & ~uint8_t{3}, 0);
}

TEST_F(CryptoTest, AeadRoundTripMatchesLibsodium) {
  for (Suite suite : Suites()) {
    SCOPED_TRACE(static_cast<int>(suite));
    uint8_t key[kKeySize];
    Random(key, sizeof key);
    Cipher tx, rx;
    EXPECT_FALSE(tx.valid());
    tx.SetKey(suite, key);
    rx.SetKey(suite, key);
    EXPECT_TRUE(tx.valid());
    EXPECT_EQ(tx.suite(), suite);
    const uint8_t ad[] = "associated";
    for (size_t len : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{1000}, kMaxRecordPlain}) {
      std::vector<uint8_t> msg(len), ct(len + kTagSize), ref(len + kTagSize), pt(len + 1);
      Random(msg.data(), len);
      uint64_t n = tx.counter();
      tx.Seal(ad, sizeof ad, msg.data(), len, ct.data());
      EXPECT_EQ(tx.counter(), n + 1);
      ReferenceSeal(suite, key, n, ad, sizeof ad, msg.data(), len, ref.data());
      EXPECT_EQ(ct, ref) << "length " << len;
      ASSERT_TRUE(rx.Open(ad, sizeof ad, ct.data(), ct.size(), pt.data()));
      EXPECT_EQ(rx.counter(), n + 1);
      EXPECT_EQ(0, memcmp(pt.data(), msg.data(), len));
    }
  }
}

TEST_F(CryptoTest, AeadFirstCounterAndSealAt) {
  for (Suite suite : Suites()) {
    uint8_t key[kKeySize], msg[40], ct[40 + kTagSize], ref[40 + kTagSize], pt[40];
    Random(key, sizeof key);
    Random(msg, sizeof msg);
    Cipher c;
    c.SetKey(suite, key, 1);  // legs: the dialer's tx counts from 1 after LEG_OPEN
    EXPECT_EQ(c.counter(), 1u);
    c.Seal(nullptr, 0, msg, sizeof msg, ct);
    ReferenceSeal(suite, key, 1, nullptr, 0, msg, sizeof msg, ref);
    EXPECT_EQ(0, memcmp(ct, ref, sizeof ct));
    const uint64_t big = 0x0102030405060708ull;
    c.SealAt(big, msg, 8, msg, sizeof msg, ct);
    EXPECT_EQ(c.counter(), 2u);  // SealAt does not touch the counter
    ReferenceSeal(suite, key, big, msg, 8, msg, sizeof msg, ref);
    EXPECT_EQ(0, memcmp(ct, ref, sizeof ct));
    EXPECT_TRUE(c.OpenAt(big, msg, 8, ct, sizeof ct, pt));
    EXPECT_EQ(0, memcmp(pt, msg, sizeof msg));
    EXPECT_FALSE(c.OpenAt(big + 1, msg, 8, ct, sizeof ct, pt));
    EXPECT_FALSE(c.OpenAt(big - 1, msg, 8, ct, sizeof ct, pt));
    EXPECT_EQ(c.counter(), 2u);
  }
}

TEST_F(CryptoTest, AeadOpenInPlace) {
  for (Suite suite : Suites()) {
    uint8_t key[kKeySize], msg[100], buf[100 + kTagSize];
    Random(key, sizeof key);
    Random(msg, sizeof msg);
    Cipher tx, rx;
    tx.SetKey(suite, key);
    rx.SetKey(suite, key);
    tx.Seal(nullptr, 0, msg, sizeof msg, buf);
    ASSERT_TRUE(rx.Open(nullptr, 0, buf, sizeof buf, buf));
    EXPECT_EQ(0, memcmp(buf, msg, sizeof msg));
  }
}

TEST_F(CryptoTest, AeadTamperFailsAndCounterAdvancesOnlyOnSuccess) {
  for (Suite suite : Suites()) {
    SCOPED_TRACE(static_cast<int>(suite));
    uint8_t key[kKeySize], msg[33], ct[33 + kTagSize], pt[33];
    Random(key, sizeof key);
    Random(msg, sizeof msg);
    uint8_t ad[5] = {1, 2, 3, 4, 5};
    Cipher tx, rx;
    tx.SetKey(suite, key);
    rx.SetKey(suite, key);
    tx.Seal(ad, sizeof ad, msg, sizeof msg, ct);
    for (size_t i = 0; i < sizeof ct; ++i) {  // ciphertext and tag bytes
      ct[i] ^= 0x10;
      EXPECT_FALSE(rx.Open(ad, sizeof ad, ct, sizeof ct, pt)) << "byte " << i;
      ct[i] ^= 0x10;
    }
    for (size_t i = 0; i < sizeof ad; ++i) {
      ad[i] ^= 0x01;
      EXPECT_FALSE(rx.Open(ad, sizeof ad, ct, sizeof ct, pt)) << "ad byte " << i;
      ad[i] ^= 0x01;
    }
    EXPECT_FALSE(rx.Open(ad, sizeof ad - 1, ct, sizeof ct, pt));  // shorter AD
    EXPECT_FALSE(rx.Open(ad, sizeof ad, ct, sizeof ct - 1, pt));  // truncated
    EXPECT_FALSE(rx.Open(ad, sizeof ad, ct, kTagSize - 1, pt));   // shorter than a tag
    EXPECT_EQ(rx.counter(), 0u);
    ASSERT_TRUE(rx.Open(ad, sizeof ad, ct, sizeof ct, pt));  // the genuine record still opens
    EXPECT_EQ(rx.counter(), 1u);
    EXPECT_FALSE(rx.Open(ad, sizeof ad, ct, sizeof ct, pt));  // and only once (counter moved)
    EXPECT_EQ(rx.counter(), 1u);
  }
}

TEST_F(CryptoTest, AeadSuitesAndKeysDoNotCrossOpen) {
  if (Suites().size() < 2) GTEST_SKIP() << "AES-256-GCM not available on this CPU";
  uint8_t key[kKeySize], msg[8] = {}, ct[8 + kTagSize], pt[8];
  Random(key, sizeof key);
  Cipher a, b;
  a.SetKey(Suite::kChaCha20Poly1305, key);
  b.SetKey(Suite::kAes256Gcm, key);
  a.Seal(nullptr, 0, msg, sizeof msg, ct);
  EXPECT_FALSE(b.Open(nullptr, 0, ct, sizeof ct, pt));
}

TEST_F(CryptoTest, ClearWipesAndInvalidates) {
  uint8_t key[kKeySize], msg[8] = {}, ct[8 + kTagSize], pt[8];
  Random(key, sizeof key);
  Cipher c;
  c.SetKey(Suite::kChaCha20Poly1305, key, 5);
  c.Seal(nullptr, 0, msg, sizeof msg, ct);
  c.Clear();
  EXPECT_FALSE(c.valid());
  EXPECT_EQ(c.counter(), 0u);
  EXPECT_FALSE(c.OpenAt(5, nullptr, 0, ct, sizeof ct, pt));  // the key is gone
}

TEST_F(CryptoTest, RecordFraming) {
  uint8_t h[2];
  auto len = [&](size_t v) {
    h[0] = static_cast<uint8_t>(v >> 8);
    h[1] = static_cast<uint8_t>(v);
    return RecordCipherLen(h);
  };
  EXPECT_EQ(len(0), 0u);
  EXPECT_EQ(len(15), 0u);
  EXPECT_EQ(len(16), 16u);
  EXPECT_EQ(len(17), 17u);
  EXPECT_EQ(len(16400), 16400u);
  EXPECT_EQ(len(16401), 0u);
  EXPECT_EQ(len(0xffff), 0u);
  EXPECT_EQ(kMaxRecord, 2u + 16384u + 16u);

  uint8_t key[kKeySize];
  Random(key, sizeof key);
  for (Suite suite : Suites()) {
    Cipher tx, rx;
    tx.SetKey(suite, key);
    rx.SetKey(suite, key);
    for (size_t n : {size_t{0}, size_t{1}, kMaxRecordPlain}) {
      std::vector<uint8_t> msg(n), rec(kMaxRecord), pt(n + 1);
      Random(msg.data(), n);
      size_t r = SealRecord(tx, msg.data(), n, rec.data());
      ASSERT_EQ(r, kRecordHeader + n + kTagSize);
      ASSERT_EQ(RecordCipherLen(rec.data()), n + kTagSize);  // 16 (empty: end of stream) .. 16400
      ASSERT_TRUE(rx.Open(rec.data(), kRecordHeader, rec.data() + kRecordHeader, n + kTagSize, pt.data()));
      EXPECT_EQ(0, memcmp(pt.data(), msg.data(), n));
      // The length is authenticated: a record whose header is changed does not open.
      SealRecord(tx, msg.data(), n, rec.data());
      rec[1] ^= 1;
      EXPECT_FALSE(rx.Open(rec.data(), kRecordHeader, rec.data() + kRecordHeader, n + kTagSize, pt.data()));
      rec[1] ^= 1;
      EXPECT_TRUE(rx.Open(rec.data(), kRecordHeader, rec.data() + kRecordHeader, n + kTagSize, pt.data()));
    }
  }
}

// ---------------------------------------------------------------------------------------------- replay window

template <typename W>
class ReplayWindowTest : public ::testing::Test {};
template <size_t N>
struct WindowOf {
  static constexpr uint64_t kBits = N;
  ReplayWindow<N> w;
};
using WindowTypes = ::testing::Types<WindowOf<64>, WindowOf<4096>>;
TYPED_TEST_SUITE(ReplayWindowTest, WindowTypes);

TYPED_TEST(ReplayWindowTest, FreshOnceDuplicatesAndZeroRefused) {
  TypeParam t;
  auto& w = t.w;
  EXPECT_FALSE(w.Check(0));
  for (uint64_t n = 1; n <= 10; ++n) EXPECT_TRUE(w.Check(n));
  for (uint64_t n = 1; n <= 10; ++n) EXPECT_FALSE(w.Check(n));
  EXPECT_FALSE(w.Check(0));
  // Out of order within the window.
  EXPECT_TRUE(w.Check(20));
  EXPECT_TRUE(w.Check(15));
  EXPECT_FALSE(w.Check(15));
  EXPECT_TRUE(w.Check(11));
  EXPECT_FALSE(w.Check(20));
  w.Reset();
  EXPECT_TRUE(w.Check(5));  // forgotten after Reset
}

TYPED_TEST(ReplayWindowTest, OlderThanWindowRefused) {
  TypeParam t;
  auto& w = t.w;
  const uint64_t k = TypeParam::kBits, top = 3 * k + 7;
  ASSERT_TRUE(w.Check(top));
  EXPECT_FALSE(w.Check(top - k));      // just outside
  EXPECT_TRUE(w.Check(top - k + 1));   // oldest inside
  EXPECT_FALSE(w.Check(top - k + 1));
  EXPECT_FALSE(w.Check(1));
  EXPECT_TRUE(w.Check(top - 1));
}

TYPED_TEST(ReplayWindowTest, JumpsClearTheWindow) {
  TypeParam t;
  auto& w = t.w;
  const uint64_t k = TypeParam::kBits;
  for (uint64_t n = 1; n <= k; ++n) ASSERT_TRUE(w.Check(n));  // every bit set
  // A small jump: the numbers passed over alias bits of old numbers and must read as unseen.
  ASSERT_TRUE(w.Check(k + 5));
  for (uint64_t n = k + 1; n < k + 5; ++n) EXPECT_TRUE(w.Check(n)) << n;
  for (uint64_t n = 6; n <= k; ++n) EXPECT_FALSE(w.Check(n)) << n;  // still inside, seen
  // A jump of exactly the window and one far beyond.
  for (uint64_t jump : {k, 5 * k + 3, uint64_t{1} << 40}) {
    uint64_t top = k + 5;
    TypeParam u;
    for (uint64_t n = 1; n <= top; ++n) ASSERT_TRUE(u.w.Check(n));
    ASSERT_TRUE(u.w.Check(top + jump));
    for (uint64_t n = top + jump - k + 1; n < top + jump; ++n) {
      if (n > top) {
        ASSERT_TRUE(u.w.Check(n)) << "jump " << jump << " n " << n;
      }
    }
    for (uint64_t n = top + jump - k + 1; n <= top; ++n) EXPECT_FALSE(u.w.Check(n));  // seen before the jump
  }
  // The top of the counter space.
  TypeParam v;
  EXPECT_TRUE(v.w.Check(~uint64_t{0}));
  EXPECT_FALSE(v.w.Check(~uint64_t{0}));
  EXPECT_TRUE(v.w.Check(~uint64_t{0} - 1));
  EXPECT_FALSE(v.w.Check(1));
}

TYPED_TEST(ReplayWindowTest, MatchesSetModel) {
  const uint64_t k = TypeParam::kBits;
  std::mt19937_64 rng(0x5eed + k);
  for (int round = 0; round < 20; ++round) {
    TypeParam t;
    std::set<uint64_t> seen;
    uint64_t top = 0;
    for (int it = 0; it < 5000; ++it) {
      uint64_t n;
      uint64_t r = rng() % 100;
      if (r < 50) {
        n = top + rng() % 8;                                      // mostly forward, small steps
      } else if (r < 90) {
        uint64_t back = rng() % (2 * k);                          // reordered or replayed
        n = back > top ? rng() % 3 : top - back;
      } else if (r < 98) {
        n = top + k - 2 + rng() % 5;                              // around one window ahead
      } else {
        n = top + (rng() % (8 * k));                              // big jump
      }
      bool want = n != 0 && !seen.count(n) && (n > top || top - n < k);
      bool got = t.w.Check(n);
      ASSERT_EQ(got, want) << "round " << round << " step " << it << " n " << n << " top " << top;
      if (want) {
        seen.insert(n);
        if (n > top) top = n;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------- keys

void B(const uint8_t* key, size_t key_len, const std::string& msg, uint8_t out[32]) {
  crypto_generichash(out, 32, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), key, key_len);
}

TEST_F(CryptoTest, LinkPskSymmetricPerPairAndAsDocumented) {
  uint8_t s[32], a[kPskLen], b[kPskLen], c[kPskLen], want[32];
  Random(s, sizeof s);
  LinkPsk(s, "alpha", "beta", a);
  LinkPsk(s, "beta", "alpha", b);
  EXPECT_EQ(0, memcmp(a, b, kPskLen));
  B(s, 32, std::string("uvpn link psk\0alpha\0beta", 24), want);
  EXPECT_EQ(0, memcmp(a, want, kPskLen));
  LinkPsk(s, "alpha", "gamma", c);
  EXPECT_NE(0, memcmp(a, c, kPskLen));
  LinkPsk(s, "beta", "gamma", c);
  EXPECT_NE(0, memcmp(a, c, kPskLen));
  // The separators keep the names apart: ("ab","c") and ("a","bc") differ.
  LinkPsk(s, "ab", "c", b);
  LinkPsk(s, "a", "bc", c);
  EXPECT_NE(0, memcmp(b, c, kPskLen));
  // Another secret, another key.
  s[0] ^= 1;
  LinkPsk(s, "alpha", "beta", b);
  EXPECT_NE(0, memcmp(a, b, kPskLen));
}

TEST_F(CryptoTest, LegKeysDistinctAndAsDocumented) {
  uint8_t x[kExporterLen];
  Random(x, sizeof x);
  uint8_t kd[kKeySize], ka[kKeySize], kd2[kKeySize], ka2[kKeySize], want[32];
  LegKeys(x, 0, 1, kd, ka);
  EXPECT_NE(0, memcmp(kd, ka, kKeySize));
  std::string m("uvpn leg\0\0\0\0\0\0\0\0\0\1d", 19);
  B(x, kExporterLen, m, want);
  EXPECT_EQ(0, memcmp(kd, want, kKeySize));
  m.back() = 'a';
  B(x, kExporterLen, m, want);
  EXPECT_EQ(0, memcmp(ka, want, kKeySize));

  LegKeys(x, 1, 1, kd2, ka2);  // other dialer
  EXPECT_NE(0, memcmp(kd, kd2, kKeySize));
  EXPECT_NE(0, memcmp(ka, ka2, kKeySize));
  LegKeys(x, 0, 2, kd2, ka2);  // next leg
  EXPECT_NE(0, memcmp(kd, kd2, kKeySize));
  EXPECT_NE(0, memcmp(ka, ka2, kKeySize));
  LegKeys(x, 0, uint64_t{1} << 56, kd2, ka2);  // big-endian number: the high byte counts
  EXPECT_NE(0, memcmp(kd, kd2, kKeySize));
  LegKeys(x, 0, 1, kd2, ka2);  // deterministic
  EXPECT_EQ(0, memcmp(kd, kd2, kKeySize));
  EXPECT_EQ(0, memcmp(ka, ka2, kKeySize));

  uint8_t u0[kKeySize], u1[kKeySize];
  UdpKey(x, 0, u0);
  UdpKey(x, 1, u1);
  EXPECT_NE(0, memcmp(u0, u1, kKeySize));
  B(x, kExporterLen, std::string("uvpn udp\0\1", 10), want);
  EXPECT_EQ(0, memcmp(u1, want, kKeySize));
  EXPECT_NE(0, memcmp(u0, kd, kKeySize));
}

}  // namespace
}  // namespace uvpn::crypto
