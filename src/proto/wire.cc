// Implementation of docs/protocol.md codecs. See wire.h for the contract.
#include "proto/wire.h"

#include <cerrno>
#include <cstring>

namespace uvpn::proto {
namespace {

inline void Put16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
inline void Put32(uint8_t* p, uint32_t v) { Put16(p, static_cast<uint16_t>(v >> 16)); Put16(p + 2, static_cast<uint16_t>(v)); }
inline void Put64(uint8_t* p, uint64_t v) { Put32(p, static_cast<uint32_t>(v >> 32)); Put32(p + 4, static_cast<uint32_t>(v)); }
inline uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t Get32(const uint8_t* p) { return (static_cast<uint32_t>(Get16(p)) << 16) | Get16(p + 2); }
inline uint64_t Get64(const uint8_t* p) { return (static_cast<uint64_t>(Get32(p)) << 32) | Get32(p + 4); }

struct Bounds {
  uint16_t min, max;
  uint8_t allowed_flags;
};

// Index by type; {0,0} = unknown type.
constexpr Bounds kBounds[] = {
    {0, 0, 0},                                                     // 0
    {kConnHeaderSize, kConnHeaderAuthSize, kFlagWantStatus | kFlagResumable | kFlagAuth},  // CONN_HEADER
    {kStatusSize, kStatusSize, 0},                                 // STATUS
    {16, 16 + kMaxName + kRegisterTrailer, kFlagAuth},             // REGISTER
    {24, 24 + kMaxName + kRegisterOkTrailer, kFlagAuth},           // REGISTER_OK
    {12, 12 + kMaxErrText, 0},                                     // REGISTER_ERR
    {kHeartbeatSize, kHeartbeatSize, 0},                           // HEARTBEAT
    {kLookupSize, kLookupSize + kUdpAuthTrailer, kFlagAuth},       // LOOKUP (+ AUTH trailer, section 12)
    {kLookupReplySize, kLookupReplySize, 0},                       // LOOKUP_REPLY
    {16 + 1 + 1, 16 + kMaxSiteName + kMaxSessionId, 0},            // HELLO (site and session non-empty)
    {16, 16 + kMaxName, 0},                                        // NODE_ADD
    {kNodeDelSize, kNodeDelSize, 0},                               // NODE_DEL
    {16 + 1, kResolveMax, 0},                                      // RESOLVE (name non-empty)
    {kResolveAddrSize, kResolveAddrSize, 0},                       // RESOLVE_ADDR
    {20, kResolveReplyMax, 0},                                     // RESOLVE_REPLY
    {kUdpHeaderSize, kUdpMaxDatagram, kFlagAuth},                  // UDP_DATA (header + payload [+ trailer])
    {kAckSize, kAckSize, kFlagEofSeen | kFlagLegLost},             // ACK
    {kResumeSize, kResumeSize, kFlagEofSeen},                      // RESUME
    {kResumeOkSize, kResumeOkSize, kFlagEofSeen},                  // RESUME_OK
    {kRelayResetSize, kRelayResetSize, 0},                         // RELAY_RESET
    {16 + 2 + kHandshakeBody, kMaxMessage, 0},                     // LINK_INIT (HELLO + handshake body)
    {kLinkRespSize, kLinkRespSize, 0},                             // LINK_RESP
    {kLegOpenSize, kLegOpenSize, 0},                               // LEG_OPEN
    {kUdpSealedOverhead + kUdpHeaderSize, kUdpMaxDatagram, 0},     // UDP_SEALED
    {kHostsListSize, kHostsListSize, 0},                           // HOSTS_LIST
    {16, kHostsReplyMax, kFlagMore},                               // HOSTS_REPLY
};
static_assert(sizeof(kBounds) / sizeof(kBounds[0]) == 26);
static_assert(kUdpMaxDatagram <= 0xffff && kUdpMaxPayload == 65483);
static_assert(kResolveMax == 16 + kMaxName && kResolveReplyMax == 20 + kMaxName);
static_assert(kResolveReplyMax <= kMaxMessage);
static_assert(16 + kMaxSiteName + kMaxSessionId <= 0xffff);

void PutPrefix(uint8_t* out, MsgType t, uint8_t flags, size_t total) {
  Put32(out, kMagic);
  out[4] = static_cast<uint8_t>(t);
  out[5] = flags;
  Put16(out + 6, static_cast<uint16_t>(total));
}

// Common decode front: checks the prefix, the type, and that the whole message is present.
Parse Front(const uint8_t* buf, size_t len, MsgType want, size_t* total) {
  MsgType t;
  Parse p = PeekPrefix(buf, len, &t, total);
  if (p != Parse::kOk) return p;
  if (t != want) return Parse::kBad;
  if (len < *total) return Parse::kNeedMore;
  return Parse::kOk;
}

bool NameByte(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_';
}

}  // namespace

int WireCodeToErrno(WireCode c) {
  switch (c) {
    case WireCode::kOk: return 0;
    case WireCode::kConnRefused: return ECONNREFUSED;
    case WireCode::kHostUnreach: return EHOSTUNREACH;
    case WireCode::kNetUnreach: return ENETUNREACH;
    case WireCode::kTimedOut: return ETIMEDOUT;
    case WireCode::kConnReset: return ECONNRESET;
    case WireCode::kAccess: return EACCES;
    case WireCode::kProto: return EPROTO;
  }
  return EPROTO;
}

WireCode ErrnoToWireCode(int err) {
  switch (err) {
    case 0: return WireCode::kOk;
    case ECONNREFUSED: return WireCode::kConnRefused;
    case EHOSTUNREACH: case EHOSTDOWN: return WireCode::kHostUnreach;
    case ENETUNREACH: case ENETDOWN: return WireCode::kNetUnreach;
    case ETIMEDOUT: return WireCode::kTimedOut;
    case ECONNRESET: case EPIPE: case ECONNABORTED: return WireCode::kConnReset;
    case EACCES: case EPERM: return WireCode::kAccess;
    default: return WireCode::kProto;
  }
}

bool ValidHostName(const char* s, size_t len) {
  if (len == 0 || len > kMaxName) return false;
  for (size_t i = 0; i < len; ++i)
    if (!NameByte(static_cast<uint8_t>(s[i]))) return false;
  return true;
}

Parse PeekPrefix(const uint8_t* buf, size_t len, MsgType* type, size_t* total) {
  // Reject a wrong magic as early as its first bytes arrive, so garbage is dropped without waiting.
  static constexpr uint8_t kMagicBytes[4] = {0x55, 0x56, 0x50, 0x31};
  for (size_t i = 0; i < len && i < 4; ++i)
    if (buf[i] != kMagicBytes[i]) return Parse::kBad;
  if (len >= 5 && (buf[4] == 0 || buf[4] >= sizeof(kBounds) / sizeof(kBounds[0]))) return Parse::kBad;
  if (len < kPrefixSize) return Parse::kNeedMore;
  const Bounds& b = kBounds[buf[4]];
  if ((buf[5] & ~b.allowed_flags) != 0) return Parse::kBad;
  size_t n = Get16(buf + 6);
  if (n < b.min || n > b.max) return Parse::kBad;
  *type = static_cast<MsgType>(buf[4]);
  *total = n;
  return Parse::kOk;
}

size_t Encode(const ConnHeader& m, uint8_t* out, size_t cap) {
  bool auth = (m.flags & kFlagAuth) != 0;
  size_t total = auth ? kConnHeaderAuthSize : kConnHeaderSize;
  if (cap < total) return 0;
  PutPrefix(out, MsgType::kConnHeader, m.flags & (kFlagWantStatus | kFlagResumable | kFlagAuth), total);
  if (auth) {
    Put64(out + 32, m.ts_ms);
    Put64(out + 40, m.nonce);
    memcpy(out + 48, m.tag, 16);  // zeros unless decoded; proto/auth.h signs over it
  }
  Put32(out + 8, m.src_vip);
  Put16(out + 12, m.src_port);
  Put32(out + 14, m.dst_vip);
  Put16(out + 18, m.dst_port);
  out[20] = m.proto;
  out[21] = static_cast<uint8_t>(m.hop);
  Put16(out + 22, 0);
  Put64(out + 24, m.relay_id);
  return total;
}

Parse Decode(const uint8_t* buf, size_t len, ConnHeader* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kConnHeader, &total);
  if (p != Parse::kOk) return p;
  if (buf[20] != 6 || buf[21] > 2 || Get16(buf + 22) != 0) return Parse::kBad;
  bool auth = (buf[5] & kFlagAuth) != 0;
  if (total != (auth ? kConnHeaderAuthSize : kConnHeaderSize)) return Parse::kBad;
  m->flags = buf[5];
  if (auth) {
    m->ts_ms = Get64(buf + 32);
    m->nonce = Get64(buf + 40);
    memcpy(m->tag, buf + 48, 16);
  }
  m->src_vip = Get32(buf + 8);
  m->src_port = Get16(buf + 12);
  m->dst_vip = Get32(buf + 14);
  m->dst_port = Get16(buf + 18);
  m->proto = buf[20];
  m->hop = static_cast<Hop>(buf[21]);
  m->relay_id = Get64(buf + 24);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const StatusMsg& m, uint8_t* out, size_t cap) {
  if (cap < kStatusSize) return 0;
  PutPrefix(out, MsgType::kStatus, 0, kStatusSize);
  Put16(out + 8, static_cast<uint16_t>(m.code));
  memset(out + 10, 0, 6);
  return kStatusSize;
}

Parse Decode(const uint8_t* buf, size_t len, StatusMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kStatus, &total);
  if (p != Parse::kOk) return p;
  uint16_t code = Get16(buf + 8);
  if (code > kMaxWireCode || Get16(buf + 10) != 0 || Get32(buf + 12) != 0) return Parse::kBad;
  m->code = static_cast<WireCode>(code);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const RegisterMsg& m, uint8_t* out, size_t cap) {
  size_t n = m.name_len > kMaxName ? kMaxName : m.name_len;
  size_t total = 16 + n + (m.auth ? kRegisterTrailer : 0);
  if (cap < total) return 0;
  PutPrefix(out, MsgType::kRegister, m.auth ? kFlagAuth : 0, total);
  Put32(out + 8, m.want_vip);
  Put32(out + 12, m.pid);
  memcpy(out + 16, m.name, n);
  if (m.auth) {
    Put64(out + 16 + n, m.ts_ms);
    memcpy(out + 24 + n, m.nonce, 16);
    memcpy(out + 40 + n, m.mac, 32);  // zeros unless decoded; proto/auth.h signs over it
  }
  return total;
}

Parse Decode(const uint8_t* buf, size_t len, RegisterMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kRegister, &total);
  if (p != Parse::kOk) return p;
  bool auth = (buf[5] & kFlagAuth) != 0;
  size_t trailer = auth ? kRegisterTrailer : 0;
  if (total < 16 + trailer || total - 16 - trailer > kMaxName) return Parse::kBad;
  size_t n = total - 16 - trailer;
  if (n > 0 && !ValidHostName(reinterpret_cast<const char*>(buf + 16), n)) return Parse::kBad;
  m->want_vip = Get32(buf + 8);
  m->pid = Get32(buf + 12);
  m->name_len = static_cast<uint8_t>(n);
  memcpy(m->name, buf + 16, n);
  m->auth = auth;
  if (auth) {
    m->ts_ms = Get64(buf + 16 + n);
    memcpy(m->nonce, buf + 24 + n, 16);
    memcpy(m->mac, buf + 40 + n, 32);
  }
  *used = total;
  return Parse::kOk;
}

size_t Encode(const RegisterOkMsg& m, uint8_t* out, size_t cap) {
  size_t n = m.name_len > kMaxName ? kMaxName : m.name_len;
  size_t total = 24 + n + (m.auth ? kRegisterOkTrailer : 0);
  if (cap < total) return 0;
  PutPrefix(out, MsgType::kRegisterOk, m.auth ? kFlagAuth : 0, total);
  Put32(out + 8, m.vip);
  Put32(out + 12, m.real_ip);
  Put32(out + 16, m.net);
  out[20] = m.net_prefix;
  out[21] = m.heartbeat_s;
  Put16(out + 22, 0);
  memcpy(out + 24, m.name, n);
  if (m.auth) memcpy(out + 24 + n, m.mac, 32);  // zeros unless decoded; proto/auth.h signs over it
  return total;
}

Parse Decode(const uint8_t* buf, size_t len, RegisterOkMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kRegisterOk, &total);
  if (p != Parse::kOk) return p;
  bool auth = (buf[5] & kFlagAuth) != 0;
  size_t trailer = auth ? kRegisterOkTrailer : 0;
  if (total < 24 + trailer || total - 24 - trailer > kMaxName) return Parse::kBad;
  size_t n = total - 24 - trailer;
  if (!ValidHostName(reinterpret_cast<const char*>(buf + 24), n)) return Parse::kBad;
  if (buf[20] > 32 || buf[21] == 0 || Get16(buf + 22) != 0) return Parse::kBad;
  m->vip = Get32(buf + 8);
  m->real_ip = Get32(buf + 12);
  m->net = Get32(buf + 16);
  m->net_prefix = buf[20];
  m->heartbeat_s = buf[21];
  m->name_len = static_cast<uint8_t>(n);
  memcpy(m->name, buf + 24, n);
  m->auth = auth;
  if (auth) memcpy(m->mac, buf + 24 + n, 32);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const RegisterErrMsg& m, uint8_t* out, size_t cap) {
  size_t n = m.text_len > kMaxErrText ? kMaxErrText : m.text_len;
  size_t total = 12 + n;
  if (cap < total) return 0;
  PutPrefix(out, MsgType::kRegisterErr, 0, total);
  Put16(out + 8, static_cast<uint16_t>(m.code));
  Put16(out + 10, 0);
  memcpy(out + 12, m.text, n);
  return total;
}

Parse Decode(const uint8_t* buf, size_t len, RegisterErrMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kRegisterErr, &total);
  if (p != Parse::kOk) return p;
  uint16_t code = Get16(buf + 8);
  if (code == 0 || code > kMaxWireCode || Get16(buf + 10) != 0) return Parse::kBad;
  size_t n = total - 12;
  for (size_t i = 0; i < n; ++i)
    if (buf[12 + i] < 0x20 && buf[12 + i] != '\t') return Parse::kBad;  // printable text only
  m->code = static_cast<WireCode>(code);
  m->text_len = static_cast<uint8_t>(n);
  memcpy(m->text, buf + 12, n);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const HeartbeatMsg& m, uint8_t* out, size_t cap) {
  if (cap < kHeartbeatSize) return 0;
  PutPrefix(out, MsgType::kHeartbeat, 0, kHeartbeatSize);
  Put32(out + 8, m.seq);
  Put32(out + 12, 0);
  return kHeartbeatSize;
}

Parse Decode(const uint8_t* buf, size_t len, HeartbeatMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kHeartbeat, &total);
  if (p != Parse::kOk) return p;
  if (Get32(buf + 12) != 0) return Parse::kBad;
  m->seq = Get32(buf + 8);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const LookupMsg& m, uint8_t* out, size_t cap) {
  size_t total = kLookupSize + (m.auth ? kUdpAuthTrailer : 0);
  if (cap < total) return 0;
  PutPrefix(out, MsgType::kLookup, m.auth ? kFlagAuth : 0, total);
  Put32(out + 8, m.query_id);
  Put32(out + 12, m.node_ip);
  Put16(out + 16, m.node_port);
  Put16(out + 18, m.router_port);
  if (m.auth) memcpy(out + kLookupSize, m.trailer, kUdpAuthTrailer);
  return total;
}

Parse Decode(const uint8_t* buf, size_t len, LookupMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kLookup, &total);
  if (p != Parse::kOk) return p;
  m->auth = (buf[5] & kFlagAuth) != 0;
  if (total != kLookupSize + (m->auth ? kUdpAuthTrailer : 0)) return Parse::kBad;
  if (m->auth) memcpy(m->trailer, buf + kLookupSize, kUdpAuthTrailer);
  m->query_id = Get32(buf + 8);
  m->node_ip = Get32(buf + 12);
  m->node_port = Get16(buf + 16);
  m->router_port = Get16(buf + 18);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const LookupReplyMsg& m, uint8_t* out, size_t cap) {
  if (cap < kLookupReplySize) return 0;
  PutPrefix(out, MsgType::kLookupReply, 0, kLookupReplySize);
  Put32(out + 8, m.query_id);
  out[12] = static_cast<uint8_t>(m.state);
  out[13] = 0;
  Put16(out + 14, static_cast<uint16_t>(m.code));
  Put32(out + 16, m.local_vip);
  Put16(out + 20, m.local_port);
  Put32(out + 22, m.peer_vip);
  Put16(out + 26, m.peer_port);
  Put32(out + 28, 0);
  return kLookupReplySize;
}

Parse Decode(const uint8_t* buf, size_t len, LookupReplyMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kLookupReply, &total);
  if (p != Parse::kOk) return p;
  uint16_t code = Get16(buf + 14);
  if (buf[12] > 4 || buf[13] != 0 || code > kMaxWireCode || Get32(buf + 28) != 0) return Parse::kBad;
  m->query_id = Get32(buf + 8);
  m->state = static_cast<RelayState>(buf[12]);
  m->code = static_cast<WireCode>(code);
  m->local_vip = Get32(buf + 16);
  m->local_port = Get16(buf + 20);
  m->peer_vip = Get32(buf + 22);
  m->peer_port = Get16(buf + 26);
  *used = total;
  return Parse::kOk;
}

// HELLO and LINK_INIT share the head: version, site_len, 5 reserved, site, session; `extra` bytes follow.
size_t EncodeHelloHead(MsgType t, const HelloMsg& m, size_t extra, uint8_t* out, size_t cap) {
  size_t s = m.site_len > kMaxSiteName ? kMaxSiteName : m.site_len;
  size_t id = m.session_len > kMaxSessionId ? kMaxSessionId : m.session_len;
  size_t total = 16 + s + id + extra;
  if (cap < total) return 0;
  PutPrefix(out, t, 0, total);
  Put16(out + 8, m.version);
  out[10] = static_cast<uint8_t>(s);
  memset(out + 11, 0, 5);
  memcpy(out + 16, m.site, s);
  memcpy(out + 16 + s, m.session, id);
  return total;
}

Parse DecodeHelloHead(MsgType t, const uint8_t* buf, size_t len, size_t extra, HelloMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, t, &total);
  if (p != Parse::kOk) return p;
  size_t s = buf[10];
  if (Get16(buf + 8) != 1 || s == 0 || s > kMaxSiteName || 16 + s + extra >= total) return Parse::kBad;
  for (int i = 11; i < 16; ++i)
    if (buf[i] != 0) return Parse::kBad;
  size_t id = total - extra - 16 - s;
  if (id > kMaxSessionId) return Parse::kBad;
  for (size_t i = 0; i < s + id; ++i)
    if (!NameByte(buf[16 + i]) || buf[16 + i] == '.') return Parse::kBad;
  m->version = 1;
  m->site_len = static_cast<uint8_t>(s);
  memcpy(m->site, buf + 16, s);
  m->session_len = static_cast<uint8_t>(id);
  memcpy(m->session, buf + 16 + s, id);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const HelloMsg& m, uint8_t* out, size_t cap) {
  return EncodeHelloHead(MsgType::kHello, m, 0, out, cap);
}

Parse Decode(const uint8_t* buf, size_t len, HelloMsg* m, size_t* used) {
  return DecodeHelloHead(MsgType::kHello, buf, len, 0, m, used);
}

size_t Encode(const NodeAddMsg& m, uint8_t* out, size_t cap) {
  size_t n = m.name_len > kMaxName ? kMaxName : m.name_len;
  size_t total = 16 + n;
  if (cap < total) return 0;
  PutPrefix(out, MsgType::kNodeAdd, 0, total);
  Put32(out + 8, m.vip);
  Put32(out + 12, 0);
  memcpy(out + 16, m.name, n);
  return total;
}

Parse Decode(const uint8_t* buf, size_t len, NodeAddMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kNodeAdd, &total);
  if (p != Parse::kOk) return p;
  size_t n = total - 16;
  if (Get32(buf + 12) != 0 || !ValidHostName(reinterpret_cast<const char*>(buf + 16), n)) return Parse::kBad;
  m->vip = Get32(buf + 8);
  m->name_len = static_cast<uint8_t>(n);
  memcpy(m->name, buf + 16, n);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const NodeDelMsg& m, uint8_t* out, size_t cap) {
  if (cap < kNodeDelSize) return 0;
  PutPrefix(out, MsgType::kNodeDel, 0, kNodeDelSize);
  Put32(out + 8, m.vip);
  return kNodeDelSize;
}

Parse Decode(const uint8_t* buf, size_t len, NodeDelMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kNodeDel, &total);
  if (p != Parse::kOk) return p;
  m->vip = Get32(buf + 8);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const ResolveMsg& m, uint8_t* out, size_t cap) {
  size_t n = m.name_len > kMaxName ? kMaxName : m.name_len;
  size_t total = 16 + n;
  if (n == 0 || cap < total) return 0;
  PutPrefix(out, MsgType::kResolve, 0, total);
  Put32(out + 8, m.query_id);
  Put32(out + 12, 0);
  memcpy(out + 16, m.name, n);
  return total;
}

Parse Decode(const uint8_t* buf, size_t len, ResolveMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kResolve, &total);
  if (p != Parse::kOk) return p;
  size_t n = total - 16;
  if (Get32(buf + 12) != 0 || !ValidHostName(reinterpret_cast<const char*>(buf + 16), n)) return Parse::kBad;
  m->query_id = Get32(buf + 8);
  m->name_len = static_cast<uint8_t>(n);
  memcpy(m->name, buf + 16, n);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const ResolveAddrMsg& m, uint8_t* out, size_t cap) {
  if (cap < kResolveAddrSize) return 0;
  PutPrefix(out, MsgType::kResolveAddr, 0, kResolveAddrSize);
  Put32(out + 8, m.query_id);
  Put32(out + 12, m.vip);
  return kResolveAddrSize;
}

Parse Decode(const uint8_t* buf, size_t len, ResolveAddrMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kResolveAddr, &total);
  if (p != Parse::kOk) return p;
  m->query_id = Get32(buf + 8);
  m->vip = Get32(buf + 12);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const ResolveReplyMsg& m, uint8_t* out, size_t cap) {
  size_t n = !m.found ? 0 : m.name_len > kMaxName ? kMaxName : m.name_len;
  size_t total = 20 + n;
  if (cap < total) return 0;
  PutPrefix(out, MsgType::kResolveReply, 0, total);
  Put32(out + 8, m.query_id);
  out[12] = m.found ? 0 : 1;
  out[13] = out[14] = out[15] = 0;
  Put32(out + 16, m.found ? m.vip : 0);
  memcpy(out + 20, m.name, n);
  return total;
}

Parse Decode(const uint8_t* buf, size_t len, ResolveReplyMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kResolveReply, &total);
  if (p != Parse::kOk) return p;
  size_t n = total - 20;
  uint8_t result = buf[12];
  uint32_t vip = Get32(buf + 16);
  if (result > 1 || buf[13] != 0 || buf[14] != 0 || buf[15] != 0) return Parse::kBad;
  if (result == 0 && (vip == 0 || !ValidHostName(reinterpret_cast<const char*>(buf + 20), n))) return Parse::kBad;
  if (result == 1 && (vip != 0 || n != 0)) return Parse::kBad;
  m->query_id = Get32(buf + 8);
  m->found = result == 0;
  m->vip = vip;
  m->name_len = static_cast<uint8_t>(n);
  memcpy(m->name, buf + 20, n);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const HostsListMsg& m, uint8_t* out, size_t cap) {
  if (cap < kHostsListSize) return 0;
  PutPrefix(out, MsgType::kHostsList, 0, kHostsListSize);
  Put32(out + 8, m.query_id);
  Put32(out + 12, m.after_vip);
  memset(out + 16, 0, kHostsListSize - 16);
  return kHostsListSize;
}

Parse Decode(const uint8_t* buf, size_t len, HostsListMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kHostsList, &total);
  if (p != Parse::kOk) return p;
  for (size_t i = 16; i < total; ++i)
    if (buf[i] != 0) return Parse::kBad;
  m->query_id = Get32(buf + 8);
  m->after_vip = Get32(buf + 12);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const HostsReplyMsg& m, uint8_t* out, size_t cap) {
  if (m.count > kHostsMaxEntries || (m.more && m.count == 0)) return 0;
  size_t total = 16;
  for (uint16_t i = 0; i < m.count; ++i) {
    const HostEntry& e = m.entries[i];
    if (!ValidHostName(e.name, e.name_len) || (i > 0 && e.vip <= m.entries[i - 1].vip)) return 0;
    total += HostEntrySize(e);
  }
  if (total > kHostsReplyMax || total > cap) return 0;
  PutPrefix(out, MsgType::kHostsReply, m.more ? kFlagMore : 0, total);
  Put32(out + 8, m.query_id);
  Put16(out + 12, m.count);
  Put16(out + 14, 0);
  uint8_t* q = out + 16;
  for (uint16_t i = 0; i < m.count; ++i) {
    const HostEntry& e = m.entries[i];
    Put32(q, e.vip);
    q[4] = e.home ? 1 : 0;
    q[5] = e.name_len;
    memcpy(q + 6, e.name, e.name_len);
    q += HostEntrySize(e);
  }
  return total;
}

Parse Decode(const uint8_t* buf, size_t len, HostsReplyMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kHostsReply, &total);
  if (p != Parse::kOk) return p;
  uint16_t count = Get16(buf + 12);
  bool more = (buf[5] & kFlagMore) != 0;
  if (Get16(buf + 14) != 0 || count > kHostsMaxEntries || (more && count == 0)) return Parse::kBad;
  size_t off = 16;
  for (uint16_t i = 0; i < count; ++i) {
    if (total - off < 6) return Parse::kBad;
    HostEntry& e = m->entries[i];
    e.vip = Get32(buf + off);
    uint8_t flags = buf[off + 4], n = buf[off + 5];
    if ((flags & ~1u) != 0 || total - off - 6 < n || !ValidHostName(reinterpret_cast<const char*>(buf + off + 6), n))
      return Parse::kBad;
    if (i > 0 && e.vip <= m->entries[i - 1].vip) return Parse::kBad;
    e.home = flags & 1;
    e.name_len = n;
    memcpy(e.name, buf + off + 6, n);
    off += 6 + n;
  }
  if (off != total) return Parse::kBad;
  m->query_id = Get32(buf + 8);
  m->more = more;
  m->count = count;
  *used = total;
  return Parse::kOk;
}

size_t Encode(const UdpHeader& m, uint8_t* out, size_t cap) {
  size_t trailer = m.auth ? kUdpAuthTrailer : 0;
  if (cap < kUdpHeaderSize || m.payload_len + trailer > kUdpMaxPayload || static_cast<uint8_t>(m.hop) > 2) return 0;
  PutPrefix(out, MsgType::kUdpData, m.auth ? kFlagAuth : 0, kUdpHeaderSize + m.payload_len + trailer);
  Put32(out + 8, m.src_vip);
  Put16(out + 12, m.src_port);
  Put32(out + 14, m.dst_vip);
  Put16(out + 18, m.dst_port);
  out[20] = static_cast<uint8_t>(m.hop);
  out[21] = 0;
  Put16(out + 22, 0);
  return kUdpHeaderSize;
}

Parse Decode(const uint8_t* buf, size_t len, UdpHeader* m, size_t* used) {
  MsgType t;
  size_t total;
  Parse p = PeekPrefix(buf, len, &t, &total);
  if (p != Parse::kOk) return p;
  if (t != MsgType::kUdpData) return Parse::kBad;
  if (len < kUdpHeaderSize) return Parse::kNeedMore;
  if (buf[20] > 2 || buf[21] != 0 || Get16(buf + 22) != 0) return Parse::kBad;
  m->src_vip = Get32(buf + 8);
  m->src_port = Get16(buf + 12);
  m->dst_vip = Get32(buf + 14);
  m->dst_port = Get16(buf + 18);
  m->hop = static_cast<Hop>(buf[20]);
  m->auth = (buf[5] & kFlagAuth) != 0;
  size_t trailer = m->auth ? kUdpAuthTrailer : 0;
  if (total < kUdpHeaderSize + trailer) return Parse::kBad;
  m->payload_len = static_cast<uint16_t>(total - kUdpHeaderSize - trailer);
  *used = kUdpHeaderSize;
  return Parse::kOk;
}

// ---- outage recovery (section 10)

namespace {
// ACK and RESUME: relay_id u64, r_bytes u64, leg u32, 4 reserved bytes (0). RESUME_OK: relay_id, r_bytes,
// code u16, 2 reserved, leg u32.
template <MsgType kType, size_t kSize>
size_t EncodeCounter(uint8_t flags, uint64_t relay_id, uint64_t r_bytes, uint32_t leg, uint8_t* out, size_t cap) {
  if (cap < kSize) return 0;
  memset(out, 0, kSize);
  PutPrefix(out, kType, flags, kSize);
  Put64(out + 8, relay_id);
  Put64(out + 16, r_bytes);
  Put32(out + 28, leg);
  return kSize;
}

template <typename M, MsgType kType>
Parse DecodeCounter(const uint8_t* buf, size_t len, M* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, kType, &total);
  if (p != Parse::kOk) return p;
  if (Get32(buf + 24) != 0) return Parse::kBad;
  m->flags = buf[5];
  m->relay_id = Get64(buf + 8);
  m->r_bytes = Get64(buf + 16);
  m->leg = Get32(buf + 28);
  *used = total;
  return Parse::kOk;
}
}  // namespace

size_t Encode(const AckMsg& m, uint8_t* out, size_t cap) {
  return EncodeCounter<MsgType::kAck, kAckSize>(m.flags & (kFlagEofSeen | kFlagLegLost), m.relay_id, m.r_bytes,
                                                m.leg, out, cap);
}

Parse Decode(const uint8_t* buf, size_t len, AckMsg* m, size_t* used) {
  return DecodeCounter<AckMsg, MsgType::kAck>(buf, len, m, used);
}

size_t Encode(const ResumeMsg& m, uint8_t* out, size_t cap) {
  return EncodeCounter<MsgType::kResume, kResumeSize>(m.flags & kFlagEofSeen, m.relay_id, m.r_bytes, m.leg, out,
                                                      cap);
}

Parse Decode(const uint8_t* buf, size_t len, ResumeMsg* m, size_t* used) {
  return DecodeCounter<ResumeMsg, MsgType::kResume>(buf, len, m, used);
}

size_t Encode(const ResumeOkMsg& m, uint8_t* out, size_t cap) {
  size_t n = EncodeCounter<MsgType::kResumeOk, kResumeOkSize>(m.flags & kFlagEofSeen, m.relay_id, m.r_bytes,
                                                              m.leg, out, cap);
  if (n) Put16(out + 24, static_cast<uint16_t>(m.code));
  return n;
}

Parse Decode(const uint8_t* buf, size_t len, ResumeOkMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kResumeOk, &total);
  if (p != Parse::kOk) return p;
  uint16_t code = Get16(buf + 24);
  if (code > kMaxWireCode || Get16(buf + 26) != 0) return Parse::kBad;
  m->flags = buf[5];
  m->relay_id = Get64(buf + 8);
  m->r_bytes = Get64(buf + 16);
  m->code = static_cast<WireCode>(code);
  m->leg = Get32(buf + 28);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const RelayResetMsg& m, uint8_t* out, size_t cap) {
  if (cap < kRelayResetSize) return 0;
  PutPrefix(out, MsgType::kRelayReset, 0, kRelayResetSize);
  Put64(out + 8, m.relay_id);
  return kRelayResetSize;
}

Parse Decode(const uint8_t* buf, size_t len, RelayResetMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kRelayReset, &total);
  if (p != Parse::kOk) return p;
  m->relay_id = Get64(buf + 8);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const LinkInitMsg& m, uint8_t* out, size_t cap) {
  size_t n = EncodeHelloHead(MsgType::kLinkInit, m.hello, kHandshakeBody, out, cap);
  if (n) memcpy(out + n - kHandshakeBody, m.body, kHandshakeBody);
  return n;
}

Parse Decode(const uint8_t* buf, size_t len, LinkInitMsg* m, size_t* used) {
  Parse p = DecodeHelloHead(MsgType::kLinkInit, buf, len, kHandshakeBody, &m->hello, used);
  if (p == Parse::kOk) memcpy(m->body, buf + *used - kHandshakeBody, kHandshakeBody);
  return p;
}

size_t Encode(const LinkRespMsg& m, uint8_t* out, size_t cap) {
  if (cap < kLinkRespSize) return 0;
  PutPrefix(out, MsgType::kLinkResp, 0, kLinkRespSize);
  memcpy(out + 8, m.body, kHandshakeBody);
  return kLinkRespSize;
}

Parse Decode(const uint8_t* buf, size_t len, LinkRespMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kLinkResp, &total);
  if (p != Parse::kOk) return p;
  memcpy(m->body, buf + 8, kHandshakeBody);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const LegOpenMsg& m, uint8_t* out, size_t cap) {
  if (cap < kLegOpenSize) return 0;
  PutPrefix(out, MsgType::kLegOpen, 0, kLegOpenSize);
  Put64(out + 8, m.link_id);
  Put64(out + 16, m.leg_no);
  memcpy(out + kLegOpenAd, m.sealed, sizeof m.sealed);
  return kLegOpenSize;
}

Parse Decode(const uint8_t* buf, size_t len, LegOpenMsg* m, size_t* used) {
  size_t total;
  Parse p = Front(buf, len, MsgType::kLegOpen, &total);
  if (p != Parse::kOk) return p;
  m->link_id = Get64(buf + 8);
  m->leg_no = Get64(buf + 16);
  if (m->leg_no == 0) return Parse::kBad;
  memcpy(m->sealed, buf + kLegOpenAd, sizeof m->sealed);
  *used = total;
  return Parse::kOk;
}

size_t Encode(const UdpSealedHeader& m, uint8_t* out, size_t cap) {
  size_t total = kUdpSealedHeader + m.sealed_len;
  if (cap < kUdpSealedHeader || m.sealed_len < 16 + kUdpHeaderSize || total > kUdpMaxDatagram) return 0;
  PutPrefix(out, MsgType::kUdpSealed, 0, total);
  Put64(out + 8, m.link_id);
  Put64(out + 16, m.counter);
  return kUdpSealedHeader;
}

Parse Decode(const uint8_t* buf, size_t len, UdpSealedHeader* m, size_t* used) {
  MsgType t;
  size_t total;
  Parse p = PeekPrefix(buf, len, &t, &total);
  if (p != Parse::kOk) return p;
  if (t != MsgType::kUdpSealed) return Parse::kBad;
  if (len < kUdpSealedHeader) return Parse::kNeedMore;
  m->link_id = Get64(buf + 8);
  m->counter = Get64(buf + 16);
  m->sealed_len = total - kUdpSealedHeader;
  *used = kUdpSealedHeader;
  return Parse::kOk;
}

}  // namespace uvpn::proto
