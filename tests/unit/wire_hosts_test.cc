// Unit tests for HOSTS_LIST / HOSTS_REPLY (docs/protocol.md section 13): layouts against the table, kNeedMore on
// every strict prefix, kBad on each field a peer may get wrong, canonical encoding, and the hosts_* seeds of the
// fuzz corpus (written by fuzz/make_corpus.py from the table, independently of the codec).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "proto/wire.h"

namespace uvpn::proto {
namespace {

using Bytes = std::vector<uint8_t>;

template <typename M>
Bytes Enc(const M& m) {
  Bytes b(2048);
  b.resize(Encode(m, b.data(), b.size()));
  return b;
}

HostEntry Entry(uint32_t vip, const char* name, bool home = false) {
  HostEntry e;
  e.vip = vip;
  e.home = home;
  e.name_len = static_cast<uint8_t>(strlen(name));
  memcpy(e.name, name, e.name_len);
  return e;
}

std::unique_ptr<HostsReplyMsg> Sample() {
  auto m = std::make_unique<HostsReplyMsg>();
  m->query_id = 0x0A0B0C0D;
  m->more = true;
  m->count = 2;
  m->entries[0] = Entry(0x6461010C, "s1-12", true);
  m->entries[1] = Entry(0x6461020B, "beta1.cluster");
  return m;
}

TEST(WireHosts, ListLayoutAndPadding) {
  HostsListMsg q{0x01020304, 0x6461010B};
  Bytes b = Enc(q);
  ASSERT_EQ(b.size(), kHostsListSize);
  const Bytes head = {0x55, 0x56, 0x50, 0x31, 24, 0, 0x04, 0xB0, 1, 2, 3, 4, 0x64, 0x61, 1, 0x0B};
  EXPECT_EQ(Bytes(b.begin(), b.begin() + 16), head);
  for (size_t i = 16; i < b.size(); ++i) ASSERT_EQ(b[i], 0) << i;
  HostsListMsg out;
  size_t used;
  ASSERT_EQ(Decode(b.data(), b.size(), &out, &used), Parse::kOk);
  EXPECT_EQ(used, kHostsListSize);
  EXPECT_EQ(out.query_id, q.query_id);
  EXPECT_EQ(out.after_vip, q.after_vip);
  EXPECT_EQ(Decode(b.data(), 600, &out, &used), Parse::kNeedMore);
  b[700] = 1;  // padding must be zero
  EXPECT_EQ(Decode(b.data(), b.size(), &out, &used), Parse::kBad);
  Bytes short_len = {0x55, 0x56, 0x50, 0x31, 24, 0, 0x04, 0xAF};  // any other length is bad at once
  EXPECT_EQ(Decode(short_len.data(), short_len.size(), &out, &used), Parse::kBad);
}

TEST(WireHosts, ReplyLayoutRoundTripAndPrefixes) {
  auto m = Sample();
  Bytes b = Enc(*m);
  ASSERT_EQ(b.size(), 16u + 6 + 5 + 6 + 13);
  EXPECT_EQ(b[4], 25);
  EXPECT_EQ(b[5], kFlagMore);
  EXPECT_EQ(Bytes(b.begin() + 8, b.begin() + 16), (Bytes{0x0A, 0x0B, 0x0C, 0x0D, 0, 2, 0, 0}));
  EXPECT_EQ(Bytes(b.begin() + 16, b.begin() + 22), (Bytes{0x64, 0x61, 1, 0x0C, 1, 5}));
  auto out = std::make_unique<HostsReplyMsg>();
  size_t used;
  ASSERT_EQ(Decode(b.data(), b.size(), out.get(), &used), Parse::kOk);
  EXPECT_EQ(used, b.size());
  EXPECT_TRUE(out->more);
  ASSERT_EQ(out->count, 2);
  EXPECT_TRUE(out->entries[0].home);
  EXPECT_FALSE(out->entries[1].home);
  EXPECT_EQ(std::string(out->entries[1].name, out->entries[1].name_len), "beta1.cluster");
  EXPECT_EQ(Enc(*out), b);
  for (size_t k = 0; k < b.size(); ++k) {
    auto part = std::make_unique<HostsReplyMsg>();
    EXPECT_EQ(Decode(b.data(), k, part.get(), &used), Parse::kNeedMore) << k;
  }
}

TEST(WireHosts, ReplyRejects) {
  Bytes good = Enc(*Sample());
  auto out = std::make_unique<HostsReplyMsg>();
  size_t used;
  auto bad = [&](Bytes b) { return Decode(b.data(), b.size(), out.get(), &used) == Parse::kBad; };
  Bytes b = good;
  b[13] = 3;  // count says 3, two entries present
  EXPECT_TRUE(bad(b));
  b = good;
  b[13] = 1;  // count says 1: bytes left over
  EXPECT_TRUE(bad(b));
  b = good;
  b[15] = 1;  // reserved
  EXPECT_TRUE(bad(b));
  b = good;
  b[20] = 2;  // entry flags: unknown bit
  EXPECT_TRUE(bad(b));
  b = good;
  b[22] = ' ';  // not a host-name byte
  EXPECT_TRUE(bad(b));
  b = good;
  b[21] = 0;  // empty name
  EXPECT_TRUE(bad(b));
  b = good;
  b[5] = 2;  // unknown message flag
  EXPECT_TRUE(bad(b));
  b = good;
  std::swap_ranges(b.begin() + 27, b.begin() + 31, b.begin() + 16);  // second VIP below the first
  EXPECT_TRUE(bad(b));
  HostsReplyMsg more_empty;
  more_empty.more = true;
  uint8_t buf[64];
  EXPECT_EQ(Encode(more_empty, buf, sizeof buf), 0u);  // MORE without an entry is not canonical
  Bytes me = {0x55, 0x56, 0x50, 0x31, 25, 1, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0};
  EXPECT_TRUE(bad(me));
}

TEST(WireHosts, EncodeRefusesWhatDoesNotFit) {
  auto m = std::make_unique<HostsReplyMsg>();
  std::string name(kMaxName, 'n');
  size_t fit = (kHostsReplyMax - 16) / (6 + kMaxName);
  for (size_t i = 0; i <= fit; ++i) m->entries[i] = Entry(static_cast<uint32_t>(0x64610100 + i), name.c_str());
  m->count = static_cast<uint16_t>(fit);
  EXPECT_GT(Enc(*m).size(), 0u);
  m->count = static_cast<uint16_t>(fit + 1);
  EXPECT_EQ(Enc(*m).size(), 0u);
}

TEST(WireHosts, CorpusSeedsFollowTheDocumentedLayout) {
  size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(UVPN_SOURCE_DIR "/fuzz/corpus/fuzz_wire")) {
    std::string name = entry.path().filename().string();
    if (name.rfind("hosts_", 0) != 0) continue;
    SCOPED_TRACE(name);
    std::ifstream in(entry.path(), std::ios::binary);
    Bytes b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GE(b.size(), kPrefixSize);
    size_t used = 0;
    Parse p;
    Bytes again;
    if (b[4] == 24) {
      HostsListMsg m;
      p = Decode(b.data(), b.size(), &m, &used);
      if (p == Parse::kOk) again = Enc(m);
    } else {
      auto m = std::make_unique<HostsReplyMsg>();
      p = Decode(b.data(), b.size(), m.get(), &used);
      if (p == Parse::kOk) again = Enc(*m);
    }
    if (name.rfind("hosts_valid_", 0) == 0) {
      ASSERT_EQ(p, Parse::kOk);
      EXPECT_EQ(used, b.size());
      EXPECT_EQ(again, b);
      ++seen;
    } else {
      EXPECT_EQ(p, Parse::kBad);
    }
  }
  EXPECT_EQ(seen, 3u);
}

}  // namespace
}  // namespace uvpn::proto
