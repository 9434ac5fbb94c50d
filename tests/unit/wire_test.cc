// Unit tests for src/proto/wire.h (docs/protocol.md): round trips of every message type, the kNeedMore contract on
// every strict prefix, and kBad on every field a peer may get wrong.
#include "proto/wire.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

namespace uvpn::proto {
namespace {

using Bytes = std::vector<uint8_t>;

template <typename M>
Bytes Enc(const M& m) {
  uint8_t buf[512];
  size_t n = Encode(m, buf, sizeof buf);
  EXPECT_GT(n, 0u);
  return Bytes(buf, buf + n);
}

template <typename M>
Parse Dec(const Bytes& b, M* m = nullptr, size_t* used = nullptr) {
  M local;
  size_t u = 0;
  Parse p = Decode(b.data(), b.size(), m ? m : &local, used ? used : &u);
  return p;
}

template <size_t N>
void SetName(char (&dst)[N], uint8_t* len, const char* s) {
  *len = static_cast<uint8_t>(strlen(s));
  memcpy(dst, s, *len);
}

// One valid instance of every message type, with every field non-trivial.
ConnHeader SampleConn() {
  ConnHeader m;
  m.flags = kFlagWantStatus;
  m.src_vip = 0x64610105;
  m.src_port = 40000;
  m.dst_vip = 0x6461020A;
  m.dst_port = 22;
  m.hop = Hop::kHomeToPeer;
  m.relay_id = 0x0102030405060708ull;
  return m;
}
RegisterMsg SampleRegister() {
  RegisterMsg m;
  m.want_vip = 0x6461010A;
  m.pid = 4242;
  SetName(m.name, &m.name_len, "node-a1.example");
  return m;
}
RegisterOkMsg SampleRegisterOk() {
  RegisterOkMsg m;
  m.vip = 0x6461010A;
  m.real_ip = 0x0A5B010A;
  m.net = 0x64610000;
  m.net_prefix = 16;
  m.heartbeat_s = 5;
  SetName(m.name, &m.name_len, "alpha-10");
  return m;
}
RegisterErrMsg SampleRegisterErr() {
  RegisterErrMsg m;
  m.code = WireCode::kHostUnreach;
  SetName(m.text, &m.text_len, "address 100.97.9.9 is outside site alpha\t(100.97.1.0/24)");
  return m;
}
LookupMsg SampleLookup() { return LookupMsg{7, 0x0A5B010A, 51000, 7701}; }
LookupReplyMsg SampleLookupReply() {
  return LookupReplyMsg{7, RelayState::kFailed, WireCode::kConnRefused, 0x6461010A, 51000, 0x6461020B, 6379};
}
HelloMsg SampleHello() {
  HelloMsg m;
  SetName(m.site, &m.site_len, "alpha_1");
  SetName(m.session, &m.session_len, "3f9c2a7e-x");
  return m;
}
NodeAddMsg SampleNodeAdd() {
  NodeAddMsg m;
  m.vip = 0x6461010B;
  SetName(m.name, &m.name_len, "beta-11");
  return m;
}

// A valid encoding and a decoder for it, so the generic properties below run over every type.
struct Case {
  std::string name;
  Bytes bytes;
  std::function<Parse(const uint8_t*, size_t, size_t*)> decode;
};

template <typename M>
Case MakeCase(const char* name, const M& m) {
  return Case{name, Enc(m), [](const uint8_t* b, size_t n, size_t* used) {
                M out;
                return Decode(b, n, &out, used);
              }};
}

std::vector<Case> AllCases() {
  RegisterMsg empty_name;  // name_len 0 = "derive one"
  RegisterErrMsg no_text;
  no_text.code = WireCode::kAccess;
  HelloMsg long_hello;
  memset(long_hello.site, 'a', kMaxSiteName);
  long_hello.site_len = kMaxSiteName;
  memset(long_hello.session, 'b', kMaxSessionId);
  long_hello.session_len = kMaxSessionId;
  RegisterErrMsg long_err;
  long_err.code = WireCode::kProto;
  memset(long_err.text, 'x', kMaxErrText);
  long_err.text_len = kMaxErrText;
  return {
      MakeCase("conn_header", SampleConn()),     MakeCase("status", StatusMsg{WireCode::kTimedOut}),
      MakeCase("register", SampleRegister()),     MakeCase("register_empty_name", empty_name),
      MakeCase("register_ok", SampleRegisterOk()), MakeCase("register_err", SampleRegisterErr()),
      MakeCase("register_err_no_text", no_text),  MakeCase("register_err_long", long_err),
      MakeCase("heartbeat", HeartbeatMsg{0xDEADBEEF}), MakeCase("lookup", SampleLookup()),
      MakeCase("lookup_reply", SampleLookupReply()), MakeCase("hello", SampleHello()),
      MakeCase("hello_long", long_hello),         MakeCase("node_add", SampleNodeAdd()),
      MakeCase("node_del", NodeDelMsg{0x6461010B}),
  };
}

TEST(Wire, RoundTripConnHeader) {
  ConnHeader in = SampleConn(), out;
  Bytes b = Enc(in);
  ASSERT_EQ(b.size(), kConnHeaderSize);
  size_t used = 0;
  ASSERT_EQ(Dec(b, &out, &used), Parse::kOk);
  EXPECT_EQ(used, kConnHeaderSize);
  EXPECT_EQ(out.flags, in.flags);
  EXPECT_EQ(out.src_vip, in.src_vip);
  EXPECT_EQ(out.src_port, in.src_port);
  EXPECT_EQ(out.dst_vip, in.dst_vip);
  EXPECT_EQ(out.dst_port, in.dst_port);
  EXPECT_EQ(out.proto, 6);
  EXPECT_EQ(out.hop, Hop::kHomeToPeer);
  EXPECT_EQ(out.relay_id, in.relay_id);
  // Byte layout of protocol.md section 2, spot-checked.
  EXPECT_EQ(b[0], 0x55);
  EXPECT_EQ(b[3], 0x31);
  EXPECT_EQ(b[4], 1);
  EXPECT_EQ(b[5], kFlagWantStatus);
  EXPECT_EQ(b[7], 32);
  EXPECT_EQ(b[8], 0x64);
  EXPECT_EQ(b[21], 1);
  EXPECT_EQ(b[31], 0x08);
}

TEST(Wire, RoundTripStatusAllCodes) {
  for (uint16_t c = 0; c <= kMaxWireCode; ++c) {
    StatusMsg out;
    Bytes b = Enc(StatusMsg{static_cast<WireCode>(c)});
    ASSERT_EQ(b.size(), kStatusSize);
    ASSERT_EQ(Dec(b, &out), Parse::kOk);
    EXPECT_EQ(static_cast<uint16_t>(out.code), c);
  }
}

TEST(Wire, RoundTripRegisterFamily) {
  RegisterMsg r = SampleRegister(), r2;
  ASSERT_EQ(Dec(Enc(r), &r2), Parse::kOk);
  EXPECT_EQ(r2.want_vip, r.want_vip);
  EXPECT_EQ(r2.pid, r.pid);
  EXPECT_EQ(std::string(r2.name, r2.name_len), "node-a1.example");

  RegisterOkMsg o = SampleRegisterOk(), o2;
  ASSERT_EQ(Dec(Enc(o), &o2), Parse::kOk);
  EXPECT_EQ(o2.vip, o.vip);
  EXPECT_EQ(o2.real_ip, o.real_ip);
  EXPECT_EQ(o2.net, o.net);
  EXPECT_EQ(o2.net_prefix, 16);
  EXPECT_EQ(o2.heartbeat_s, 5);
  EXPECT_EQ(std::string(o2.name, o2.name_len), "alpha-10");

  RegisterErrMsg e = SampleRegisterErr(), e2;
  ASSERT_EQ(Dec(Enc(e), &e2), Parse::kOk);
  EXPECT_EQ(e2.code, WireCode::kHostUnreach);
  EXPECT_EQ(std::string(e2.text, e2.text_len), std::string(e.text, e.text_len));
}

TEST(Wire, RoundTripFixedControlMessages) {
  HeartbeatMsg h;
  ASSERT_EQ(Dec(Enc(HeartbeatMsg{77}), &h), Parse::kOk);
  EXPECT_EQ(h.seq, 77u);

  LookupMsg l = SampleLookup(), l2;
  ASSERT_EQ(Dec(Enc(l), &l2), Parse::kOk);
  EXPECT_EQ(l2.query_id, l.query_id);
  EXPECT_EQ(l2.node_ip, l.node_ip);
  EXPECT_EQ(l2.node_port, l.node_port);
  EXPECT_EQ(l2.router_port, l.router_port);

  LookupReplyMsg r = SampleLookupReply(), r2;
  ASSERT_EQ(Dec(Enc(r), &r2), Parse::kOk);
  EXPECT_EQ(r2.query_id, r.query_id);
  EXPECT_EQ(r2.state, RelayState::kFailed);
  EXPECT_EQ(r2.code, WireCode::kConnRefused);
  EXPECT_EQ(r2.local_vip, r.local_vip);
  EXPECT_EQ(r2.local_port, r.local_port);
  EXPECT_EQ(r2.peer_vip, r.peer_vip);
  EXPECT_EQ(r2.peer_port, r.peer_port);

  NodeDelMsg d;
  ASSERT_EQ(Dec(Enc(NodeDelMsg{0x6461010B}), &d), Parse::kOk);
  EXPECT_EQ(d.vip, 0x6461010Bu);
}

TEST(Wire, RoundTripRouterLink) {
  HelloMsg h = SampleHello(), h2;
  ASSERT_EQ(Dec(Enc(h), &h2), Parse::kOk);
  EXPECT_EQ(h2.version, 1);
  EXPECT_EQ(std::string(h2.site, h2.site_len), "alpha_1");
  EXPECT_EQ(std::string(h2.session, h2.session_len), "3f9c2a7e-x");

  NodeAddMsg a = SampleNodeAdd(), a2;
  ASSERT_EQ(Dec(Enc(a), &a2), Parse::kOk);
  EXPECT_EQ(a2.vip, a.vip);
  EXPECT_EQ(std::string(a2.name, a2.name_len), "beta-11");
}

TEST(Wire, EveryCaseRoundTripsAndPeeks) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.name);
    size_t used = 0;
    ASSERT_EQ(c.decode(c.bytes.data(), c.bytes.size(), &used), Parse::kOk);
    EXPECT_EQ(used, c.bytes.size());
    MsgType t;
    size_t total = 0;
    ASSERT_EQ(PeekPrefix(c.bytes.data(), c.bytes.size(), &t, &total), Parse::kOk);
    EXPECT_EQ(static_cast<uint8_t>(t), c.bytes[4]);
    EXPECT_EQ(total, c.bytes.size());
    // Trailing bytes (the next message, relayed data) are not consumed.
    Bytes more = c.bytes;
    more.insert(more.end(), {0x55, 0x56, 0xff});
    ASSERT_EQ(c.decode(more.data(), more.size(), &used), Parse::kOk);
    EXPECT_EQ(used, c.bytes.size());
  }
}

TEST(Wire, EveryStrictPrefixNeedsMore) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.name);
    for (size_t n = 0; n < c.bytes.size(); ++n) {
      size_t used = 0;
      EXPECT_EQ(c.decode(c.bytes.data(), n, &used), Parse::kNeedMore) << "prefix " << n;
      MsgType t;
      size_t total;
      Parse p = PeekPrefix(c.bytes.data(), n, &t, &total);
      EXPECT_EQ(p, n < kPrefixSize ? Parse::kNeedMore : Parse::kOk) << "peek prefix " << n;
    }
  }
}

TEST(Wire, WrongDecoderIsBad) {
  std::vector<Case> cases = AllCases();
  for (const Case& c : cases) {
    for (const Case& d : cases) {
      if (c.bytes[4] == d.bytes[4]) continue;
      size_t used;
      EXPECT_EQ(d.decode(c.bytes.data(), c.bytes.size(), &used), Parse::kBad) << c.name << " via " << d.name;
    }
  }
}

TEST(Wire, BadMagicTypeLengthFlags) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.name);
    size_t used;
    for (size_t i = 0; i < 4; ++i) {  // any wrong magic byte is bad as soon as it arrives
      Bytes b = c.bytes;
      b[i] ^= 0x20;
      EXPECT_EQ(c.decode(b.data(), b.size(), &used), Parse::kBad);
      EXPECT_EQ(c.decode(b.data(), i + 1, &used), Parse::kBad);
    }
    for (uint8_t t : {0, 26, 27, 0x80, 0xff}) {  // unassigned (12..14: section 8; 15: 9; 16..19: 10; 20..23: 11; 24..25: 13)
      Bytes b = c.bytes;
      b[4] = t;
      EXPECT_EQ(c.decode(b.data(), b.size(), &used), Parse::kBad);
      EXPECT_EQ(c.decode(b.data(), 5, &used), Parse::kBad) << "type " << int(t) << " seen at byte 5";
    }
    uint8_t allowed = c.bytes[4] == static_cast<uint8_t>(MsgType::kConnHeader) ? (kFlagWantStatus | kFlagResumable) : 0;
    for (int bit = 0; bit < 8; ++bit) {
      if (allowed & (1 << bit)) continue;
      Bytes b = c.bytes;
      b[5] |= static_cast<uint8_t>(1 << bit);
      EXPECT_EQ(c.decode(b.data(), b.size(), &used), Parse::kBad) << "flag bit " << bit;
    }
    for (unsigned len : {0u, 1u, 7u, 8u, 11u, 0x100u, 0xffffu}) {
      Bytes b = c.bytes;
      b[6] = static_cast<uint8_t>(len >> 8);
      b[7] = static_cast<uint8_t>(len);
      if (len == c.bytes.size()) continue;
      Parse p = c.decode(b.data(), b.size(), &used);
      // A shorter in-bounds length of a variable type can still be valid (e.g. a shorter name).
      if (len >= kPrefixSize && len < c.bytes.size() && p == Parse::kOk) continue;
      EXPECT_EQ(p, Parse::kBad) << "length " << len;
    }
  }
}

TEST(Wire, FixedSizesAndBounds) {
  struct { MsgType t; size_t min, max; } bounds[] = {
      {MsgType::kConnHeader, 32, 64}, {MsgType::kStatus, 16, 16},
      {MsgType::kRegister, 16, 16 + kMaxName + kRegisterTrailer},
      {MsgType::kRegisterOk, 24, 24 + kMaxName + kRegisterOkTrailer}, {MsgType::kRegisterErr, 12, 12 + kMaxErrText},
      {MsgType::kHeartbeat, 16, 16}, {MsgType::kLookup, 20, 44},   {MsgType::kLookupReply, 32, 32},
      {MsgType::kHello, 18, 16 + kMaxSiteName + kMaxSessionId},     {MsgType::kNodeAdd, 16, 16 + kMaxName},
      {MsgType::kNodeDel, 12, 12},
  };
  for (auto& b : bounds) {
    for (size_t len = 0; len < 300; ++len) {
      uint8_t p[8] = {0x55, 0x56, 0x50, 0x31, static_cast<uint8_t>(b.t), 0, static_cast<uint8_t>(len >> 8),
                      static_cast<uint8_t>(len)};
      MsgType t;
      size_t total = 0;
      Parse r = PeekPrefix(p, 8, &t, &total);
      bool in = len >= b.min && len <= b.max;
      EXPECT_EQ(r, in ? Parse::kOk : Parse::kBad) << "type " << int(b.t) << " length " << len;
      if (in) {
        EXPECT_EQ(total, len);
      }
    }
  }
  EXPECT_LE(16 + kMaxSiteName + kMaxSessionId, kMaxMessage);
  EXPECT_LE(12 + kMaxErrText, kMaxMessage);
}

// Sets byte `off` of a valid encoding of `c` to `v` and expects kBad.
void ExpectBadAt(const Case& c, size_t off, uint8_t v) {
  Bytes b = c.bytes;
  ASSERT_LT(off, b.size());
  b[off] = v;
  size_t used;
  EXPECT_EQ(c.decode(b.data(), b.size(), &used), Parse::kBad) << c.name << " byte " << off << " = " << int(v);
}

TEST(Wire, ReservedBytesMustBeZero) {
  Case conn = MakeCase("conn", SampleConn());
  ExpectBadAt(conn, 22, 1);
  ExpectBadAt(conn, 23, 1);
  Case st = MakeCase("status", StatusMsg{WireCode::kOk});
  for (size_t i = 10; i < 16; ++i) ExpectBadAt(st, i, 1);
  Case ok = MakeCase("register_ok", SampleRegisterOk());
  ExpectBadAt(ok, 22, 1);
  ExpectBadAt(ok, 23, 0x80);
  Case err = MakeCase("register_err", SampleRegisterErr());
  ExpectBadAt(err, 10, 1);
  ExpectBadAt(err, 11, 1);
  Case hb = MakeCase("heartbeat", HeartbeatMsg{1});
  for (size_t i = 12; i < 16; ++i) ExpectBadAt(hb, i, 1);
  Case lr = MakeCase("lookup_reply", SampleLookupReply());
  ExpectBadAt(lr, 13, 1);
  for (size_t i = 28; i < 32; ++i) ExpectBadAt(lr, i, 1);
  Case hello = MakeCase("hello", SampleHello());
  for (size_t i = 11; i < 16; ++i) ExpectBadAt(hello, i, 1);
  Case add = MakeCase("node_add", SampleNodeAdd());
  for (size_t i = 12; i < 16; ++i) ExpectBadAt(add, i, 1);
}

TEST(Wire, UnknownCodesStatesAndValuesAreBad) {
  Case st = MakeCase("status", StatusMsg{WireCode::kOk});
  ExpectBadAt(st, 9, kMaxWireCode + 1);
  ExpectBadAt(st, 8, 1);  // code 256+
  Case err = MakeCase("register_err", SampleRegisterErr());
  ExpectBadAt(err, 9, 0);  // REGISTER_ERR with code 0 (success) makes no sense
  ExpectBadAt(err, 9, kMaxWireCode + 1);
  ExpectBadAt(err, 12, 0x01);  // control byte in the text
  ExpectBadAt(err, 12, 0x00);
  Case lr = MakeCase("lookup_reply", SampleLookupReply());
  ExpectBadAt(lr, 12, 5);  // state
  ExpectBadAt(lr, 15, kMaxWireCode + 1);
  Case conn = MakeCase("conn", SampleConn());
  ExpectBadAt(conn, 20, 17);  // proto: UDP reserved, not yet accepted
  ExpectBadAt(conn, 20, 0);
  ExpectBadAt(conn, 21, 3);   // hop
  Case ok = MakeCase("register_ok", SampleRegisterOk());
  ExpectBadAt(ok, 20, 33);  // net_prefix
  ExpectBadAt(ok, 21, 0);   // heartbeat_s
  ExpectBadAt(ok, 24, ' ');  // name byte
  Case reg = MakeCase("register", SampleRegister());
  ExpectBadAt(reg, 16, '/');
  ExpectBadAt(reg, 17, 0);
  Case hello = MakeCase("hello", SampleHello());
  ExpectBadAt(hello, 9, 2);   // version
  ExpectBadAt(hello, 10, 0);  // site_len 0
  ExpectBadAt(hello, 10, static_cast<uint8_t>(hello.bytes.size() - 16));  // no session id left
  ExpectBadAt(hello, 10, kMaxSiteName + 1);
  ExpectBadAt(hello, 16, '.');
  ExpectBadAt(hello, static_cast<size_t>(hello.bytes.size() - 1), ' ');
  Case add = MakeCase("node_add", SampleNodeAdd());
  ExpectBadAt(add, 16, 0xC3);
}

TEST(Wire, NodeAddNeedsAName) {
  NodeAddMsg m;
  m.vip = 1;
  Bytes b = Enc(m);  // 16 bytes, empty name: in bounds, but protocol.md requires a host name
  EXPECT_EQ(b.size(), 16u);
  EXPECT_EQ(Dec<NodeAddMsg>(b), Parse::kBad);
}

TEST(Wire, EncodeRefusesSmallBuffers) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.name);
    // Re-encode through the generic path: decoding then encoding into one byte less must fail.
    uint8_t out[512];
    size_t n = c.bytes.size();
    ConnHeader ch;
    size_t used;
    if (c.bytes[4] == 1) {
      ASSERT_EQ(Decode(c.bytes.data(), n, &ch, &used), Parse::kOk);
      EXPECT_EQ(Encode(ch, out, n - 1), 0u);
      EXPECT_EQ(Encode(ch, out, n), n);
    }
  }
  uint8_t out[512];
  EXPECT_EQ(Encode(StatusMsg{}, out, kStatusSize - 1), 0u);
  EXPECT_EQ(Encode(HeartbeatMsg{}, out, kHeartbeatSize - 1), 0u);
  EXPECT_EQ(Encode(LookupMsg{}, out, kLookupSize - 1), 0u);
  EXPECT_EQ(Encode(LookupReplyMsg{}, out, kLookupReplySize - 1), 0u);
  EXPECT_EQ(Encode(NodeDelMsg{}, out, kNodeDelSize - 1), 0u);
  EXPECT_EQ(Encode(SampleRegister(), out, 16), 0u);
  EXPECT_EQ(Encode(SampleRegisterOk(), out, 24), 0u);
  EXPECT_EQ(Encode(SampleRegisterErr(), out, 12), 0u);
  EXPECT_EQ(Encode(SampleHello(), out, 16), 0u);
  EXPECT_EQ(Encode(SampleNodeAdd(), out, 16), 0u);
  EXPECT_EQ(Encode(SampleConn(), nullptr, 0), 0u);
}

TEST(Wire, WireCodeErrnoMapping) {
  struct { WireCode c; int e; } table[] = {
      {WireCode::kOk, 0},           {WireCode::kConnRefused, ECONNREFUSED}, {WireCode::kHostUnreach, EHOSTUNREACH},
      {WireCode::kNetUnreach, ENETUNREACH}, {WireCode::kTimedOut, ETIMEDOUT}, {WireCode::kConnReset, ECONNRESET},
      {WireCode::kAccess, EACCES},  {WireCode::kProto, EPROTO},
  };
  for (auto& row : table) {
    EXPECT_EQ(WireCodeToErrno(row.c), row.e);
    EXPECT_EQ(ErrnoToWireCode(row.e), row.c);
    EXPECT_EQ(ErrnoToWireCode(WireCodeToErrno(row.c)), row.c);
  }
  EXPECT_EQ(ErrnoToWireCode(EHOSTDOWN), WireCode::kHostUnreach);
  EXPECT_EQ(ErrnoToWireCode(ENETDOWN), WireCode::kNetUnreach);
  EXPECT_EQ(ErrnoToWireCode(EPIPE), WireCode::kConnReset);
  EXPECT_EQ(ErrnoToWireCode(ECONNABORTED), WireCode::kConnReset);
  EXPECT_EQ(ErrnoToWireCode(EPERM), WireCode::kAccess);
  EXPECT_EQ(ErrnoToWireCode(ENOMEM), WireCode::kProto);
  EXPECT_EQ(ErrnoToWireCode(-1), WireCode::kProto);
  EXPECT_EQ(ErrnoToWireCode(100000), WireCode::kProto);
  EXPECT_EQ(WireCodeToErrno(static_cast<WireCode>(99)), EPROTO);
}

TEST(Wire, ValidHostName) {
  EXPECT_TRUE(ValidHostName("a", 1));
  EXPECT_TRUE(ValidHostName("alpha-10.example", 16));
  std::string max(kMaxName, 'x');
  EXPECT_TRUE(ValidHostName(max.data(), max.size()));
  EXPECT_FALSE(ValidHostName(max.data(), max.size() + 1));
  EXPECT_FALSE(ValidHostName("", 0));
  EXPECT_FALSE(ValidHostName("a b", 3));
  EXPECT_FALSE(ValidHostName("a\0b", 3));
  EXPECT_FALSE(ValidHostName("a/b", 3));
}

// The valid_* seeds of the fuzz corpus are written by fuzz/make_corpus.py straight from the tables of
// docs/protocol.md, independently of the codec: each must decode whole, and re-encode to the same bytes.
TEST(Wire, CorpusSeedsFollowTheDocumentedLayout) {
  std::vector<Case> cases = AllCases();
  size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(UVPN_SOURCE_DIR "/fuzz/corpus/fuzz_wire")) {
    std::string name = entry.path().filename().string();
    if (name.rfind("valid_", 0) != 0) continue;
    SCOPED_TRACE(name);
    std::ifstream in(entry.path(), std::ios::binary);
    Bytes b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GE(b.size(), kPrefixSize);
    bool decoded = false;
    for (const Case& c : cases) {
      if (c.bytes[4] != b[4]) continue;
      size_t used = 0;
      ASSERT_EQ(c.decode(b.data(), b.size(), &used), Parse::kOk);
      EXPECT_EQ(used, b.size());
      decoded = true;
      break;
    }
    EXPECT_TRUE(decoded);
    ++seen;
  }
  EXPECT_GE(seen, 11u);  // at least one per message type
}

}  // namespace
}  // namespace uvpn::proto
