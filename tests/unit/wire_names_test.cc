// Unit tests for the host-name messages of src/proto/wire.h (docs/protocol.md section 8): RESOLVE,
// RESOLVE_ADDR and RESOLVE_REPLY round trips against the documented byte layout, the kNeedMore contract on
// every strict prefix, kBad on every field a peer may get wrong, and the names_valid_* seeds of the fuzz
// corpus.
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

using Bytes = std::vector<uint8_t>;

template <typename M>
Bytes Enc(const M& m) {
  uint8_t buf[256];
  size_t n = Encode(m, buf, sizeof buf);
  return Bytes(buf, buf + n);
}

template <typename M>
Parse Dec(const Bytes& b, M* m, size_t* used) {
  return Decode(b.data(), b.size(), m, used);
}

template <typename M>
void ExpectPrefixesNeedMore(const Bytes& b) {
  for (size_t k = 0; k < b.size(); ++k) {
    M m;
    size_t used;
    EXPECT_EQ(Decode(b.data(), k, &m, &used), Parse::kNeedMore) << "prefix " << k;
  }
}

ResolveMsg SampleResolve(const char* name = "beta-11.example") {
  ResolveMsg m;
  m.query_id = 0x01020304;
  m.name_len = static_cast<uint8_t>(strlen(name));
  memcpy(m.name, name, m.name_len);
  return m;
}

ResolveReplyMsg SampleFound() {
  ResolveReplyMsg m;
  m.query_id = 0xA0B0C0D0;
  m.found = true;
  m.vip = 0x6461020B;
  m.name_len = 7;
  memcpy(m.name, "beta-11", 7);
  return m;
}

TEST(WireNames, ResolveLayout) {
  Bytes b = Enc(SampleResolve());
  const Bytes want_head = {0x55, 0x56, 0x50, 0x31, 12, 0, 0, 16 + 15, 1, 2, 3, 4, 0, 0, 0, 0};
  ASSERT_EQ(b.size(), 16u + 15u);
  EXPECT_EQ(Bytes(b.begin(), b.begin() + 16), want_head);
  EXPECT_EQ(std::string(b.begin() + 16, b.end()), "beta-11.example");
  ResolveMsg out;
  size_t used = 0;
  ASSERT_EQ(Dec(b, &out, &used), Parse::kOk);
  EXPECT_EQ(used, b.size());
  EXPECT_EQ(out.query_id, 0x01020304u);
  EXPECT_EQ(std::string(out.name, out.name_len), "beta-11.example");
  ExpectPrefixesNeedMore<ResolveMsg>(b);
}

TEST(WireNames, ResolveBounds) {
  ResolveMsg empty;
  uint8_t buf[128];
  EXPECT_EQ(Encode(empty, buf, sizeof buf), 0u);  // a name is required
  std::string longest(kMaxName, 'n');
  Bytes b = Enc(SampleResolve(longest.c_str()));
  ASSERT_EQ(b.size(), kResolveMax);
  ResolveMsg out;
  size_t used;
  EXPECT_EQ(Dec(b, &out, &used), Parse::kOk);
  EXPECT_EQ(Encode(SampleResolve(longest.c_str()), buf, kResolveMax - 1), 0u);
  // Declared lengths outside 17..79 are bad before the body arrives.
  Bytes short_len = {0x55, 0x56, 0x50, 0x31, 12, 0, 0, 16};
  EXPECT_EQ(Dec(short_len, &out, &used), Parse::kBad);
  Bytes long_len = {0x55, 0x56, 0x50, 0x31, 12, 0, 0, 80};
  EXPECT_EQ(Dec(long_len, &out, &used), Parse::kBad);
}

TEST(WireNames, ResolveRejects) {
  Bytes good = Enc(SampleResolve());
  ResolveMsg out;
  size_t used;
  Bytes b = good;
  b[12] = 1;  // reserved
  EXPECT_EQ(Dec(b, &out, &used), Parse::kBad);
  b = good;
  b[16] = ' ';  // not a host-name byte
  EXPECT_EQ(Dec(b, &out, &used), Parse::kBad);
  b = good;
  b[20] = 0;
  EXPECT_EQ(Dec(b, &out, &used), Parse::kBad);
  b = good;
  b[5] = 1;  // flags
  EXPECT_EQ(Dec(b, &out, &used), Parse::kBad);
  b = good;
  b[4] = 13;  // another type
  EXPECT_EQ(Dec(b, &out, &used), Parse::kBad);
}

TEST(WireNames, ResolveAddrLayout) {
  Bytes b = Enc(ResolveAddrMsg{0x11223344, 0x6461020B});
  const Bytes want = {0x55, 0x56, 0x50, 0x31, 13, 0, 0, 16, 0x11, 0x22, 0x33, 0x44, 0x64, 0x61, 0x02, 0x0B};
  EXPECT_EQ(b, want);
  ResolveAddrMsg out;
  size_t used = 0;
  ASSERT_EQ(Dec(b, &out, &used), Parse::kOk);
  EXPECT_EQ(used, kResolveAddrSize);
  EXPECT_EQ(out.query_id, 0x11223344u);
  EXPECT_EQ(out.vip, 0x6461020Bu);
  ExpectPrefixesNeedMore<ResolveAddrMsg>(b);
  uint8_t small[15];
  EXPECT_EQ(Encode(out, small, sizeof small), 0u);
  Bytes wrong_len = b;
  wrong_len[7] = 17;
  EXPECT_EQ(Dec(wrong_len, &out, &used), Parse::kBad);
}

TEST(WireNames, ReplyFoundLayout) {
  Bytes b = Enc(SampleFound());
  const Bytes want_head = {0x55, 0x56, 0x50, 0x31, 14, 0, 0,    27,   0xA0, 0xB0,
                           0xC0, 0xD0, 0,    0,    0,  0, 0x64, 0x61, 0x02, 0x0B};
  ASSERT_EQ(b.size(), 27u);
  EXPECT_EQ(Bytes(b.begin(), b.begin() + 20), want_head);
  EXPECT_EQ(std::string(b.begin() + 20, b.end()), "beta-11");
  ResolveReplyMsg out;
  size_t used = 0;
  ASSERT_EQ(Dec(b, &out, &used), Parse::kOk);
  EXPECT_TRUE(out.found);
  EXPECT_EQ(out.vip, 0x6461020Bu);
  EXPECT_EQ(std::string(out.name, out.name_len), "beta-11");
  ExpectPrefixesNeedMore<ResolveReplyMsg>(b);
}

TEST(WireNames, ReplyNotFoundIsCanonical) {
  ResolveReplyMsg m = SampleFound();
  m.found = false;  // vip and name are ignored: a not-found reply carries neither
  Bytes b = Enc(m);
  const Bytes want = {0x55, 0x56, 0x50, 0x31, 14, 0, 0, 20, 0xA0, 0xB0, 0xC0, 0xD0, 1, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(b, want);
  ResolveReplyMsg out;
  size_t used;
  ASSERT_EQ(Dec(b, &out, &used), Parse::kOk);
  EXPECT_FALSE(out.found);
  EXPECT_EQ(out.vip, 0u);
  EXPECT_EQ(out.name_len, 0u);
}

TEST(WireNames, ReplyRejects) {
  Bytes found = Enc(SampleFound());
  ResolveReplyMsg m = SampleFound();
  m.found = false;
  Bytes missing = Enc(m);
  ResolveReplyMsg out;
  size_t used;
  Bytes b = found;
  b[12] = 2;  // unknown result
  EXPECT_EQ(Dec(b, &out, &used), Parse::kBad);
  for (int i : {13, 14, 15}) {
    b = found;
    b[i] = 1;  // reserved
    EXPECT_EQ(Dec(b, &out, &used), Parse::kBad) << i;
  }
  b = found;
  b[16] = b[17] = b[18] = b[19] = 0;  // found without an address
  EXPECT_EQ(Dec(b, &out, &used), Parse::kBad);
  b = Bytes(found.begin(), found.begin() + 20);  // found without a name
  b[7] = 20;
  EXPECT_EQ(Dec(b, &out, &used), Parse::kBad);
  b = found;
  b[22] = '/';
  EXPECT_EQ(Dec(b, &out, &used), Parse::kBad);
  b = missing;
  b[19] = 1;  // not found with an address
  EXPECT_EQ(Dec(b, &out, &used), Parse::kBad);
  b = missing;
  b.push_back('x');  // not found with a name
  b[7] = 21;
  EXPECT_EQ(Dec(b, &out, &used), Parse::kBad);
}

TEST(WireNames, ExistingTypesUnchanged) {
  // Types 12..14 extend the table; 15 stays unknown.
  Bytes b = {0x55, 0x56, 0x50, 0x31, 15, 0, 0, 16};
  MsgType t;
  size_t total;
  EXPECT_EQ(PeekPrefix(b.data(), b.size(), &t, &total), Parse::kBad);
  b[4] = 13;
  ASSERT_EQ(PeekPrefix(b.data(), b.size(), &t, &total), Parse::kOk);
  EXPECT_EQ(t, MsgType::kResolveAddr);
  EXPECT_EQ(total, 16u);
}

// The names_valid_* seeds are written by fuzz/make_corpus.py from the tables of protocol.md section 8,
// independently of the codec: each must decode whole and re-encode to the same bytes.
TEST(WireNames, CorpusSeedsFollowTheDocumentedLayout) {
  size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(UVPN_SOURCE_DIR "/fuzz/corpus/fuzz_wire")) {
    std::string name = entry.path().filename().string();
    if (name.rfind("names_valid_", 0) != 0) continue;
    SCOPED_TRACE(name);
    std::ifstream in(entry.path(), std::ios::binary);
    Bytes b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GE(b.size(), kPrefixSize);
    size_t used = 0;
    Bytes again;
    if (b[4] == 12) {
      ResolveMsg m;
      ASSERT_EQ(Dec(b, &m, &used), Parse::kOk);
      again = Enc(m);
    } else if (b[4] == 13) {
      ResolveAddrMsg m;
      ASSERT_EQ(Dec(b, &m, &used), Parse::kOk);
      again = Enc(m);
    } else {
      ASSERT_EQ(b[4], 14);
      ResolveReplyMsg m;
      ASSERT_EQ(Dec(b, &m, &used), Parse::kOk);
      again = Enc(m);
    }
    EXPECT_EQ(used, b.size());
    EXPECT_EQ(again, b);
    ++seen;
  }
  EXPECT_GE(seen, 4u);
}

}  // namespace
}  // namespace uvpn::proto
