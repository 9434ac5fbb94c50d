// Accepted connections and relays: the state machine of router_impl.h and splice() data movement.
//
// Theory of operation: every TCP connection accepted on the node or WAN listener starts as a relay slot in
// state ACCEPTED and reads its first message at once (the listeners defer accept until data arrives): one
// recv of up to a CONN_HEADER's 32 bytes, then exactly the rest of a longer message, so that bytes behind a
// header stay in the socket for splice (bytes read behind a shorter REGISTER or HELLO are handed on with it).
// A REGISTER or HELLO hands the fd over to nodes.cc / links.cc; a CONN_HEADER starts a relay. The dialled
// leg's header is written right after connect() without waiting for EPOLLOUT: on a near network the handshake
// has usually completed inside connect(), which saves one wakeup per hop; EAGAIN falls back to waiting.
// Set-up failures answer with a STATUS (leg 1 always, leg 0 only if WANT_STATUS) and close -- leg 0 with a
// RST so that a program that did not wait for STATUS sees ECONNRESET.
//
// Data movement (ESTABLISHED), per direction d (side d -> side 1-d): on readability of side d, one splice
// from the socket into the direction's pipe and one from the pipe into the other socket. Bytes left in the
// pipe mean the sink is full: the source loses EPOLLIN and the sink gains EPOLLOUT until the pipe drains.
// epoll_ctl is called only when that interest changes, so the steady state costs two splices per readiness
// event and nothing else. A direction that keeps bringing data while the other way is silent is in bulk
// mode; the loop then coalesces (router.cc, Options::coalesce_us) so that each wakeup moves more bytes. EOF
// on a source becomes shutdown(SHUT_WR) on the sink once its pipe is empty; both directions shut -> close.
// Socket errors reset the other side (SO_LINGER 0).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "proto/auth.h"
#include "router/router_impl.h"
#include "sysio/net.h"

namespace uvpn::router {
namespace {

using proto::WireCode;

constexpr int kAcceptBatch = 64;

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}


bool SendSmall(int fd, const uint8_t* p, size_t n) {
  ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  return w == static_cast<ssize_t>(n);
}

const char* CodeName(WireCode c) {
  switch (c) {
    case WireCode::kOk:
      return "ok";
    case WireCode::kConnRefused:
      return "ECONNREFUSED";
    case WireCode::kHostUnreach:
      return "EHOSTUNREACH";
    case WireCode::kNetUnreach:
      return "ENETUNREACH";
    case WireCode::kTimedOut:
      return "ETIMEDOUT";
    case WireCode::kConnReset:
      return "ECONNRESET";
    case WireCode::kAccess:
      return "EACCES";
    case WireCode::kProto:
      return "EPROTO";
  }
  return "?";
}

bool AcceptsNodes(Kind k) {
  return k == Kind::kNodeListen || k == Kind::kBothListen;
}
bool AcceptsRouters(Kind k) {
  return k == Kind::kWanListen || k == Kind::kBothListen;
}

}  // namespace

// After data was read from a node's socket: acknowledge at once. An application that writes less than a
// segment at a time with Nagle on (iperf3 -l 1000, most programs) sends its next partial segment only when the
// previous one is acknowledged; a delayed ACK from this router then paces it (1000-byte writes: 545 Mbit/s with
// delayed ACKs, 1300 with quick ACKs; docs/performance.md "Quick ACKs"). The kernel leaves quick-ACK mode on
// its own, so it is set again after each read -- but only after a small read (kQuickAckBelow): a sender that is
// ACK-paced has little queued each time, while a bulk sender's reads are large and an ACK per segment would only
// cost both ends CPU (128 KiB writes: 0.54 -> 0.43 of kernel routing when every read set it). Sockets between
// routers need none: routers send with NODELAY.
void QuickAck(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

void CloseRst(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

Result<sysio::Fd> ConnectFrom(Ip4 src, const Endpoint& dst, bool* in_progress) {
  sysio::Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::Errno(errno, "socket");
  if (src != 0) {
    int one = 1;
    setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in sa = sysio::ToSockaddr({src, 0});
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      return Status::Errno(errno, "bind " + FormatIp4(src));
  }
  SetNoDelay(fd.get());
  sockaddr_in sa = sysio::ToSockaddr(dst);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    *in_progress = false;
  } else if (errno == EINPROGRESS) {
    *in_progress = true;
  } else {
    return Status::Errno(errno, "connect " + FormatEndpoint(dst));
  }
  return fd;
}

void Router::OnAccept(Kind listener, int lfd) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    int fd = accept4(lfd, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if ((errno == EMFILE || errno == ENFILE) && ShedUnidentified(1) > 0) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        if (now_ms_ - last_accept_warn_ms_ >= 1000) {
          last_accept_warn_ms_ = now_ms_;
          LOG_WARN("accept: %s (%u relays); refusing new connections", strerror(errno), RelayCount());
        }
        // Level-triggered: the pending connection would wake us forever. Use the spare fd to take it and
        // reset it.
        if (spare_fd_.valid()) {
          spare_fd_.Reset();
          CloseRst(accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC));
          spare_fd_.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
        }
      }
      return;
    }
    Endpoint from = sysio::FromSockaddr(sa);
    if (unidentified_per_src_[from.ip] >= static_cast<uint32_t>(opt_.max_unidentified_per_source) &&
        !ShedOldestFrom(from.ip)) {
      // A flood or slowloris from one address may not hold more half-open connections (docs/security.md). The
      // oldest of them gives way, not the newcomer: a router's or node's real first message is there at accept
      // (TCP_DEFER_ACCEPT) and identifies the connection at once, so legitimate traffic from a shared address
      // (a peer router's head node, a NAT) is never refused by someone else's flood.
      CloseRst(fd);
      continue;
    }
    uint32_t& pending = unidentified_per_src_[from.ip];
    uint32_t slot = relays_.Alloc();
    if (slot == kMaxSlots) {
      if (pending == 0) unidentified_per_src_.erase(from.ip);
      CloseRst(fd);
      continue;
    }
    ++pending;
    Relay& r = relays_[slot];
    r.listener = listener;
    r.fd[0] = fd;
    r.peer = from;
    r.unid_counted = true;
    r.started_ms = now_ms_;
    r.deadline_ms = now_ms_ + opt_.header_timeout_ms;
    unidentified_.emplace_back(slot, relays_.Gen(slot));
    // TCP_NODELAY is inherited from the listener (router.cc), so no setsockopt here.
    if (AcceptsNodes(listener)) {
      uint64_t key = LookupKey(r.peer.ip, r.peer.port, self_->node.port);
      r.lookup_key[0] = key;
      lookups_[key] = LookupEntry{slot, relays_.Gen(slot), true};
    }
    SetEvents(slot, 0, EPOLLIN);
    // The listeners use TCP_DEFER_ACCEPT: the first message is normally there already, so read it now rather
    // than one epoll round later.
    ReadFirst(slot);
  }
}

int Router::HandOver(uint32_t slot) {
  Relay& r = relays_[slot];
  int fd = r.fd[0];
  if (r.lookup_key[0]) lookups_.erase(r.lookup_key[0]);
  r.lookup_key[0] = 0;
  r.fd[0] = -1;
  r.in_epoll[0] = false;
  Unaccount(r);
  if (r.seal.on) ReleaseSeal(r.seal);
  r.seal.on = false;
  r.plink.reset();
  relays_.Free(slot);
  return fd;
}

void Router::Drop(uint32_t slot, const char* why) {
  Relay& r = relays_[slot];
  LOG_WARN("%s: %s; connection closed", FormatEndpoint(r.peer).c_str(), why);
  FreeRelay(slot, proto::RelayState::kFailed, WireCode::kProto);
}

void Router::ReadFirst(uint32_t slot) {
  Relay& r = relays_[slot];
  size_t total = proto::kPrefixSize;
  proto::MsgType type = proto::MsgType::kConnHeader;
  // Re-entered on every readiness event: a prefix read earlier already passed PeekPrefix, so it gives the
  // total.
  if (r.have >= proto::kPrefixSize && proto::PeekPrefix(r.buf, r.have, &type, &total) != proto::Parse::kOk)
    return Drop(slot, "bad message prefix");
  for (;;) {
    // Until the prefix is known, ask for a whole CONN_HEADER (the common first message: one recv instead of
    // two); after it, exactly the rest of the message. A CONN_HEADER is never followed by surplus bytes in
    // `buf` (32 is its exact size), so relayed bytes behind it stay in the socket for splice; a shorter
    // REGISTER or HELLO may be, and its surplus is handed on to the registration or the link.
    size_t want = (r.have < proto::kPrefixSize ? proto::kConnHeaderSize : total) - r.have;
    if (r.have >= proto::kPrefixSize && total <= r.have) want = 0;
    if (want == 0 || r.have + want > sizeof r.buf) return Drop(slot, "internal: bad first-message length");
    ssize_t n = recv(r.fd[0], r.buf + r.have, want, 0);
    if (n == 0) {
      if (r.have == 0) {
        LOG_DEBUG("%s: closed without a message", FormatEndpoint(r.peer).c_str());
        FreeRelay(slot, proto::RelayState::kFailed, WireCode::kProto);
      } else {
        Drop(slot, "truncated first message");
      }
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      Drop(slot, strerror(errno));
      return;
    }
    r.have = static_cast<uint8_t>(r.have + n);
    proto::Parse p = proto::PeekPrefix(r.buf, r.have, &type, &total);
    if (p == proto::Parse::kBad) return Drop(slot, "bad message prefix (garbage, unknown type or length)");
    if (p == proto::Parse::kNeedMore) continue;
    bool ok_type = type == proto::MsgType::kConnHeader ||
                   (type == proto::MsgType::kRegister && AcceptsNodes(r.listener)) ||
                   ((type == proto::MsgType::kHello || type == proto::MsgType::kResume ||
                     type == proto::MsgType::kLinkInit || type == proto::MsgType::kLegOpen) &&
                    AcceptsRouters(r.listener));
    if (ok_type && sealed() && (type == proto::MsgType::kHello || type == proto::MsgType::kResume))
      return Drop(slot, "plaintext router message refused: this router requires the sealed protocol");
    if (ok_type && !sealed() && (type == proto::MsgType::kLinkInit || type == proto::MsgType::kLegOpen))
      return Drop(slot, "sealed router message refused: this router runs --insecure-plaintext");
    if (!ok_type) {
      char why[64];
      snprintf(why, sizeof why, "unexpected message type %u as first message", static_cast<unsigned>(type));
      return Drop(slot, why);
    }
    if (r.have < total) continue;

    size_t used = 0;
    if (type != proto::MsgType::kLinkInit) Unaccount(r);
    switch (type) {
      case proto::MsgType::kConnHeader: {
        if (r.have != total || proto::Decode(r.buf, r.have, &r.hdr, &used) != proto::Parse::kOk)
          return Drop(slot, "bad CONN_HEADER");
        if (r.hdr.hop == proto::Hop::kHomeToPeer && sealed() && AcceptsRouters(r.listener))
          return Drop(slot, "plaintext router message refused: this router requires the sealed protocol");
        bool hop_ok = (r.hdr.hop == proto::Hop::kNodeToHome && AcceptsNodes(r.listener)) ||
                      (r.hdr.hop == proto::Hop::kHomeToPeer && AcceptsRouters(r.listener) && !sealed());
        if (!hop_ok) {
          char why[64];
          snprintf(why, sizeof why, "CONN_HEADER with hop %u not allowed on this listener",
                   static_cast<unsigned>(r.hdr.hop));
          return Drop(slot, why);
        }
        return StartRelay(slot);
      }
      case proto::MsgType::kRegister: {
        proto::RegisterMsg m;
        if (proto::Decode(r.buf, total, &m, &used) != proto::Parse::kOk) return Drop(slot, "bad REGISTER");
        if (sealed()) {
          if (std::string why = RegisterAuthError(m, r.buf, total); !why.empty()) {
            proto::RegisterErrMsg e;
            e.code = WireCode::kAccess;
            e.text_len = static_cast<uint8_t>(std::min(why.size(), proto::kMaxErrText));
            memcpy(e.text, why.data(), e.text_len);
            uint8_t b[12 + proto::kMaxErrText];
            SendSmall(r.fd[0], b, proto::Encode(e, b, sizeof b));
            return Drop(slot, why.c_str());
          }
        }
        return AdoptRegistration(slot, m, r.buf + total, r.have - total);
      }
      case proto::MsgType::kHello: {
        proto::HelloMsg m;
        if (proto::Decode(r.buf, total, &m, &used) != proto::Parse::kOk) return Drop(slot, "bad HELLO");
        return AdoptLink(slot, m, r.buf + total, r.have - total);
      }
      case proto::MsgType::kLinkInit: {
        proto::LinkInitMsg m;
        if (r.have != total || proto::Decode(r.buf, total, &m, &used) != proto::Parse::kOk)
          return Drop(slot, "bad LINK_INIT");
        return AdoptLinkInit(slot, m, r.buf, total);
      }
      case proto::MsgType::kLegOpen: {
        proto::LegOpenMsg m;
        if (r.have != total || proto::Decode(r.buf, total, &m, &used) != proto::Parse::kOk)
          return Drop(slot, "bad LEG_OPEN");
        return AdoptLegOpen(slot, m);
      }
      case proto::MsgType::kResume: {
        proto::ResumeMsg m;
        // The home router waits for RESUME_OK before it sends anything more: surplus bytes are a violation.
        if (r.have != total || proto::Decode(r.buf, total, &m, &used) != proto::Parse::kOk)
          return Drop(slot, "bad RESUME");
        return AdoptResume(slot, m);
      }
      default:
        return Drop(slot, "unexpected message");
    }
  }
}

void Router::StartRelay(uint32_t slot) {
  Relay& r = relays_[slot];
  Endpoint target;
  if (r.hdr.hop == proto::Hop::kNodeToHome) {
    r.want_status = (r.hdr.flags & proto::kFlagWantStatus) != 0;
    r.hdr.flags = 0;
    r.id = (static_cast<uint64_t>(self_index_ + 1) << 48) | next_relay_id_++;
    r.hdr.relay_id = r.id;
    r.role = Role::kHomeLocal;  // until the destination's site is known (Fail needs a home role)
    const Lease* src = leases_.ByReal(r.peer.ip);
    r.hdr.src_vip = src ? src->vip : 0;
    r.hdr.src_port = r.peer.port;
    if (auto it = lookups_.find(r.lookup_key[0]); it != lookups_.end()) {
      it->second.local = {r.hdr.src_vip, r.hdr.src_port};
      it->second.peer = {r.hdr.dst_vip, r.hdr.dst_port};
    }
    if (!src) return Fail(slot, WireCode::kAccess, "source address has no lease");
    if (sealed()) {
      if (std::string why = HeaderAuthError(slot, *src); !why.empty()) return Fail(slot, WireCode::kAccess, why.c_str());
    }
    const routes::Site* site = nullptr;
    if (opt_.table.network.contains(r.hdr.dst_vip)) {
      for (const auto& s : opt_.table.sites)
        if (s.subnet.contains(r.hdr.dst_vip)) site = &s;
    }
    if (!site) return Fail(slot, WireCode::kHostUnreach, "destination is in no site's subnet");
    if (site == self_) {
      const Lease* dst = leases_.ByVip(r.hdr.dst_vip);
      if (!dst) return Fail(slot, WireCode::kHostUnreach, "destination has no lease");
      target = {dst->real, r.hdr.dst_port};
      r.hdr.hop = proto::Hop::kRouterToDest;
    } else {
      r.role = Role::kHomeRemote;
      target = site->peer;
      r.hdr.hop = proto::Hop::kHomeToPeer;
      r.link = static_cast<uint32_t>(LinkOfSiteIndex(static_cast<int>(site - opt_.table.sites.data())));
      if (LinkCut(r.link)) return Fail(slot, WireCode::kHostUnreach, "link cut by uvpn chaos");
      if (sealed() && (links_[r.link].state != LinkState::kUp || !links_[r.link].sealed))
        return Fail(slot, WireCode::kHostUnreach, "no link to the destination's site");
      // A sealed leg always sends through the replay ring (seal.cc); --no-resume then only means that a lost
      // leg resets the relay (Suspend).
      if (opt_.resume || sealed()) {
        r.resumable = true;
        r.leg1 = 1;
        r.hdr.flags = proto::kFlagResumable;
      }
    }
  } else {
    r.role = Role::kPeer;
    r.id = r.hdr.relay_id;
    int li = LinkOfSiteIndex(static_cast<int>(r.id >> 48) - 1);
    if (li < 0) return Drop(slot, "relay id names no other site");
    if (r.seal.on && static_cast<uint32_t>(li) != r.link) return Drop(slot, "relay id of another site than the leg's link");
    if (LinkCut(static_cast<uint32_t>(li))) return Drop(slot, "link cut by uvpn chaos");
    r.link = static_cast<uint32_t>(li);
    if (r.hdr.flags & proto::kFlagResumable) {
      r.resumable = true;
      r.leg1 = 0;
    }
    r.hdr.flags = 0;
    if (!self_->subnet.contains(r.hdr.dst_vip))
      return Fail(slot, WireCode::kHostUnreach, "destination is not in this site's subnet");
    const Lease* dst = leases_.ByVip(r.hdr.dst_vip);
    if (!dst) return Fail(slot, WireCode::kHostUnreach, "destination has no lease");
    target = {dst->real, r.hdr.dst_port};
    r.hdr.hop = proto::Hop::kRouterToDest;
  }

  bool in_progress = false;
  Ip4 src_ip = r.role == Role::kHomeRemote ? self_->peer.ip : self_->node.ip;
  int pooled = r.role == Role::kHomeRemote ? TakePooledLeg(r.link) : -1;  // legpool.cc
  if (pooled >= 0) {
    r.fd[1] = pooled;
  } else {
    auto c = ConnectFrom(src_ip, target, &in_progress);
    if (!c && (c.error().code() == EMFILE || c.error().code() == ENFILE) && ShedUnidentified(1, slot) > 0)
      c = ConnectFrom(src_ip, target, &in_progress);  // (this relay is still ACCEPTED: never shed itself)
    if (!c) {
      WireCode code =
          r.role == Role::kHomeRemote ? WireCode::kHostUnreach : proto::ErrnoToWireCode(c.error().code());
      return Fail(slot, code, c.error().message().c_str());
    }
    r.fd[1] = c->Release();
  }
  if (r.role != Role::kHomeRemote) {
    // Leg 2: the destination's shim may ask about this connection by its real 4-tuple.
    if (auto local = sysio::LocalEndpoint(r.fd[1])) {
      uint64_t key = LookupKey(target.ip, target.port, local->port);
      r.lookup_key[1] = key;
      LookupEntry e{slot, relays_.Gen(slot), true};
      e.local = {r.hdr.dst_vip, r.hdr.dst_port};
      e.peer = {r.hdr.src_vip, r.hdr.src_port};
      lookups_[key] = e;
    }
  }
  r.state = RState::kConnecting;
  r.have = 0;
  r.deadline_ms = now_ms_ + opt_.connect_timeout_ms;
  LOG_DEBUG("relay %016llx %s:%u -> %s:%u: connecting to %s", static_cast<unsigned long long>(r.id),
            FormatIp4(r.hdr.src_vip).c_str(), r.hdr.src_port, FormatIp4(r.hdr.dst_vip).c_str(),
            r.hdr.dst_port, FormatEndpoint(target).c_str());
  // Write the header at once, without waiting for a connect-completion event: when the far end is near (a
  // LAN or a local namespace) the handshake has usually completed inside connect() already, which saves one
  // wakeup of this router per connection. A socket still connecting answers EAGAIN (no byte queued); then
  // wait for EPOLLOUT as usual. An error here is the connect's own result (e.g. ECONNREFUSED).
  if (in_progress) {
    int err = 0;
    if (!SendHeader(slot, &err)) {
      if (err == EAGAIN || err == EWOULDBLOCK) {
        SetEvents(slot, 0, 0);  // errors and hang-ups only while setting up
        SetEvents(slot, 1, EPOLLOUT);
        return;
      }
      WireCode code = r.role == Role::kHomeRemote ? WireCode::kHostUnreach : proto::ErrnoToWireCode(err);
      return Fail(slot, code, strerror(err));
    }
  } else if (int err = 0; !SendHeader(slot, &err)) {
    if (pooled < 0) return Fail(slot, WireCode::kConnReset, "writing the header failed");
    // The pooled leg died between its check and this write: dial one as if the pool had been empty.
    close(r.fd[1]);
    r.fd[1] = -1;
    auto c = ConnectFrom(src_ip, target, &in_progress);
    if (!c) return Fail(slot, WireCode::kHostUnreach, c.error().message().c_str());
    r.fd[1] = c->Release();
    if (!SendHeader(slot, &err)) {
      if (in_progress && (err == EAGAIN || err == EWOULDBLOCK)) {
        SetEvents(slot, 0, 0);
        SetEvents(slot, 1, EPOLLOUT);
        return;
      }
      return Fail(slot, WireCode::kHostUnreach, strerror(err));
    }
  }
  return HeaderSent(slot);
}

bool Router::SendHeader(uint32_t slot, int* err) {
  Relay& r = relays_[slot];
  uint8_t b[proto::kConnHeaderAuthSize];
  size_t n = proto::Encode(r.hdr, b, sizeof b);
  if (r.role == Role::kHomeRemote && sealed()) return SendLegOpen(slot, b, err);
  if (sealed()) {
    // Hop 2: signed with the destination's lease key, so its shim accepts only headers this router wrote.
    const Lease* dst = leases_.ByVip(r.hdr.dst_vip);
    if (!dst) {
      *err = EHOSTUNREACH;
      return false;
    }
    n = proto::EncodeSignedHeader(r.hdr, dst->key, b);
  }
  ssize_t w = send(r.fd[1], b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w == static_cast<ssize_t>(n)) return true;
  *err = w < 0 ? errno : EPIPE;  // a partial write of 32 bytes into a fresh socket does not happen
  return false;
}

void Router::OnConnected(uint32_t slot) {
  if (int err = 0; !SendHeader(slot, &err)) return Fail(slot, WireCode::kConnReset, "writing the header failed");
  HeaderSent(slot);
}

void Router::HeaderSent(uint32_t slot) {
  Relay& r = relays_[slot];
  if (r.role == Role::kHomeRemote) {
    r.state = RState::kAwaitStatus;
    r.have = 0;
    SetEvents(slot, 0, 0);  // errors and hang-ups only while setting up
    SetEvents(slot, 1, EPOLLIN);
    return;
  }
  if (r.role == Role::kPeer || r.want_status) {
    if (!SendStatusOn(slot, WireCode::kOk)) return Reset(slot, "writing STATUS failed");
  }
  Establish(slot);
}

void Router::ReadStatus(uint32_t slot) {
  Relay& r = relays_[slot];
  if (r.seal.on) {
    const char* why = "";
    int got = ReadSealedSmall(slot, 1, proto::kStatusSize, &why);
    if (got == 0) return;
    if (got < 0) return Fail(slot, WireCode::kConnReset, (std::string("leg 1 before STATUS: ") + why).c_str());
    r.have = proto::kStatusSize;
    return StatusRead(slot);
  }
  ssize_t n = recv(r.fd[1], r.buf + r.have, proto::kStatusSize - r.have, 0);
  if (n == 0) return Fail(slot, WireCode::kConnReset, "peer router closed leg 1 before STATUS");
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    return Fail(slot, WireCode::kConnReset, strerror(errno));
  }
  r.have = static_cast<uint8_t>(r.have + n);
  if (r.have < proto::kStatusSize) return;
  StatusRead(slot);
}

void Router::StatusRead(uint32_t slot) {
  Relay& r = relays_[slot];
  proto::StatusMsg m;
  size_t used;
  if (proto::Decode(r.buf, r.have, &m, &used) != proto::Parse::kOk)
    return Fail(slot, WireCode::kProto, "bad STATUS from peer router");
  if (m.code != WireCode::kOk) return Fail(slot, m.code, "peer router reports failure");
  if (r.want_status && !SendStatusOn(slot, WireCode::kOk)) return Reset(slot, "writing STATUS failed");
  Establish(slot);
}

void Router::Establish(uint32_t slot) {
  Relay& r = relays_[slot];
  r.state = RState::kEstablished;
  r.have = 0;
  if (r.resumable) SetupResume(slot);
  LOG_DEBUG("relay %016llx %s:%u -> %s:%u established", static_cast<unsigned long long>(r.id),
            FormatIp4(r.hdr.src_vip).c_str(), r.hdr.src_port, FormatIp4(r.hdr.dst_vip).c_str(),
            r.hdr.dst_port);
  UpdateInterest(slot);
}

void Router::Fail(uint32_t slot, WireCode code, const char* why) {
  Relay& r = relays_[slot];
  LOG_INFO("relay %016llx from %s %s:%u -> %s:%u failed: %s (%s)", static_cast<unsigned long long>(r.id),
           FormatEndpoint(r.peer).c_str(), FormatIp4(r.hdr.src_vip).c_str(), r.hdr.src_port,
           FormatIp4(r.hdr.dst_vip).c_str(), r.hdr.dst_port, CodeName(code), why);
  if (r.role == Role::kPeer) {
    SendStatusOn(slot, code);
    close(r.fd[0]);
  } else {
    if (r.want_status) SendStatusOn(slot, code);
    CloseRst(r.fd[0]);
  }
  r.fd[0] = -1;
  r.in_epoll[0] = false;
  FreeRelay(slot, proto::RelayState::kFailed, code);
}

void Router::Reset(uint32_t slot, const char* why) {
  Relay& r = relays_[slot];
  if (r.resumable && !r.quiet_reset && r.state >= RState::kEstablished && links_[r.link].state == LinkState::kUp) {
    uint8_t b[proto::kRelayResetSize];
    LinkSend(r.link, b, proto::Encode(proto::RelayResetMsg{r.id}, b, sizeof b));
  }
  LOG_DEBUG("relay %016llx reset: %s (fwd %llu rev %llu bytes)", static_cast<unsigned long long>(r.id), why,
            static_cast<unsigned long long>(r.dir[0].bytes), static_cast<unsigned long long>(r.dir[1].bytes));
  for (int s = 0; s < 2; ++s) {
    CloseRst(r.fd[s]);
    r.fd[s] = -1;
    r.in_epoll[s] = false;
  }
  bool est = r.state >= RState::kEstablished;
  FreeRelay(slot, est ? proto::RelayState::kClosed : proto::RelayState::kFailed, WireCode::kConnReset);
}

bool Router::SendStatusOn(uint32_t slot, WireCode code) {
  Relay& r = relays_[slot];
  uint8_t b[proto::kStatusSize];
  proto::Encode(proto::StatusMsg{code}, b, sizeof b);
  // Side 0 is leg 1 only at the peer router; the home router's side 0 is its node (never sealed).
  if (r.role == Role::kPeer && r.seal.on) return SendSealedSmall(r.fd[0], r.seal.tx, b, sizeof b);
  return SendSmall(r.fd[0], b, sizeof b);
}

void Router::Unaccount(Relay& r) {
  if (!r.unid_counted) return;
  r.unid_counted = false;
  auto it = unidentified_per_src_.find(r.peer.ip);
  if (it != unidentified_per_src_.end() && --it->second == 0) unidentified_per_src_.erase(it);
}

void Router::FreeRelay(uint32_t slot, proto::RelayState final_state, WireCode code) {
  Relay& r = relays_[slot];
  Unaccount(r);
  if (r.seal.on) {
    ReleaseSeal(r.seal);
    r.seal.on = false;
  }
  r.plink.reset();
  if (r.resumable) {
    if (auto it = by_id_.find(r.id); it != by_id_.end() && it->second == slot) by_id_.erase(it);
    if (r.ring.capacity() > kRingMin) ring_extra_ -= r.ring.capacity() - kRingMin;
    r.ring.Release();
    if (r.spill) {
      spill_bytes_ -= r.spill->pending();
      r.spill.reset();  // removes the file
    }
  }
  for (int s = 0; s < 2; ++s) {
    if (r.fd[s] >= 0) close(r.fd[s]);  // closing removes it from epoll
    r.fd[s] = -1;
    Dir& d = r.dir[s];
    if (d.pipe.valid()) {
      if (d.in_pipe == 0) {
        pipes_.Put(d.pipe);
      } else {
        PipePool::Close(d.pipe);
      }
      d.pipe = Pipe{};
    }
    if (r.lookup_key[s] == 0) continue;
    if (s == 1) {
      // Leg 2 (router -> destination node): once its socket is closed, anyone on the head node can bind the same
      // address and port and connect to the node again; a frozen answer would then lend that stranger the closed
      // relay's virtual addresses. Only a live entry identifies a leg 2 (docs/security.md).
      auto it = lookups_.find(r.lookup_key[s]);
      if (it != lookups_.end() && it->second.live && it->second.slot == slot) lookups_.erase(it);
    } else {
      FreezeLookup(r.lookup_key[s], final_state, code);  // leg 0: the client's SO_ERROR / getpeername after close
    }
  }
  relays_.Free(slot);
}

bool Router::ShedOldestFrom(Ip4 ip) {
  if (now_ms_ - last_accept_warn_ms_ >= 1000) {
    last_accept_warn_ms_ = now_ms_;
    LOG_WARN("%s: %d connections without a first message: the oldest are shed", FormatIp4(ip).c_str(),
             opt_.max_unidentified_per_source);
  }
  size_t scanned = 0;
  for (auto it = unidentified_.begin(); it != unidentified_.end() && scanned < 4096; ++it, ++scanned) {
    auto [slot, gen] = *it;
    if (!relays_.Live(slot, gen)) continue;
    Relay& r = relays_[slot];
    if (r.state != RState::kAccepted || !r.unid_counted || r.peer.ip != ip) continue;
    LOG_DEBUG("%s: shed (per-source limit of connections without a first message)", FormatEndpoint(r.peer).c_str());
    CloseRst(r.fd[0]);  // RST: nothing of an attacker's connection lingers here (no FIN_WAIT, no TIME_WAIT)
    r.fd[0] = -1;
    r.in_epoll[0] = false;
    FreeRelay(slot, proto::RelayState::kFailed, WireCode::kProto);
    return true;
  }
  return false;
}

int Router::ShedUnidentified(int n, uint32_t keep) {
  int shed = 0;
  while (shed < n && !unidentified_.empty()) {
    auto [slot, gen] = unidentified_.front();
    unidentified_.pop_front();
    if (!relays_.Live(slot, gen) || relays_[slot].state != RState::kAccepted || slot == keep) continue;
    Drop(slot, "out of file descriptors: oldest unidentified connection shed");
    ++shed;
  }
  return shed;
}

void Router::RelayTimeouts() {
  // Entries of connections that were identified or closed meanwhile; the front is never older than the header
  // timeout, so the queue holds at most the accepts of one header-timeout window.
  while (!unidentified_.empty()) {
    auto [slot, gen] = unidentified_.front();
    if (relays_.Live(slot, gen) && relays_[slot].state == RState::kAccepted) break;
    unidentified_.pop_front();
  }
  for (uint32_t i = 0; i < relays_.end(); ++i) {
    if (!relays_.InUse(i)) continue;
    Relay& r = relays_[i];
    // Set-up deadlines only: an established relay has none, a suspended or resuming one is timed by
    // ResumeTick (its deadline_ms is the RESUME_OK timeout, and a stale set-up value must not fail it).
    if (r.state >= RState::kEstablished || now_ms_ < r.deadline_ms) continue;
    if (r.state == RState::kAccepted) {
      Drop(i, "no complete first message within the header timeout");
    } else {
      Fail(i, WireCode::kTimedOut, "connect timeout");
    }
  }
}

// ---- relay events and data movement

void Router::OnRelayEvent(uint32_t slot, int side, uint32_t events) {
  Relay& r = relays_[slot];
  uint32_t gen = relays_.Gen(slot);
  switch (r.state) {
    case RState::kAccepted:
      if (r.plink) return ConfirmLink(slot);
      return ReadFirst(slot);
    case RState::kConnecting:
      if (side == 0) return Reset(slot, "client connection failed during set-up");
      if (int err = sysio::SocketError(r.fd[1]); err != 0) {
        WireCode code = r.role == Role::kHomeRemote ? WireCode::kHostUnreach : proto::ErrnoToWireCode(err);
        return Fail(slot, code, strerror(err));
      }
      if (events & (EPOLLERR | EPOLLHUP)) return Fail(slot, WireCode::kConnReset, "hang-up while connecting");
      return OnConnected(slot);
    case RState::kAwaitStatus:
      if (side == 0) return Reset(slot, "client connection failed during set-up");
      return ReadStatus(slot);
    case RState::kResuming:
      if (side == r.leg1) return OnResumeEvent(slot, events);
      break;
    case RState::kEstablished:
    case RState::kSuspended:
      break;
  }
  if (r.fd[side] < 0) return;  // an event of a leg 1 closed earlier in this batch (suspended)
  if (events & EPOLLERR) {
    int err = sysio::SocketError(r.fd[side]);
    if (side == r.leg1) return Suspend(slot, err ? strerror(err) : "socket error");
    return Reset(slot, err ? strerror(err) : "socket error");
  }
  if ((events & (EPOLLIN | EPOLLHUP)) && !r.dir[side].eof) {
    Pump(slot, side);
    if (!relays_.Live(slot, gen)) return;
  }
  if (events & EPOLLOUT) {
    Flush(slot, 1 - side);
    if (!relays_.Live(slot, gen)) return;
  }
  if ((events & EPOLLHUP) && r.dir[side].eof && !r.dir[1 - side].shut && r.dir[1 - side].in_pipe == 0) {
    // The socket is fully closed but we still owed it data or an EOF.
    if (side == r.leg1) return Suspend(slot, "hang-up of leg 1");
    return Reset(slot, "hang-up");
  }
  if (r.dir[0].shut && r.dir[1].shut) return MaybeFinish(slot);
  UpdateInterest(slot);
}

// Splices pipe -> sink. Returns false if the relay was reset.
static bool SpliceOut(Dir& d, int sink, bool* err) {
  ssize_t n = splice(d.pipe.r, nullptr, sink, nullptr, d.in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) {
    d.in_pipe -= static_cast<uint32_t>(n);
    d.bytes += static_cast<uint64_t>(n);
  } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
    *err = true;
    return false;
  }
  return true;
}

void Router::Pump(uint32_t slot, int d) {
  Relay& r = relays_[slot];
  Dir& dir = r.dir[d];
  if (r.resumable && d != r.leg1) {
    PumpRing(slot);
    return;
  }
  if (r.seal.on && d == r.leg1) {
    // One read moves at most kSealBuf (64 KiB) where a splice moves a pipeful: keep going while the socket has
    // more and the node takes it, so that a wakeup (and the bulk coalescing sleep after it) moves as much as the
    // plain path does.
    uint32_t gen = relays_.Gen(slot);
    for (int i = 0; i < 16; ++i) {
      bool more = SealedRecv(slot);
      if (!relays_.Live(slot, gen) || relays_[slot].state == RState::kSuspended) return;
      Flush(slot, d);
      if (!relays_.Live(slot, gen) || !more || relays_[slot].dir[d].in_pipe > 0) return;
    }
    return;
  }
  if (!dir.pipe.valid()) {
    dir.pipe = pipes_.Get();
    if (!dir.pipe.valid() && (errno == EMFILE || errno == ENFILE) && ShedUnidentified(2) > 0)
      dir.pipe = pipes_.Get();
    if (!dir.pipe.valid()) return Reset(slot, "no pipe (out of file descriptors?)");
  }
  uint32_t space = dir.pipe.cap - dir.in_pipe;
  if (space > 0) {
    ssize_t n = splice(r.fd[d], nullptr, dir.pipe.w, nullptr, space, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n >= 0 && r.resumable) NoteRead(slot, static_cast<size_t>(n), n == 0);  // d == leg1 here
    if (n > 0) {
      dir.in_pipe += static_cast<uint32_t>(n);
      if (n < static_cast<ssize_t>(kQuickAckBelow) &&
          (r.role == Role::kHomeLocal || (r.role == Role::kHomeRemote ? d == 0 : d == 1)))
        QuickAck(r.fd[d]);
      // Bulk detection (docs/performance.md): data keeps coming one way while the other way is silent.
      r.dir[1 - d].streak = 0;
      if (dir.streak < kBulkStreak) ++dir.streak;
      if (dir.streak >= kBulkStreak) bulk_seen_ = true;
    } else if (n == 0) {
      dir.eof = true;
    } else if (errno != EAGAIN && errno != EINTR) {
      if (d == r.leg1) {
        Suspend(slot, strerror(errno));
        if (relays_[slot].state != RState::kSuspended) return;  // (reset instead)
        return Flush(slot, d);  // bytes already read from leg 1 still go to the node
      }
      return Reset(slot, strerror(errno));
    }
  }
  Flush(slot, d);
}

void Router::Flush(uint32_t slot, int d) {
  Relay& r = relays_[slot];
  Dir& dir = r.dir[d];
  if (r.resumable && d != r.leg1) {
    PumpRing(slot);
    return;
  }
  if (dir.in_pipe > 0) {
    bool err = false;
    if (!SpliceOut(dir, r.fd[1 - d], &err)) return Reset(slot, strerror(errno));
  }
  if (dir.in_pipe == 0 && dir.pipe.valid()) {
    pipes_.Put(dir.pipe);
    dir.pipe = Pipe{};
  }
  if (dir.eof && dir.in_pipe == 0 && !dir.shut) {
    shutdown(r.fd[1 - d], SHUT_WR);
    dir.shut = true;
  }
}

void Router::UpdateInterest(uint32_t slot) {
  Relay& r = relays_[slot];
  if (r.resumable) {
    // Side `node` (1 - leg1) feeds the ring; the leg-1 side, when present and ESTABLISHED, drains it and feeds
    // the pipe of direction leg1, which drains into the node side.
    int leg = r.leg1, node = 1 - leg;
    bool up = r.state == RState::kEstablished && r.fd[leg] >= 0;
    Dir& out = r.dir[node];  // node -> leg 1
    Dir& in = r.dir[leg];    // leg 1 -> node
    bool suspended = r.state == RState::kSuspended || r.state == RState::kResuming;
    bool room = (!r.spill || r.spill->pending() == 0) && (r.ring.free_space() > 0 || !r.ring.valid() ||
                                                          r.ring.capacity() < opt_.replay_window);
    bool spill_room = suspended && spill_bytes_ < opt_.spill_quota;
    uint32_t node_ev = 0;
    if (!out.eof && (room || spill_room)) node_ev |= EPOLLIN;
    if (in.in_pipe > 0) node_ev |= EPOLLOUT;
    if (out.eof && in.shut) {
      DelFromEpoll(slot, node);
    } else {
      SetEvents(slot, node, node_ev);
    }
    if (up && in.eof && out.shut) {
      // Both FINs are through: nothing more to read or write on leg 1 (a fully shut socket would report
      // EPOLLHUP forever). The relay only waits for the peer's final ACK, which comes on the link.
      DelFromEpoll(slot, leg);
    } else if (up) {
      uint32_t leg_ev = 0;
      if (!in.eof && in.in_pipe == 0) leg_ev |= EPOLLIN;
      if (r.ring.unsent() > 0 || r.seal.tx_pending() ||
          (out.eof && !out.shut && (!r.spill || r.spill->pending() == 0)))
        leg_ev |= EPOLLOUT;
      SetEvents(slot, leg, leg_ev);
    }
    return;
  }
  for (int s = 0; s < 2; ++s) {
    if (r.dir[s].eof && r.dir[1 - s].shut) {
      DelFromEpoll(slot, s);  // nothing more to read from it or write to it
      continue;
    }
    uint32_t ev = 0;
    if (!r.dir[s].eof && r.dir[s].in_pipe == 0) ev |= EPOLLIN;
    if (r.dir[1 - s].in_pipe > 0) ev |= EPOLLOUT;
    SetEvents(slot, s, ev);
  }
}

void Router::MaybeFinish(uint32_t slot) {
  Relay& r = relays_[slot];
  if (!(r.dir[0].shut && r.dir[1].shut)) return;
  if (r.resumable && !Finished(r)) {  // wait for the peer's final ACK (bounded: ResumeTick)
    if (r.done_ms == 0) r.done_ms = now_ms_;
    return UpdateInterest(slot);
  }
  LOG_DEBUG("relay %016llx closed (fwd %llu rev %llu bytes)", static_cast<unsigned long long>(r.id),
            static_cast<unsigned long long>(r.dir[0].bytes), static_cast<unsigned long long>(r.dir[1].bytes));
  FreeRelay(slot, proto::RelayState::kClosed, WireCode::kOk);
}

}  // namespace uvpn::router
