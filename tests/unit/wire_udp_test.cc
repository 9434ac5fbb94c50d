// Unit tests of the UDP_DATA codec (docs/protocol.md section 9): round trip, the documented byte layout,
// kNeedMore on every strict prefix of the header, kBad on every field a peer may get wrong, size limits, and
// the udp_valid_* seeds of the fuzz corpus (written by fuzz/make_corpus.py from the protocol table).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "proto/wire.h"

namespace uvpn::proto {
namespace {

UdpHeader Sample() {
  UdpHeader h;
  h.src_vip = 0x64610a0b;
  h.src_port = 40000;
  h.dst_vip = 0x6461020a;
  h.dst_port = 5201;
  h.hop = Hop::kRouterToDest;
  h.payload_len = 1000;
  return h;
}

TEST(WireUdp, RoundTripAndLayout) {
  uint8_t b[kUdpHeaderSize];
  ASSERT_EQ(Encode(Sample(), b, sizeof b), kUdpHeaderSize);
  const uint8_t want[] = {0x55, 0x56, 0x50, 0x31, 15,   0,    0x04, 0x00,  // prefix, length 1024
                          0x64, 0x61, 0x0a, 0x0b, 0x9c, 0x40,              // src 100.97.10.11:40000
                          0x64, 0x61, 0x02, 0x0a, 0x14, 0x51,              // dst 100.97.2.10:5201
                          2,    0,    0,    0};
  EXPECT_EQ(0, memcmp(b, want, sizeof want));
  UdpHeader d;
  size_t used = 0;
  ASSERT_EQ(Decode(b, sizeof b, &d, &used), Parse::kOk);
  EXPECT_EQ(used, kUdpHeaderSize);
  EXPECT_EQ(d.src_vip, 0x64610a0bu);
  EXPECT_EQ(d.src_port, 40000);
  EXPECT_EQ(d.dst_vip, 0x6461020au);
  EXPECT_EQ(d.dst_port, 5201);
  EXPECT_EQ(d.hop, Hop::kRouterToDest);
  EXPECT_EQ(d.payload_len, 1000);
  MsgType t;
  size_t total;
  ASSERT_EQ(PeekPrefix(b, sizeof b, &t, &total), Parse::kOk);
  EXPECT_EQ(t, MsgType::kUdpData);
  EXPECT_EQ(total, 1024u);
}

TEST(WireUdp, PrefixesNeedMore) {
  uint8_t b[kUdpHeaderSize];
  ASSERT_EQ(Encode(Sample(), b, sizeof b), kUdpHeaderSize);
  for (size_t k = 0; k < kUdpHeaderSize; ++k) {
    UdpHeader d;
    size_t used;
    EXPECT_EQ(Decode(b, k, &d, &used), Parse::kNeedMore) << k;
  }
}

TEST(WireUdp, Limits) {
  uint8_t b[kUdpHeaderSize];
  UdpHeader h = Sample();
  h.payload_len = kUdpMaxPayload;
  EXPECT_EQ(Encode(h, b, sizeof b), kUdpHeaderSize);
  UdpHeader d;
  size_t used;
  ASSERT_EQ(Decode(b, sizeof b, &d, &used), Parse::kOk);
  EXPECT_EQ(d.payload_len, kUdpMaxPayload);
  h.payload_len = kUdpMaxPayload + 1;
  EXPECT_EQ(Encode(h, b, sizeof b), 0u);
  EXPECT_EQ(Encode(Sample(), b, kUdpHeaderSize - 1), 0u);
  h = Sample();
  h.payload_len = 0;
  ASSERT_EQ(Encode(h, b, sizeof b), kUdpHeaderSize);
  ASSERT_EQ(Decode(b, sizeof b, &d, &used), Parse::kOk);
  EXPECT_EQ(d.payload_len, 0);
  // A declared length above 65507 is bad.
  b[6] = 0xff;
  b[7] = 0xe4;  // 65508
  EXPECT_EQ(Decode(b, sizeof b, &d, &used), Parse::kBad);
  b[7] = 0xe3;  // 65507
  EXPECT_EQ(Decode(b, sizeof b, &d, &used), Parse::kOk);
  b[6] = 0;
  b[7] = 23;  // shorter than the header
  EXPECT_EQ(Decode(b, sizeof b, &d, &used), Parse::kBad);
}

TEST(WireUdp, BadFields) {
  uint8_t good[kUdpHeaderSize];
  ASSERT_EQ(Encode(Sample(), good, sizeof good), kUdpHeaderSize);
  struct Case {
    size_t off;
    uint8_t val;
  };
  const Case cases[] = {{0, 0x00}, {4, 14}, {4, 16}, {5, 1}, {20, 3}, {21, 1}, {22, 1}, {23, 1}};
  for (const Case& c : cases) {
    uint8_t b[kUdpHeaderSize];
    memcpy(b, good, sizeof b);
    b[c.off] = c.val;
    UdpHeader d;
    size_t used;
    EXPECT_EQ(Decode(b, sizeof b, &d, &used), Parse::kBad) << c.off;
  }
  // Another message type is bad for this decoder, and UDP_DATA is bad for the others.
  uint8_t st[kStatusSize];
  ASSERT_EQ(Encode(StatusMsg{}, st, sizeof st), kStatusSize);
  UdpHeader d;
  size_t used;
  EXPECT_EQ(Decode(st, sizeof st, &d, &used), Parse::kBad);
  ConnHeader c;
  EXPECT_EQ(Decode(good, sizeof good, &c, &used), Parse::kBad);
}

TEST(WireUdp, CorpusSeeds) {
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(UVPN_SOURCE_DIR "/fuzz/corpus/fuzz_wire")) {
    std::string name = entry.path().filename().string();
    if (name.rfind("udp_valid_", 0) != 0) continue;
    std::ifstream f(entry.path(), std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    UdpHeader d;
    size_t used;
    ASSERT_EQ(Decode(data.data(), data.size(), &d, &used), Parse::kOk) << name;
    EXPECT_EQ(d.payload_len + kUdpHeaderSize, data.size()) << name;
    uint8_t b[kUdpHeaderSize];
    ASSERT_EQ(Encode(d, b, sizeof b), kUdpHeaderSize);
    EXPECT_EQ(0, memcmp(b, data.data(), kUdpHeaderSize)) << name;
    ++seen;
  }
  EXPECT_EQ(seen, 3);
}

}  // namespace
}  // namespace uvpn::proto
