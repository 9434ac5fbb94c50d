// Codecs for docs/protocol.md. Theory of operation: every message is a fixed 8-byte prefix (magic, type, flags,
// length) followed by type-specific fields, all big-endian. Encoders write into a caller buffer and return the
// number of bytes written (0 if the buffer is too small). Decoders never read past `len`: they return kOk with the
// message's total size in `*used`, kNeedMore when `buf` is a strict prefix of a possibly valid message, or kBad.
//
// Freestanding: no allocation, no exceptions, no libstdc++ runtime; the preload library links this file.
// Thread-safe and async-signal-safe (pure functions).
#pragma once

#include <cstddef>
#include <cstdint>

namespace uvpn::proto {

inline constexpr uint32_t kMagic = 0x55565031;  // "UVP1"
inline constexpr size_t kPrefixSize = 8;

enum class MsgType : uint8_t {
  kConnHeader = 1,
  kStatus = 2,
  kRegister = 3,
  kRegisterOk = 4,
  kRegisterErr = 5,
  kHeartbeat = 6,
  kLookup = 7,
  kLookupReply = 8,
  kHello = 9,
  kNodeAdd = 10,
  kNodeDel = 11,
  kResolve = 12,
  kResolveAddr = 13,
  kResolveReply = 14,
  kUdpData = 15,
  kAck = 16,
  kResume = 17,
  kResumeOk = 18,
  kRelayReset = 19,
  kLinkInit = 20,
  kLinkResp = 21,
  kLegOpen = 22,
  kUdpSealed = 23,
  kHostsList = 24,
  kHostsReply = 25,
};

enum class Parse : uint8_t { kOk = 0, kNeedMore = 1, kBad = 2 };

inline constexpr size_t kConnHeaderSize = 32;
inline constexpr size_t kStatusSize = 16;
inline constexpr size_t kHeartbeatSize = 16;
inline constexpr size_t kLookupSize = 20;
inline constexpr size_t kLookupReplySize = 32;
inline constexpr size_t kNodeDelSize = 12;
inline constexpr size_t kMaxName = 63;        // host names
inline constexpr size_t kMaxErrText = 128;    // REGISTER_ERR text
inline constexpr size_t kMaxSiteName = 32;
inline constexpr size_t kMaxSessionId = 64;
inline constexpr size_t kHandshakeBody = 32 + 1 + 16;  // LINK_INIT / LINK_RESP: e, sealed payload byte, tag
inline constexpr size_t kMaxMessage = 16 + kMaxSiteName + kMaxSessionId + kHandshakeBody;  // largest first message
inline constexpr size_t kResolveAddrSize = 16;
inline constexpr size_t kResolveMax = 16 + kMaxName;       // RESOLVE with the longest name
inline constexpr size_t kResolveReplyMax = 20 + kMaxName;  // RESOLVE_REPLY with the longest name
inline constexpr size_t kHostsListSize = 1200;              // HOSTS_LIST (padded: no amplification)
inline constexpr size_t kHostsReplyMax = 1200;              // HOSTS_REPLY, header and entries
inline constexpr size_t kHostsEntryMin = 6 + 1;
inline constexpr size_t kHostsMaxEntries = (kHostsReplyMax - 16) / kHostsEntryMin;
inline constexpr uint8_t kFlagMore = 0x01;                  // HOSTS_REPLY: more entries follow

// Wire error codes (protocol.md section 3).
enum class WireCode : uint16_t {
  kOk = 0,
  kConnRefused = 1,
  kHostUnreach = 2,
  kNetUnreach = 3,
  kTimedOut = 4,
  kConnReset = 5,
  kAccess = 6,
  kProto = 7,
};
inline constexpr uint16_t kMaxWireCode = 7;
int WireCodeToErrno(WireCode c);   // kOk -> 0
WireCode ErrnoToWireCode(int err);  // 0 -> kOk; unknown -> kProto

// Peeks the prefix: on kOk sets *type and *total (the declared length, already checked against the type's
// bounds). kNeedMore if len < 8. kBad on wrong magic, unknown type, or a length outside the type's bounds.
Parse PeekPrefix(const uint8_t* buf, size_t len, MsgType* type, size_t* total);

enum class Hop : uint8_t { kNodeToHome = 0, kHomeToPeer = 1, kRouterToDest = 2 };
inline constexpr uint8_t kFlagWantStatus = 0x01;
inline constexpr uint8_t kFlagResumable = 0x02;  // hop 1: keep this relay across leg-1 outages (section 10)
// CONN_HEADER (hops 0 and 2), REGISTER, REGISTER_OK: an authentication trailer follows (section 12).
inline constexpr uint8_t kFlagAuth = 0x04;
inline constexpr size_t kHeaderTrailer = 32;   // CONN_HEADER: ts u64, nonce u64, tag 16
inline constexpr size_t kConnHeaderAuthSize = kConnHeaderSize + kHeaderTrailer;
inline constexpr size_t kRegisterTrailer = 56;    // REGISTER: ts u64, nonce 16, mac 32
inline constexpr size_t kRegisterOkTrailer = 32;  // REGISTER_OK: mac 32

struct ConnHeader {
  uint8_t flags = 0;  // with kFlagAuth the encoding has the trailer: ts_ms, nonce and the tag (signed separately)
  uint32_t src_vip = 0;
  uint16_t src_port = 0;
  uint32_t dst_vip = 0;
  uint16_t dst_port = 0;
  uint8_t proto = 6;
  Hop hop = Hop::kNodeToHome;
  uint64_t relay_id = 0;
  uint64_t ts_ms = 0;     // kFlagAuth: sender's wall clock, ms since the epoch
  uint64_t nonce = 0;     // kFlagAuth: unique per sender and timestamp
  uint8_t tag[16] = {};   // kFlagAuth: as decoded (Encode writes it back; proto/auth.h signs over it)
};
size_t Encode(const ConnHeader& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, ConnHeader* m, size_t* used);

struct StatusMsg {
  WireCode code = WireCode::kOk;
};
size_t Encode(const StatusMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, StatusMsg* m, size_t* used);

struct RegisterMsg {
  uint32_t want_vip = 0;
  uint32_t pid = 0;
  uint8_t name_len = 0;
  char name[kMaxName] = {};
  bool auth = false;        // kFlagAuth: the trailer follows the name (auth.h signs over `mac`)
  uint64_t ts_ms = 0;
  uint8_t nonce[16] = {};
  uint8_t mac[32] = {};     // as decoded; zeros for a message to be signed
};
size_t Encode(const RegisterMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, RegisterMsg* m, size_t* used);

struct RegisterOkMsg {
  uint32_t vip = 0;
  uint32_t real_ip = 0;
  uint32_t net = 0;
  uint8_t net_prefix = 0;
  uint8_t heartbeat_s = 0;
  uint8_t name_len = 0;
  char name[kMaxName] = {};
  bool auth = false;             // kFlagAuth: a mac follows the name (auth.h signs over it)
  uint8_t mac[32] = {};          // as decoded; zeros for a message to be signed
};
size_t Encode(const RegisterOkMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, RegisterOkMsg* m, size_t* used);

struct RegisterErrMsg {
  WireCode code = WireCode::kProto;
  uint8_t text_len = 0;
  char text[kMaxErrText] = {};
};
size_t Encode(const RegisterErrMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, RegisterErrMsg* m, size_t* used);

struct HeartbeatMsg {
  uint32_t seq = 0;
};
size_t Encode(const HeartbeatMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, HeartbeatMsg* m, size_t* used);

struct LookupMsg {
  uint32_t query_id = 0;
  uint32_t node_ip = 0;
  uint16_t node_port = 0;
  uint16_t router_port = 0;
  bool auth = false;         // kFlagAuth: the 24-byte trailer of protocol.md section 12 follows (auth.h signs it)
  uint8_t trailer[24] = {};  // as decoded; zeros for a message to be signed
};
size_t Encode(const LookupMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, LookupMsg* m, size_t* used);

enum class RelayState : uint8_t { kUnknown = 0, kPending = 1, kEstablished = 2, kFailed = 3, kClosed = 4 };
struct LookupReplyMsg {
  uint32_t query_id = 0;
  RelayState state = RelayState::kUnknown;
  WireCode code = WireCode::kOk;
  uint32_t local_vip = 0;
  uint16_t local_port = 0;
  uint32_t peer_vip = 0;
  uint16_t peer_port = 0;
};
size_t Encode(const LookupReplyMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, LookupReplyMsg* m, size_t* used);

struct HelloMsg {
  uint16_t version = 1;
  uint8_t site_len = 0;
  char site[kMaxSiteName] = {};
  uint8_t session_len = 0;
  char session[kMaxSessionId] = {};
};
size_t Encode(const HelloMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, HelloMsg* m, size_t* used);

struct NodeAddMsg {
  uint32_t vip = 0;
  uint8_t name_len = 0;
  char name[kMaxName] = {};
};
size_t Encode(const NodeAddMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, NodeAddMsg* m, size_t* used);

struct NodeDelMsg {
  uint32_t vip = 0;
};
size_t Encode(const NodeDelMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, NodeDelMsg* m, size_t* used);

// Host names (protocol.md section 8), UDP to the home router's node endpoint. RESOLVE asks name -> vip,
// RESOLVE_ADDR vip -> name; RESOLVE_REPLY answers either. Decoders require the canonical form: a found reply has
// a non-zero vip and a valid name, a not-found reply has vip 0 and no name.
struct ResolveMsg {
  uint32_t query_id = 0;
  uint8_t name_len = 0;  // 1..kMaxName
  char name[kMaxName] = {};
};
size_t Encode(const ResolveMsg& m, uint8_t* out, size_t cap);  // 0 also if name_len is 0
Parse Decode(const uint8_t* buf, size_t len, ResolveMsg* m, size_t* used);

struct ResolveAddrMsg {
  uint32_t query_id = 0;
  uint32_t vip = 0;
};
size_t Encode(const ResolveAddrMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, ResolveAddrMsg* m, size_t* used);

struct ResolveReplyMsg {
  uint32_t query_id = 0;
  bool found = false;
  uint32_t vip = 0;       // 0 unless found
  uint8_t name_len = 0;   // 0 unless found, else 1..kMaxName
  char name[kMaxName] = {};
};
// Encodes the canonical form: a not-found reply is written with vip 0 and no name whatever the fields hold.
size_t Encode(const ResolveReplyMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, ResolveReplyMsg* m, size_t* used);

// The whole name table (protocol.md section 13), UDP to the home router's node endpoint: HOSTS_LIST asks for the
// nodes whose VIP is above after_vip, HOSTS_REPLY answers one page of them in increasing VIP order.
struct HostsListMsg {
  uint32_t query_id = 0;
  uint32_t after_vip = 0;
};
size_t Encode(const HostsListMsg& m, uint8_t* out, size_t cap);  // writes all kHostsListSize bytes
Parse Decode(const uint8_t* buf, size_t len, HostsListMsg* m, size_t* used);  // padding must be zero

struct HostEntry {
  uint32_t vip = 0;
  bool home = false;     // a lease of the answering router
  uint8_t name_len = 0;  // 1..kMaxName
  char name[kMaxName] = {};
};
// Size of one entry on the wire.
inline size_t HostEntrySize(const HostEntry& e) { return 6 + e.name_len; }
struct HostsReplyMsg {
  uint32_t query_id = 0;
  bool more = false;
  uint16_t count = 0;  // <= kHostsMaxEntries
  HostEntry entries[kHostsMaxEntries];
};
// 0 if the entries do not fit kHostsReplyMax or cap, or are not canonical (VIPs not increasing, a bad name).
size_t Encode(const HostsReplyMsg& m, uint8_t* out, size_t cap);
// Bad unless: count entries fill the length exactly, VIPs strictly increase, names valid, reserved bits 0, and
// `more` comes with at least one entry. (The caller checks the VIPs against its after_vip.)
Parse Decode(const uint8_t* buf, size_t len, HostsReplyMsg* m, size_t* used);

// Datagrams (protocol.md section 9): a 24-byte UDP_DATA header followed by the payload, the whole being one UDP
// datagram whose size equals the prefix length. Encode writes the header only (the payload travels in its own
// iovec); it returns 0 if cap < 24 or payload_len > kUdpMaxPayload. Decode checks the header in the first 24
// bytes (kNeedMore if len < 24, so a caller may pass just the header); on kOk *used = kUdpHeaderSize and
// m->payload_len = length - 24. The caller must check that its datagram is exactly 24 + payload_len bytes.
inline constexpr size_t kUdpHeaderSize = 24;
inline constexpr size_t kUdpMaxDatagram = 65507;  // largest IPv4 UDP payload
inline constexpr size_t kUdpMaxPayload = kUdpMaxDatagram - kUdpHeaderSize;
inline constexpr size_t kUdpAuthTrailer = 24;  // kFlagAuth (hop 0 only): ts u64, tag 16 after the payload
struct UdpHeader {
  bool auth = false;  // kFlagAuth: the datagram ends with the trailer (payload_len excludes it; protocol.md s. 12)
  uint32_t src_vip = 0;
  uint16_t src_port = 0;
  uint32_t dst_vip = 0;
  uint16_t dst_port = 0;
  Hop hop = Hop::kNodeToHome;
  uint16_t payload_len = 0;
};
size_t Encode(const UdpHeader& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, UdpHeader* m, size_t* used);

// Outage recovery (protocol.md section 10). ACK and RESUME share one layout (type differs); RESUME_OK adds a code.
inline constexpr size_t kAckSize = 32;
inline constexpr size_t kResumeSize = 32;
inline constexpr size_t kResumeOkSize = 32;
inline constexpr size_t kRelayResetSize = 16;
inline constexpr uint8_t kFlagEofSeen = 0x01;  // ACK, RESUME, RESUME_OK: the sender read the leg-1 EOF
inline constexpr uint8_t kFlagLegLost = 0x02;  // ACK only: the sender lost its leg 1 of this relay

struct AckMsg {
  uint8_t flags = 0;  // kFlagEofSeen | kFlagLegLost
  uint64_t relay_id = 0;
  uint64_t r_bytes = 0;
  uint32_t leg = 0;  // the sender's current leg-1 number (with kFlagLegLost: the leg it lost)
};
size_t Encode(const AckMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, AckMsg* m, size_t* used);

struct ResumeMsg {
  uint8_t flags = 0;  // kFlagEofSeen
  uint64_t relay_id = 0;
  uint64_t r_bytes = 0;
  uint32_t leg = 0;  // number of the new leg 1 (the home router counts from 0, the first leg)
};
size_t Encode(const ResumeMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, ResumeMsg* m, size_t* used);

struct ResumeOkMsg {
  uint8_t flags = 0;  // kFlagEofSeen
  uint64_t relay_id = 0;
  uint64_t r_bytes = 0;
  WireCode code = WireCode::kOk;
  uint32_t leg = 0;  // echoed
};
size_t Encode(const ResumeOkMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, ResumeOkMsg* m, size_t* used);

struct RelayResetMsg {
  uint64_t relay_id = 0;
};
size_t Encode(const RelayResetMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, RelayResetMsg* m, size_t* used);

// Security (protocol.md section 11). LINK_INIT is HELLO's layout (type 20) with the handshake body appended; the
// Noise prologue is the message without that body (`prologue_len` on decode). LINK_RESP is the prefix and a body.
struct LinkInitMsg {
  HelloMsg hello;
  uint8_t body[kHandshakeBody] = {};
};
size_t Encode(const LinkInitMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, LinkInitMsg* m, size_t* used);

inline constexpr size_t kLinkRespSize = 8 + kHandshakeBody;
struct LinkRespMsg {
  uint8_t body[kHandshakeBody] = {};
};
size_t Encode(const LinkRespMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, LinkRespMsg* m, size_t* used);

// LEG_OPEN: link id, leg number, and the sealed first message (a 32-byte CONN_HEADER or RESUME and its tag).
inline constexpr size_t kLegOpenAd = 24;  // bytes 0..23 are the associated data of `sealed`
inline constexpr size_t kLegOpenSize = kLegOpenAd + 32 + 16;
struct LegOpenMsg {
  uint64_t link_id = 0;
  uint64_t leg_no = 0;  // >= 1
  uint8_t sealed[32 + 16] = {};
};
size_t Encode(const LegOpenMsg& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, LegOpenMsg* m, size_t* used);

// UDP_SEALED: a 24-byte header (also the associated data), then the sealed inner UDP_DATA and its tag. Encode writes
// the header only, for a sealed part of `sealed_len` bytes; Decode checks the header (kNeedMore if len < 24) and
// sets m->sealed_len from the prefix length (the caller checks that its datagram has exactly that size).
inline constexpr size_t kUdpSealedHeader = 24;
inline constexpr size_t kUdpSealedOverhead = kUdpSealedHeader + 16;
inline constexpr size_t kUdpMaxSealedInner = kUdpMaxDatagram - kUdpSealedOverhead;
struct UdpSealedHeader {
  uint64_t link_id = 0;
  uint64_t counter = 0;
  size_t sealed_len = 0;  // inner datagram + tag, 16 + kUdpHeaderSize..
};
size_t Encode(const UdpSealedHeader& m, uint8_t* out, size_t cap);
Parse Decode(const uint8_t* buf, size_t len, UdpSealedHeader* m, size_t* used);

// True if every byte is in [A-Za-z0-9.-] and 1 <= len <= 63 (host names) -- also used for site names with '_'.
bool ValidHostName(const char* s, size_t len);

}  // namespace uvpn::proto
