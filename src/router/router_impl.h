// Internal state of the subnet router: one object, owned by the thread that calls Run(), whose methods are
// split over several files by concern:
//   router.cc  start-up, the epoll loop, dispatch on tags, the 100 ms tick, shutdown
//   relay.cc   accepted connections, the relay state machine and splice() data movement
//   nodes.cc   registration connections (leases, heartbeats) and LOOKUP over UDP
//   links.cc   router-to-router control links (HELLO, NODE_ADD/DEL, heartbeats, dialing with backoff)
//   resume.cc  outage tolerance: replay rings, ACKs, suspension, RESUME, spill files, chaos (docs/outage.md)
//   control.cc the Unix status socket
//
// Relay state machine (docs/architecture.md, "Router internals"):
//
//   ACCEPTED --header read--> CONNECTING --connected, header written--> AWAIT_STATUS (home, cross-site)
//      |                          |                                          | STATUS ok
//      | bad header / timeout     | error or timeout -> status sent, closed  v
//      +--> closed                +--> closed                           ESTABLISHED --EOF both ways--> closed
//
// A resumable relay (cross-site, docs/outage.md) adds: ESTABLISHED --leg 1 lost--> SUSPENDED --link up, home
// router dials--> RESUMING --RESUME_OK--> ESTABLISHED (the peer router goes SUSPENDED -> ESTABLISHED when a RESUME
// arrives). SUSPENDED and RESUMING keep serving the node side.
//
// Side 0 of a relay is the connection the router accepted (a node on leg 0, or the home router on leg 1);
// side 1 the connection it dialled (leg 1 to the peer router, or leg 2 to the destination). Direction d moves
// bytes from side d to side 1-d through its own pipe. Invariants: a relay slot's fds are valid exactly while
// the slot is in use; Dir::pipe is valid only while it holds bytes (in_pipe > 0) or during one Pump call; a
// freed slot's generation differs from every tag still queued for it.
#pragma once

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/addr.h"
#include "crypto/aead.h"
#include "crypto/noise.h"
#include "proto/wire.h"
#include "router/event_loop.h"
#include "router/leases.h"
#include "router/pipe_pool.h"
#include "router/replay_cache.h"
#include "router/replay_ring.h"
#include "router/router.h"
#include "router/spill.h"
#include "router/status.h"
#include "sysio/fd.h"

namespace uvpn::router {

enum class RState : uint8_t { kAccepted, kConnecting, kAwaitStatus, kEstablished, kSuspended, kResuming };
enum class Role : uint8_t {
  kUnknown,     // header not read yet
  kHomeLocal,   // hop 0, destination in this site: side 1 is leg 2
  kHomeRemote,  // hop 0, destination in another site: side 1 is leg 1
  kPeer,        // hop 1 from another router: side 1 is leg 2
};
const char* StateName(RState s);

// Splice-ins with data in a row, the other direction silent, after which a direction counts as bulk.
inline constexpr uint8_t kBulkStreak = 4;
// Replay rings start at this size and grow while a direction moves bulk data (docs/outage.md).
inline constexpr size_t kRingMin = 64 * 1024;

// RST instead of FIN on close (SO_LINGER 0).
void CloseRst(int fd);
// TCP_QUICKACK after a read of fewer than kQuickAckBelow bytes from a node socket (relay.cc: why).
void QuickAck(int fd);
inline constexpr size_t kQuickAckBelow = 16384;

// Non-blocking TCP connect to `dst` from address `src` (0: let the kernel choose). Binding the source keeps
// the router's own address on legs it dials even on multi-homed heads (the destination's shim recognises
// relayed connections by their real peer); IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(), so
// the binding does not limit ports per source address. `*in_progress` tells whether the connect is still
// under way.
Result<sysio::Fd> ConnectFrom(Ip4 src, const Endpoint& dst, bool* in_progress);

struct Dir {
  Pipe pipe;             // valid while it holds bytes
  uint32_t in_pipe = 0;  // bytes in the pipe
  bool eof = false;      // read end-of-file from the source side
  bool shut = false;     // shutdown(SHUT_WR) done on the sink side
  uint64_t bytes = 0;    // bytes written to the sink side
  uint8_t streak = 0;    // splice-ins with data since the other direction last carried data (saturating)
};

// A sealed leg 1 (docs/protocol.md section 11, seal.cc): its ciphers and record buffers. The buffers come from
// Router::GetSealBuf only while they hold bytes, so idle relays hold none. Eight records (128 KiB) per buffer:
// bench/seal_bench.py measured 64 KiB 3.8, 128 KiB 4.3, 256 KiB 4.6 Gbit/s at 128 KiB sends (fewer syscalls
// per byte); 128 KiB bounds what a stalled relay holds.
inline constexpr size_t kSealBuf = 8 * crypto::kMaxRecord;
struct LegSeal {
  bool on = false;
  crypto::Cipher tx, rx;
  uint8_t* rxb = nullptr;  // ciphertext read from leg 1 but not opened yet (at most one partial record)
  uint32_t rx_have = 0;
  bool rx_closed = false;  // the peer's authenticated end of stream was opened
  uint8_t* txb = nullptr;  // sealed records not written yet: txb[tx_off, tx_len)
  uint32_t tx_off = 0, tx_len = 0;
  bool close_queued = false;  // our end-of-stream record is in txb (or written)
  bool tx_pending() const { return tx_off < tx_len; }
};

// Responder side of a router-link handshake between LINK_RESP and the initiator's first record (links.cc).
struct PendingLink {
  uint32_t li = 0;
  crypto::LinkSession sess;
  crypto::Suite suite = crypto::Suite::kChaCha20Poly1305;
};

struct Relay {
  RState state = RState::kAccepted;
  Role role = Role::kUnknown;
  Kind listener = Kind::kNone;  // which listener accepted side 0
  bool want_status = false;
  int fd[2] = {-1, -1};
  uint32_t ev[2] = {0, 0};  // events currently registered
  bool in_epoll[2] = {false, false};
  Dir dir[2];
  proto::ConnHeader hdr;            // as it will be sent on (src filled in by the home router)
  uint8_t buf[proto::kMaxMessage];  // first message (side 0) or STATUS (side 1) being read
  uint8_t have = 0;
  Endpoint peer;                    // real address of side 0's peer
  uint64_t lookup_key[2] = {0, 0};  // LOOKUP keys of node-facing sides (0: none)
  uint64_t id = 0;
  int64_t started_ms = 0;
  int64_t deadline_ms = 0;  // header or connect deadline while setting up (and while RESUMING)

  // Outage tolerance (resume.cc, docs/outage.md). Only for resumable relays; `leg1` is the side on leg 1 (home
  // router: 1, peer router: 0), so direction 1 - leg1 sends into leg 1 through `ring` and direction leg1 reads
  // from it by splice, counting r_bytes.
  bool resumable = false;
  bool resume_sent = false;     // RESUMING: RESUME written on the new leg 1
  bool peer_eof_seen = false;   // the peer router has read our leg-1 EOF (ACK / RESUME / RESUME_OK flag)
  bool ack_dirty = false;       // queued in Router::ack_dirty_
  bool eof_acked = false;       // our ACK with EOF_SEEN was sent
  bool quiet_reset = false;     // Reset() must not send RELAY_RESET (the peer already knows)
  int leg1 = -1;
  uint32_t link = 0;            // index into Router::links_ of the other site
  ReplayRing ring;
  std::unique_ptr<SpillFile> spill;
  uint64_t r_bytes = 0;         // bytes read from leg 1, across legs
  uint64_t r_acked = 0;         // r_bytes last reported to the peer
  uint64_t replay_end = 0;      // ring.sent() before the last rewind (bytes below it are replayed)
  int64_t suspended_ms = 0;     // start of the current outage (0: none)
  int64_t resume_due_ms = 0;    // home: when to dial the next RESUME; peer: orphan deadline (0: none)
  int resume_backoff_ms = 0;
  uint32_t suspensions = 0;
  uint32_t leg_no = 0;          // number of the current (or last) leg 1: 0 the first, +1 per RESUME (home counts)
  uint8_t failed_resumes = 0;   // home: RESUME attempts failed in a row while the link was up
  int64_t done_ms = 0;          // both directions ended here, waiting for the peer's final ACK since

  bool unid_counted = false;            // counted in Router::unidentified_per_src_ (ACCEPTED, no first message)
  LegSeal seal;                         // leg 1 sealed (secret set): on for every cross-site relay
  std::unique_ptr<PendingLink> plink;   // a WAN connection that sent LINK_INIT, until its first record
};

// What LOOKUP answers for a node connection: live while `slot` is in use with `gen`, else a frozen final
// result.
struct LookupEntry {
  uint32_t slot = 0;
  uint32_t gen = 0;
  bool live = true;
  proto::RelayState state = proto::RelayState::kPending;
  proto::WireCode code = proto::WireCode::kOk;
  Endpoint local;  // virtual endpoint of the node's end
  Endpoint peer;   // virtual endpoint of the other application
  int64_t expires_ms = 0;
};

struct Reg {
  int fd = -1;
  Ip4 real = 0;
  Ip4 vip = 0;
  uint8_t buf[proto::kHeartbeatSize];
  uint8_t have = 0;
  int64_t last_heard_ms = 0;
};

enum class LinkState : uint8_t { kDown, kConnecting, kHello, kUp };

struct Link {
  std::string site;
  Endpoint endpoint;    // the peer router's WAN address
  bool dialer = false;  // this router dials (its site name sorts first)
  LinkState state = LinkState::kDown;
  int fd = -1;
  uint32_t ev = 0;   // events registered for fd
  uint32_t gen = 1;  // bumped whenever fd changes (tags of older fds are stale)
  int64_t since_ms = 0;
  int64_t next_dial_ms = 0;
  int backoff_ms = 100;
  int64_t last_heard_ms = 0;
  int64_t last_sent_ms = 0;
  uint32_t hb_seq = 0;
  int64_t cut_until_ms = 0;  // `uvpn chaos cut`: refuse this link and its legs until then (0: not cut)
  std::vector<uint8_t> in;   // bytes read (records once sealed)
  std::vector<uint8_t> msg;  // sealed links: opened plaintext, parsed into messages
  std::vector<uint8_t> out;
  size_t out_off = 0;

  // Security (docs/protocol.md section 11): the handshake while dialling, then the link session.
  uint8_t psk[crypto::kPskLen] = {};
  std::unique_ptr<crypto::Handshake> hs;
  bool sealed = false;  // `sess` is valid (state kUp with a secret)
  crypto::LinkSession sess;
  crypto::Suite suite = crypto::Suite::kChaCha20Poly1305;
  uint64_t next_leg = 1;                  // legs we dial in this session
  crypto::ReplayWindow<4096> legs_seen;   // legs they dialled in this session
  crypto::Cipher udp_tx, udp_rx;
  uint64_t udp_ctr = 1;
  crypto::ReplayWindow<1024> udp_seen;

  // Legs 1 dialled ahead of need (legpool.cc): connected TCP sockets to the peer's WAN listener that carry no
  // byte yet. Oldest first.
  struct PooledLeg {
    int fd = -1;
    int64_t born_ms = 0;
  };
  std::vector<PooledLeg> pool;
  bool refill = false;         // queued in Router::refill_
  uint64_t legs_pooled = 0;    // legs 1 taken from the pool
  uint64_t legs_dialled = 0;   // legs 1 dialled on demand (pool empty, off, or its sockets stale)
};

struct StatusConn {
  int fd = -1;
  std::string in;
  std::string out;
  size_t off = 0;
  bool replying = false;
  int64_t deadline_ms = 0;
};

class Router {
 public:
  explicit Router(const Options& o);
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;
  ~Router();
  int Run();

  // --- router.cc
  Status Init();
  void Loop();
  void Tick();
  void Shutdown();
  // Registers / updates / removes a relay side in epoll (no syscall if `events` is unchanged).
  void SetEvents(uint32_t slot, int side, uint32_t events);
  void DelFromEpoll(uint32_t slot, int side);
  int64_t now() const { return now_ms_; }

  // --- relay.cc
  void OnAccept(Kind listener, int lfd);
  void OnRelayEvent(uint32_t slot, int side, uint32_t events);
  void ReadFirst(uint32_t slot);
  void StartRelay(uint32_t slot);
  bool SendHeader(uint32_t slot, int* err);  // the 32-byte header on side 1; false with *err
  void OnConnected(uint32_t slot);            // side 1's connect completed (EPOLLOUT)
  void HeaderSent(uint32_t slot);             // -> AWAIT_STATUS or ESTABLISHED
  void ReadStatus(uint32_t slot);
  void StatusRead(uint32_t slot);  // r.buf holds a complete STATUS
  bool SendStatusOn(uint32_t slot, proto::WireCode code);  // on side 0 (sealed at the peer router)
  void Unaccount(Relay& r);        // no longer an unidentified connection of its source
  void Establish(uint32_t slot);
  void Fail(uint32_t slot, proto::WireCode code, const char* why);
  void Drop(uint32_t slot, const char* why);  // bad input: one log line, close side 0
  // The accepted connection of slot `slot` becomes a registration, a link or another relay's leg 1: frees the slot
  // without closing the fd (its epoll registration stays, for the caller to re-tag) and returns the fd.
  int HandOver(uint32_t slot);
  void Pump(uint32_t slot, int d);
  bool PumpCopy(uint32_t slot, int d);            // one splice in and one out for direction d
  void Flush(uint32_t slot, int d);           // splice out only (sink became writable)
  void UpdateInterest(uint32_t slot);
  void Reset(uint32_t slot, const char* why);  // RST both sides
  void MaybeFinish(uint32_t slot);
  void FreeRelay(uint32_t slot, proto::RelayState final_state, proto::WireCode code);
  void RelayTimeouts();
  // Out of descriptors: closes up to `n` of the oldest connections still in ACCEPTED state (no complete first
  // message yet), so that identified work -- relays, registrations, links -- is never what gives way to
  // connections that send nothing. Never closes slot `keep`. Returns how many were closed.
  int ShedUnidentified(int n, uint32_t keep = kMaxSlots);
  // Per-source limit reached for `ip`: closes its oldest connection still without a first message. False if none.
  bool ShedOldestFrom(Ip4 ip);
  uint32_t RelayCount() const { return static_cast<uint32_t>(relays_.live()); }

  // --- nodes.cc
  // With a secret: why a REGISTER (decoded `m`, raw `total` bytes) is refused, or empty if it authenticates.
  std::string RegisterAuthError(const proto::RegisterMsg& m, const uint8_t* raw, size_t total);
  // With a secret: why the hop-0 header of relay `slot` (raw bytes still in r.buf) from lease `src` is refused.
  std::string HeaderAuthError(uint32_t slot, const Lease& src);
  // `extra`/`n`: bytes read behind the REGISTER (ReadFirst reads ahead), processed as if received next.
  void AdoptRegistration(uint32_t slot, const proto::RegisterMsg& m, const uint8_t* extra, size_t n);
  void OnRegEvent(uint32_t reg, uint32_t events);
  void RegInput(uint32_t reg, size_t n);  // n new bytes at the end of Reg::buf
  void EndReg(uint32_t reg, const char* why);
  void RegTimeouts();
  void OnUdp();
  static uint64_t LookupKey(Ip4 node_ip, uint16_t node_port, uint16_t router_port) {
    return (static_cast<uint64_t>(node_ip) << 32) | (static_cast<uint64_t>(node_port) << 16) | router_port;
  }
  void FreezeLookup(uint64_t key, proto::RelayState st, proto::WireCode code);
  void ExpireLookups();

  // --- udp.cc (docs/protocol.md section 9)
  Status InitUdp();  // the datagram buffer, socket buffers, the WAN UDP socket (if node != peer endpoint)
  void OnWanUdp();
  // Datagrams are read into UdpSlot() (kUdpSlot bytes), checked and rewritten in place by OnUdpData, which either
  // drops them (the slot is reused) or queues them; UdpFlush() sends the queue with sendmmsg (at the end of every
  // batch of reads, and whenever kUdpQueue datagrams wait).
  static constexpr size_t kUdpSlot = proto::kUdpMaxDatagram + 1;  // +1: an oversized datagram shows as one
  static constexpr size_t kUdpQueue = 32;
  uint8_t* UdpSlot() { return udp_buf_.data() + udp_out_n_ * kUdpSlot; }
  // One datagram `p`/`n` (p == UdpSlot()) from `from`, read on the WAN socket or the node one.
  void OnUdpData(bool wan_socket, const Endpoint& from, uint8_t* p, size_t n);
  void UdpFlush();
  void UdpDrop(uint64_t* counter, const char* why, const Endpoint& from);

  // --- resume.cc (docs/outage.md)
  // Called once the relay is ESTABLISHED: decides resumability, registers the relay id.
  void SetupResume(uint32_t slot);
  // Leg 1 of a resumable relay was lost: close it, keep the node side, wait for / start a RESUME. Non-resumable
  // relays are reset.
  void Suspend(uint32_t slot, const char* why);
  void StartResume(uint32_t slot);                // home router: dial a new leg 1 and send RESUME
  void OnResumeEvent(uint32_t slot, uint32_t events);  // RESUMING, event on the new leg 1
  void ResumeFailed(uint32_t slot, const char* why);   // back to SUSPENDED, retry later
  // Peer router: a RESUME arrived as the first message of a WAN connection held in relay slot `slot`.
  void AdoptResume(uint32_t slot, const proto::ResumeMsg& m);
  // Direction 1 - leg1 of a resumable relay: spill -> ring, node socket -> ring (or spill while suspended),
  // ring -> leg 1, EOF. Returns false if the relay was freed.
  bool PumpRing(uint32_t slot);
  void OnAck(uint32_t li, const proto::AckMsg& m);
  void OnRelayReset(uint32_t li, const proto::RelayResetMsg& m);
  void NoteRead(uint32_t slot, size_t n, bool eof);  // bytes read from leg 1 (receive side), schedules an ACK
  void FlushAcks(bool all);  // sends due ACKs (all: every relay with progress), end of a loop batch / tick
  void SendAck(uint32_t slot, uint8_t flags);
  void ResumeTick();         // deadlines, orphans, due RESUMEs
  void OnLinkUp(uint32_t li);
  void OnLinkDown(uint32_t li);
  bool Finished(const Relay& r) const;  // both directions ended and everything we sent into leg 1 acknowledged
  int LinkOfSiteIndex(int site_index) const;
  uint32_t RelayBySlotId(uint64_t id) const;  // slot of a live resumable relay, or kMaxSlots
  std::string Chaos(const std::string& verb, const std::string& site, int64_t ms);
  bool LinkCut(uint32_t li) const { return links_[li].cut_until_ms != 0 && now_ms_ < links_[li].cut_until_ms; }

  // --- seal.cc (sealed legs 1, docs/protocol.md section 11)
  bool sealed() const { return opt_.secret.has_value(); }
  uint8_t* GetSealBuf();
  void PutSealBuf(uint8_t*& b);
  void ReleaseSeal(LegSeal& s);  // buffers back, keys wiped
  // Home router: keys for a new leg 1 of relay `slot` from its link's session, and the LEG_OPEN carrying `first`
  // (a 32-byte CONN_HEADER or RESUME) written to fd[leg1]. False with *err (errno; EHOSTUNREACH: no link session).
  bool SendLegOpen(uint32_t slot, const uint8_t first[32], int* err);
  // Peer router: a LEG_OPEN arrived as the first message of relay slot `slot`.
  void AdoptLegOpen(uint32_t slot, const proto::LegOpenMsg& m);
  // One small message as one record on `fd`; false unless wholly written.
  static bool SendSealedSmall(int fd, crypto::Cipher& tx, const uint8_t* msg, size_t n);
  // Reads one record of `plain_len` plaintext bytes from fd[side] into r.buf (accumulating in r.have); 1 when
  // opened (plaintext at r.buf[0, plain_len)), 0 for more, -1 on EOF/error/forgery with *why.
  int ReadSealedSmall(uint32_t slot, int side, size_t plain_len, const char** why);
  // Ring -> records -> leg 1 (PumpRing step 3); queues the end-of-stream record when `close_due` and the ring is
  // empty. Returns false if the relay was suspended or freed; *sink_full when the socket took less than offered.
  bool SealedSend(uint32_t slot, bool close_due, bool* progress, bool* sink_full);
  // Leg 1 -> open records -> the direction's pipe (Pump for direction leg1). True if the socket filled the whole
  // read (there may be more); false when drained, blocked by a full pipe, at EOF, or after Suspend/Reset.
  bool SealedRecv(uint32_t slot);

  // --- links.cc
  void InitLinks();
  // Responder: LINK_INIT arrived as the first message of relay slot `slot` (`raw`: its bytes, for the prologue).
  void AdoptLinkInit(uint32_t slot, const proto::LinkInitMsg& m, const uint8_t* raw, size_t raw_len);
  void ConfirmLink(uint32_t slot);  // responder: the initiator's first record on a pending link
  void LinkSessionUp(uint32_t li);  // derive datagram keys, reset leg counters
  void LinkMessages(uint32_t li);   // parse plaintext messages in Link::msg
  // `extra`/`n`: bytes read behind the HELLO, processed as if received next.
  void AdoptLink(uint32_t slot, const proto::HelloMsg& m, const uint8_t* extra, size_t n);
  void LinkInput(uint32_t li, const uint8_t* p, size_t n);
  void Dial(uint32_t li);
  void OnLinkEvent(uint32_t li, uint32_t events);
  void LinkDown(uint32_t li, const char* why);

  // --- legpool.cc (legs 1 dialled ahead, docs/performance.md "Leg pool")
  int TakePooledLeg(uint32_t li);    // a live pooled socket (caller owns it) or -1; queues a refill
  void RefillLegPools();             // after an epoll batch: dial what the queued pools miss
  void ExpireLegPools();             // tick: close pooled sockets older than PoolMaxAgeMs()
  void DropLegPool(uint32_t li);     // link down, shutdown
  int64_t PoolMaxAgeMs() const;
  std::vector<uint32_t> refill_;     // links whose pool wants sockets
  void LinkSend(uint32_t li, const uint8_t* p, size_t n);
  void LinkQueue(uint32_t li, const uint8_t* p, size_t n);  // like LinkSend, flushed by the next LinkFlush
  void LinkFlush(uint32_t li);
  void LinkHandle(uint32_t li, proto::MsgType t, const uint8_t* p, size_t n);
  void SendHello(uint32_t li);
  void SendAllLeases(uint32_t li);
  void Broadcast(const uint8_t* p, size_t n);  // to every link that is up
  void LinkTick();
  std::string HelloError(const proto::HelloMsg& m, int* link_index) const;

  // --- control.cc
  Status OpenControl();
  void CloseControl();
  void OnControlAccept();
  void OnControlEvent(uint32_t idx, uint32_t events);
  void EndControl(uint32_t idx);
  void ControlTimeouts();
  Snapshot TakeSnapshot() const;

  Options opt_;
  const routes::Site* self_ = nullptr;
  int self_index_ = 0;
  EventLoop loop_;
  PipePool pipes_{256};
  LeaseDb leases_;
  sysio::Fd node_listen_, wan_listen_, udp_, control_;
  sysio::Fd wan_udp_;             // UDP on the peer endpoint (invalid when it equals the node endpoint)
  std::vector<uint8_t> udp_buf_;       // kUdpQueue slots of kUdpSlot bytes (sized once in InitUdp)
  std::vector<mmsghdr> udp_msgs_;      // queued datagram i: udp_msgs_[i] -> udp_iov_[i], udp_to_[i]
  std::vector<iovec> udp_iov_;
  std::vector<sockaddr_in> udp_to_;
  std::vector<int> udp_fd_;            // the socket datagram i leaves by
  size_t udp_out_n_ = 0;               // queued datagrams
  UdpStats udp_stats_;
  std::string control_path_;
  bool control_bound_ = false;
  Slots<Relay> relays_;
  Slots<Reg> regs_;
  Slots<StatusConn> controls_;
  std::vector<Link> links_;
  std::unordered_map<uint64_t, LookupEntry> lookups_;
  std::deque<std::pair<int64_t, uint64_t>> lookup_expiry_;  // (expires, key), in time order
  uint64_t next_relay_id_ = 1;
  int64_t now_ms_ = 0;
  int64_t last_second_ms_ = 0;
  bool stop_ = false;
  bool bulk_seen_ = false;  // a relay direction in bulk mode moved data during the current epoll batch

  // Outage tolerance (resume.cc).
  std::unordered_map<uint64_t, uint32_t> by_id_;          // relay id -> slot, resumable relays
  std::vector<std::pair<uint32_t, uint32_t>> ack_dirty_;  // (slot, gen) with unreported leg-1 progress
  size_t ring_extra_ = 0;                                 // ring bytes beyond kRingMin, all relays
  uint64_t spill_bytes_ = 0;                              // pending in all spill files
  RecoveryStats recovery_;
  std::vector<uint8_t> scratch_;                          // spill staging, 64 KiB, allocated once

  std::vector<uint8_t*> seal_bufs_;  // idle kSealBuf buffers (seal.cc)
  // Node side (docs/security.md): the node key (with a secret) and what was seen of REGISTERs and hop-0 headers.
  uint8_t node_key_[32] = {};
  ReplayCache seen_registers_, seen_headers_;
  std::unordered_map<Ip4, uint32_t> unidentified_per_src_;  // ACCEPTED connections per source address
  std::deque<std::pair<uint32_t, uint32_t>> unidentified_;  // (slot, gen) of ACCEPTED relays, oldest first
  sysio::Fd spare_fd_;  // kept free so that accept can shed a connection when out of descriptors
  int64_t last_accept_warn_ms_ = 0;
};

}  // namespace uvpn::router
