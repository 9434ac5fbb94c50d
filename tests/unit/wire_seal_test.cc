// Unit tests of the security codecs (docs/protocol.md section 11): LINK_INIT, LINK_RESP, LEG_OPEN and the
// UDP_SEALED header. Round trip against the documented byte layout, kNeedMore on every strict prefix, kBad on
// every field a peer may get wrong (names, version, reserved bytes, lengths, leg number 0, another type), and the
// encoders' size limits.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "proto/wire.h"

namespace uvpn::proto {
namespace {

LinkInitMsg SampleInit(const char* site = "alpha", const char* session = "3f9c2a7e") {
  LinkInitMsg m;
  m.hello.site_len = static_cast<uint8_t>(strlen(site));
  memcpy(m.hello.site, site, m.hello.site_len);
  m.hello.session_len = static_cast<uint8_t>(strlen(session));
  memcpy(m.hello.session, session, m.hello.session_len);
  for (size_t i = 0; i < kHandshakeBody; ++i) m.body[i] = static_cast<uint8_t>(0xa0 + i);
  return m;
}

std::vector<uint8_t> Enc(const LinkInitMsg& m) {
  std::vector<uint8_t> b(kMaxMessage);
  size_t n = Encode(m, b.data(), b.size());
  b.resize(n);
  return b;
}

template <typename M>
void ExpectEveryPrefixNeedsMore(const std::vector<uint8_t>& b) {
  for (size_t k = 0; k < b.size(); ++k) {
    std::vector<uint8_t> part(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(k));  // exact-size buffer
    M m;
    size_t used = 0;
    EXPECT_EQ(Decode(part.data(), part.size(), &m, &used), Parse::kNeedMore) << "prefix " << k;
  }
}

template <typename M>
Parse Dec(const std::vector<uint8_t>& b) {
  M m;
  size_t used = 0;
  return Decode(b.data(), b.size(), &m, &used);
}

// ---------------------------------------------------------------------------------------------- LINK_INIT

TEST(WireSeal, LinkInitRoundTripAndLayout) {
  LinkInitMsg m = SampleInit();
  std::vector<uint8_t> b = Enc(m);
  ASSERT_EQ(b.size(), 16u + 5 + 8 + 49);
  const uint8_t head[] = {0x55, 0x56, 0x50, 0x31, 20, 0, 0, 78,  // prefix: LINK_INIT, length 78
                          0,    1,    5,    0,    0,  0, 0, 0};  // version 1, site_len 5, reserved
  EXPECT_EQ(0, memcmp(b.data(), head, sizeof head));
  EXPECT_EQ(0, memcmp(b.data() + 16, "alpha3f9c2a7e", 13));
  EXPECT_EQ(0, memcmp(b.data() + 29, m.body, kHandshakeBody));

  LinkInitMsg d;
  size_t used = 0;
  ASSERT_EQ(Decode(b.data(), b.size(), &d, &used), Parse::kOk);
  EXPECT_EQ(used, b.size());
  EXPECT_EQ(std::string(d.hello.site, d.hello.site_len), "alpha");
  EXPECT_EQ(std::string(d.hello.session, d.hello.session_len), "3f9c2a7e");
  EXPECT_EQ(0, memcmp(d.body, m.body, kHandshakeBody));
  EXPECT_EQ(Enc(d), b);
  // Trailing bytes (the first record) are not consumed.
  std::vector<uint8_t> more = b;
  more.insert(more.end(), {1, 2, 3});
  ASSERT_EQ(Decode(more.data(), more.size(), &d, &used), Parse::kOk);
  EXPECT_EQ(used, b.size());
  // The encoder needs the whole size.
  std::vector<uint8_t> small(b.size() - 1);
  EXPECT_EQ(Encode(m, small.data(), small.size()), 0u);
  ExpectEveryPrefixNeedsMore<LinkInitMsg>(b);
}

TEST(WireSeal, LinkInitSizeExtremes) {
  std::string site(kMaxSiteName, 's'), session(kMaxSessionId, 'S');
  std::vector<uint8_t> b = Enc(SampleInit(site.c_str(), session.c_str()));
  ASSERT_EQ(b.size(), kMaxMessage);
  EXPECT_EQ(Dec<LinkInitMsg>(b), Parse::kOk);
  b = Enc(SampleInit("a", "b"));
  ASSERT_EQ(b.size(), 16u + 2 + 49);
  EXPECT_EQ(Dec<LinkInitMsg>(b), Parse::kOk);
  ExpectEveryPrefixNeedsMore<LinkInitMsg>(b);
}

TEST(WireSeal, LinkInitBadNamesAndFields) {
  // Names outside [A-Za-z0-9_-] (no dots in site or session ids).
  for (const char* site : {"al.ha", "al ha", "al/ha", "al\xc3\xa9", "al\nha"})
    EXPECT_EQ(Dec<LinkInitMsg>(Enc(SampleInit(site))), Parse::kBad) << site;
  for (const char* session : {"3f9c.2a7e", "3f9c 2a7e", "../x", "id\x01"})
    EXPECT_EQ(Dec<LinkInitMsg>(Enc(SampleInit("alpha", session))), Parse::kBad) << session;
  EXPECT_EQ(Dec<LinkInitMsg>(Enc(SampleInit("a_b-C9", "Z_9-z"))), Parse::kOk);

  const std::vector<uint8_t> good = Enc(SampleInit());
  auto patched = [&](size_t at, uint8_t v) {
    std::vector<uint8_t> b = good;
    b[at] = v;
    return Dec<LinkInitMsg>(b);
  };
  EXPECT_EQ(patched(9, 2), Parse::kBad);    // version 2
  EXPECT_EQ(patched(8, 1), Parse::kBad);    // version 257
  EXPECT_EQ(patched(10, 0), Parse::kBad);   // site_len 0
  EXPECT_EQ(patched(10, 13), Parse::kBad);  // site takes the whole name area: empty session
  EXPECT_EQ(patched(10, 33), Parse::kBad);  // site_len > 32
  for (size_t r = 11; r < 16; ++r) EXPECT_EQ(patched(r, 1), Parse::kBad) << "reserved " << r;
  EXPECT_EQ(patched(5, 1), Parse::kBad);    // a flag
  EXPECT_EQ(patched(4, 9), Parse::kBad);    // HELLO's type: another message
  // A declared length too small for any session id (16 + site + body) or above the maximum.
  EXPECT_EQ(patched(7, 16 + 5 + 49), Parse::kBad);
  EXPECT_EQ(patched(7, 16 + 1 + 49), Parse::kBad);
  std::vector<uint8_t> b = good;
  b[6] = static_cast<uint8_t>((kMaxMessage + 1) >> 8);
  b[7] = static_cast<uint8_t>(kMaxMessage + 1);
  EXPECT_EQ(Dec<LinkInitMsg>(b), Parse::kBad);
  // A session id longer than 64 bytes (site_len 1, the largest length).
  std::vector<uint8_t> longid(kMaxMessage, 'x');
  memcpy(longid.data(), good.data(), 16);
  longid[6] = 0;
  longid[7] = static_cast<uint8_t>(kMaxMessage);
  longid[10] = 1;
  EXPECT_EQ(Dec<LinkInitMsg>(longid), Parse::kBad);
  longid[10] = static_cast<uint8_t>(kMaxMessage - 16 - kHandshakeBody - kMaxSessionId);  // 32: now exactly 64
  EXPECT_EQ(Dec<LinkInitMsg>(longid), Parse::kOk);
}

// ---------------------------------------------------------------------------------------------- LINK_RESP

TEST(WireSeal, LinkRespRoundTrip) {
  LinkRespMsg m;
  for (size_t i = 0; i < kHandshakeBody; ++i) m.body[i] = static_cast<uint8_t>(i * 7);
  std::vector<uint8_t> b(kLinkRespSize + 4);
  ASSERT_EQ(Encode(m, b.data(), b.size()), kLinkRespSize);
  b.resize(kLinkRespSize);
  ASSERT_EQ(kLinkRespSize, 57u);
  const uint8_t head[] = {0x55, 0x56, 0x50, 0x31, 21, 0, 0, 57};
  EXPECT_EQ(0, memcmp(b.data(), head, sizeof head));
  EXPECT_EQ(0, memcmp(b.data() + 8, m.body, kHandshakeBody));
  LinkRespMsg d;
  size_t used = 0;
  ASSERT_EQ(Decode(b.data(), b.size(), &d, &used), Parse::kOk);
  EXPECT_EQ(used, kLinkRespSize);
  EXPECT_EQ(0, memcmp(d.body, m.body, kHandshakeBody));
  uint8_t small[kLinkRespSize - 1];
  EXPECT_EQ(Encode(m, small, sizeof small), 0u);
  ExpectEveryPrefixNeedsMore<LinkRespMsg>(b);
  for (uint8_t len : {56, 58}) {
    std::vector<uint8_t> x = b;
    x[7] = len;
    if (len == 58) x.push_back(0);
    EXPECT_EQ(Dec<LinkRespMsg>(x), Parse::kBad) << int{len};
  }
  std::vector<uint8_t> x = b;
  x[5] = 1;
  EXPECT_EQ(Dec<LinkRespMsg>(x), Parse::kBad);  // a flag
  EXPECT_EQ(Dec<LinkInitMsg>(b), Parse::kBad);  // another type
}

// ---------------------------------------------------------------------------------------------- LEG_OPEN

TEST(WireSeal, LegOpenRoundTripAndLayout) {
  LegOpenMsg m;
  m.link_id = 0x0102030405060708ull;
  m.leg_no = 0x1112131415161718ull;
  for (size_t i = 0; i < sizeof m.sealed; ++i) m.sealed[i] = static_cast<uint8_t>(0xff - i);
  std::vector<uint8_t> b(kLegOpenSize);
  ASSERT_EQ(Encode(m, b.data(), b.size()), kLegOpenSize);
  ASSERT_EQ(kLegOpenSize, 72u);
  const uint8_t head[] = {0x55, 0x56, 0x50, 0x31, 22,   0,    0,    72,    // prefix
                          1,    2,    3,    4,    5,    6,    7,    8,     // link_id
                          0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};  // leg_no
  EXPECT_EQ(0, memcmp(b.data(), head, sizeof head));
  EXPECT_EQ(0, memcmp(b.data() + kLegOpenAd, m.sealed, sizeof m.sealed));
  LegOpenMsg d;
  size_t used = 0;
  ASSERT_EQ(Decode(b.data(), b.size(), &d, &used), Parse::kOk);
  EXPECT_EQ(used, kLegOpenSize);
  EXPECT_EQ(d.link_id, m.link_id);
  EXPECT_EQ(d.leg_no, m.leg_no);
  EXPECT_EQ(0, memcmp(d.sealed, m.sealed, sizeof m.sealed));
  uint8_t small[kLegOpenSize - 1];
  EXPECT_EQ(Encode(m, small, sizeof small), 0u);
  ExpectEveryPrefixNeedsMore<LegOpenMsg>(b);
  // leg_no 1 is the first valid one; 0 is refused.
  m.leg_no = 1;
  ASSERT_EQ(Encode(m, b.data(), b.size()), kLegOpenSize);
  EXPECT_EQ(Dec<LegOpenMsg>(b), Parse::kOk);
  m.leg_no = 0;
  ASSERT_EQ(Encode(m, b.data(), b.size()), kLegOpenSize);
  EXPECT_EQ(Dec<LegOpenMsg>(b), Parse::kBad);
  ExpectEveryPrefixNeedsMore<LegOpenMsg>(b);  // the number is judged only once the message is whole
  m.leg_no = 2;
  ASSERT_EQ(Encode(m, b.data(), b.size()), kLegOpenSize);
  std::vector<uint8_t> x = b;
  x[7] = 71;
  EXPECT_EQ(Dec<LegOpenMsg>(x), Parse::kBad);  // wrong length
  x = b;
  x[5] = 1;
  EXPECT_EQ(Dec<LegOpenMsg>(x), Parse::kBad);  // a flag
  x = b;
  x[4] = 23;
  EXPECT_EQ(Dec<LegOpenMsg>(x), Parse::kBad);  // another type
}

// ---------------------------------------------------------------------------------------------- UDP_SEALED

TEST(WireSeal, UdpSealedHeaderRoundTripAndLimits) {
  UdpSealedHeader m;
  m.link_id = 0x8877665544332211ull;
  m.counter = 0x0000000100000002ull;
  m.sealed_len = 16 + kUdpHeaderSize + 5;
  std::vector<uint8_t> b(kUdpSealedHeader);
  ASSERT_EQ(Encode(m, b.data(), b.size()), kUdpSealedHeader);
  const size_t total = kUdpSealedHeader + m.sealed_len;
  const uint8_t head[] = {0x55, 0x56, 0x50, 0x31, 23, 0, static_cast<uint8_t>(total >> 8), static_cast<uint8_t>(total),
                          0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                          0,    0,    0,    1,    0,    0,    0,    2};
  EXPECT_EQ(0, memcmp(b.data(), head, sizeof head));
  // Decode needs the header only; sealed_len comes from the prefix.
  UdpSealedHeader d;
  size_t used = 0;
  ASSERT_EQ(Decode(b.data(), b.size(), &d, &used), Parse::kOk);
  EXPECT_EQ(used, kUdpSealedHeader);
  EXPECT_EQ(d.link_id, m.link_id);
  EXPECT_EQ(d.counter, m.counter);
  EXPECT_EQ(d.sealed_len, m.sealed_len);
  std::vector<uint8_t> again(kUdpSealedHeader);
  ASSERT_EQ(Encode(d, again.data(), again.size()), kUdpSealedHeader);
  EXPECT_EQ(again, b);
  ExpectEveryPrefixNeedsMore<UdpSealedHeader>(b);
  uint8_t small[kUdpSealedHeader - 1];
  EXPECT_EQ(Encode(m, small, sizeof small), 0u);

  // Sizes: the smallest sealed part holds a tag and an empty UDP_DATA; the largest fills a UDP datagram.
  m.sealed_len = 16 + kUdpHeaderSize - 1;
  EXPECT_EQ(Encode(m, b.data(), b.size()), 0u);
  m.sealed_len = 16 + kUdpHeaderSize;
  EXPECT_EQ(Encode(m, b.data(), b.size()), kUdpSealedHeader);
  EXPECT_EQ(Dec<UdpSealedHeader>(b), Parse::kOk);
  m.sealed_len = kUdpMaxDatagram - kUdpSealedHeader;
  EXPECT_EQ(Encode(m, b.data(), b.size()), kUdpSealedHeader);
  ASSERT_EQ(Decode(b.data(), b.size(), &d, &used), Parse::kOk);
  EXPECT_EQ(d.sealed_len, kUdpMaxSealedInner + 16);
  m.sealed_len = kUdpMaxDatagram - kUdpSealedHeader + 1;
  EXPECT_EQ(Encode(m, b.data(), b.size()), 0u);

  // Declared lengths outside [64, 65507] and other types are refused.
  auto with_len = [&](size_t len) {
    std::vector<uint8_t> x(head, head + sizeof head);
    x[6] = static_cast<uint8_t>(len >> 8);
    x[7] = static_cast<uint8_t>(len);
    return Dec<UdpSealedHeader>(x);
  };
  EXPECT_EQ(with_len(kUdpSealedOverhead + kUdpHeaderSize - 1), Parse::kBad);
  EXPECT_EQ(with_len(kUdpSealedOverhead + kUdpHeaderSize), Parse::kOk);
  EXPECT_EQ(with_len(kUdpMaxDatagram), Parse::kOk);
  EXPECT_EQ(with_len(kUdpMaxDatagram + 1), Parse::kBad);
  std::vector<uint8_t> x(head, head + sizeof head);
  x[4] = 15;  // a plain UDP_DATA
  EXPECT_EQ(Dec<UdpSealedHeader>(x), Parse::kBad);
  x[4] = 23;
  x[5] = 1;
  EXPECT_EQ(Dec<UdpSealedHeader>(x), Parse::kBad);
}

}  // namespace
}  // namespace uvpn::proto
