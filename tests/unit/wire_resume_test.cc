// Unit tests of the outage-recovery messages (docs/protocol.md section 10): ACK, RESUME, RESUME_OK, RELAY_RESET
// round trips, the documented byte layout, every strict prefix kNeedMore, and what a peer may get wrong (flags,
// reserved bytes, codes) kBad.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "proto/wire.h"

namespace uvpn::proto {
namespace {

TEST(WireResume, AckLayoutAndRoundTrip) {
  AckMsg a{kFlagEofSeen | kFlagLegLost, 0x0002000000000abcull, 0x0000000100000002ull, 0x01020304};
  uint8_t b[kAckSize];
  ASSERT_EQ(Encode(a, b, sizeof b), kAckSize);
  const uint8_t want[] = {0x55, 0x56, 0x50, 0x31, 16, 0x03, 0, 32, 0, 2, 0, 0, 0, 0, 0x0a, 0xbc,
                          0,    0,    0,    1,    0,  0,    0, 2,  0, 0, 0, 0, 1, 2, 3,    4};
  ASSERT_EQ(sizeof want, sizeof b);
  EXPECT_EQ(0, memcmp(want, b, sizeof b));
  AckMsg d;
  size_t used = 0;
  ASSERT_EQ(Decode(b, sizeof b, &d, &used), Parse::kOk);
  EXPECT_EQ(used, kAckSize);
  EXPECT_EQ(d.flags, a.flags);
  EXPECT_EQ(d.relay_id, a.relay_id);
  EXPECT_EQ(d.r_bytes, a.r_bytes);
  EXPECT_EQ(d.leg, a.leg);
  b[24] = 1;  // reserved
  EXPECT_EQ(Decode(b, sizeof b, &d, &used), Parse::kBad);
  b[24] = 0;
  for (size_t k = 0; k < sizeof b; ++k) EXPECT_EQ(Decode(b, k, &d, &used), Parse::kNeedMore) << k;
  b[5] = 0x04;  // unknown flag
  EXPECT_EQ(Decode(b, sizeof b, &d, &used), Parse::kBad);
  EXPECT_EQ(Encode(a, b, kAckSize - 1), 0u);
}

TEST(WireResume, ResumeAllowsOnlyEofFlag) {
  ResumeMsg m{kFlagEofSeen, 42, 1000, 3};
  uint8_t b[kResumeSize];
  ASSERT_EQ(Encode(m, b, sizeof b), kResumeSize);
  EXPECT_EQ(b[4], 17);
  ResumeMsg d;
  size_t used;
  ASSERT_EQ(Decode(b, sizeof b, &d, &used), Parse::kOk);
  EXPECT_EQ(d.relay_id, 42u);
  EXPECT_EQ(d.r_bytes, 1000u);
  EXPECT_EQ(d.flags, kFlagEofSeen);
  EXPECT_EQ(d.leg, 3u);
  b[5] = kFlagLegLost;
  EXPECT_EQ(Decode(b, sizeof b, &d, &used), Parse::kBad);
  // An ACK is not a RESUME.
  AckMsg a{0, 42, 1000, 3};
  Encode(a, b, sizeof b);
  EXPECT_EQ(Decode(b, sizeof b, &d, &used), Parse::kBad);
}

TEST(WireResume, ResumeOkCodeAndReserved) {
  ResumeOkMsg m{0, 7, 9, WireCode::kConnReset, 0xa0b0c0d0};
  uint8_t b[kResumeOkSize];
  ASSERT_EQ(Encode(m, b, sizeof b), kResumeOkSize);
  EXPECT_EQ(b[24], 0);
  EXPECT_EQ(b[25], 5);
  EXPECT_EQ(b[28], 0xa0);
  ResumeOkMsg d;
  size_t used;
  ASSERT_EQ(Decode(b, sizeof b, &d, &used), Parse::kOk);
  EXPECT_EQ(d.code, WireCode::kConnReset);
  EXPECT_EQ(d.leg, 0xa0b0c0d0u);
  std::vector<uint8_t> bad(b, b + sizeof b);
  bad[25] = kMaxWireCode + 1;
  EXPECT_EQ(Decode(bad.data(), bad.size(), &d, &used), Parse::kBad);
  for (int i = 26; i < 28; ++i) {
    std::vector<uint8_t> r(b, b + sizeof b);
    r[i] = 1;
    EXPECT_EQ(Decode(r.data(), r.size(), &d, &used), Parse::kBad) << "reserved byte " << i;
  }
}

TEST(WireResume, RelayReset) {
  RelayResetMsg m{0xffffffffffffffffull};
  uint8_t b[kRelayResetSize];
  ASSERT_EQ(Encode(m, b, sizeof b), kRelayResetSize);
  RelayResetMsg d;
  size_t used;
  ASSERT_EQ(Decode(b, sizeof b, &d, &used), Parse::kOk);
  EXPECT_EQ(d.relay_id, m.relay_id);
  b[7] = 17;  // wrong length
  EXPECT_EQ(Decode(b, sizeof b, &d, &used), Parse::kBad);
}

TEST(WireResume, ConnHeaderResumableFlag) {
  ConnHeader h;
  h.flags = kFlagResumable;
  h.hop = Hop::kHomeToPeer;
  h.src_vip = 1;
  h.dst_vip = 2;
  uint8_t b[kConnHeaderSize];
  ASSERT_EQ(Encode(h, b, sizeof b), kConnHeaderSize);
  ConnHeader d;
  size_t used;
  ASSERT_EQ(Decode(b, sizeof b, &d, &used), Parse::kOk);
  EXPECT_EQ(d.flags, kFlagResumable);
}

// The resume_valid_* seeds are built by fuzz/make_corpus.py from the protocol.md tables with struct, not with
// src/proto: decoding them and encoding back to the same bytes cross-checks the codec against the document.
template <typename M>
bool RoundTrips(const std::vector<uint8_t>& data) {
  M m;
  size_t used = 0;
  if (Decode(data.data(), data.size(), &m, &used) != Parse::kOk || used != data.size()) return false;
  uint8_t b[64];
  size_t n = Encode(m, b, sizeof b);
  return n == data.size() && memcmp(b, data.data(), n) == 0;
}

TEST(WireResume, CorpusSeeds) {
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(UVPN_SOURCE_DIR "/fuzz/corpus/fuzz_wire")) {
    std::string name = entry.path().filename().string();
    if (name.rfind("resume_valid_", 0) != 0) continue;
    std::ifstream f(entry.path(), std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_GE(data.size(), kPrefixSize) << name;
    bool ok = false;
    switch (static_cast<MsgType>(data[4])) {
      case MsgType::kConnHeader: ok = RoundTrips<ConnHeader>(data); break;
      case MsgType::kAck: ok = RoundTrips<AckMsg>(data); break;
      case MsgType::kResume: ok = RoundTrips<ResumeMsg>(data); break;
      case MsgType::kResumeOk: ok = RoundTrips<ResumeOkMsg>(data); break;
      case MsgType::kRelayReset: ok = RoundTrips<RelayResetMsg>(data); break;
      default: break;
    }
    EXPECT_TRUE(ok) << name;
    ++seen;
  }
  EXPECT_EQ(seen, 7);
}

}  // namespace
}  // namespace uvpn::proto
