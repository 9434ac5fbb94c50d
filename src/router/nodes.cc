// Node-facing control: registration connections (leases and heartbeats) and LOOKUP over UDP.
//
// Theory of operation: a connection on the node listener whose first message is REGISTER becomes a
// registration: it takes a reference on the lease of its real source address (leases.h), gets REGISTER_OK (or
// REGISTER_ERR and a close), and then only exchanges HEARTBEATs; the reference is dropped when the connection
// closes, misbehaves, or stays silent for 3 heartbeat intervals. A lease that appears or ends is announced to
// every router link.
//
// LOOKUP answers from `lookups_`, keyed by the real (node ip, node port, router port) of a node-facing relay
// connection: leg 0 on the home router, leg 2 on the destination's router. An entry follows its live relay
// and is frozen (failed with the code, or closed) for 60 s when the relay ends. Only the node itself may ask.
//
// RESOLVE / RESOLVE_ADDR (protocol.md section 8) share the UDP socket: they are answered at once from the
// session-wide node table (own leases first, then the nodes the links announced), without forwarding
// anything.
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "proto/auth.h"
#include "router/router_impl.h"
#include "sysio/net.h"

namespace uvpn::router {
namespace {
constexpr int64_t kLookupKeepMs = 60000;
constexpr int kUdpBatch = 64;

bool SameName(const std::string& a, const char* b, size_t n) {
  return a.size() == n && strncasecmp(a.data(), b, n) == 0;
}

// Answers a RESOLVE (name -> vip) or RESOLVE_ADDR (vip -> name) from the node table. `out` gets the reply.
size_t AnswerResolve(const Router& r, proto::MsgType t, const uint8_t* buf, size_t n, uint8_t* out,
                     size_t cap) {
  proto::ResolveReplyMsg rep;
  size_t used;
  auto fill = [&rep](Ip4 vip, const std::string& name) {
    rep.found = true;
    rep.vip = vip;
    rep.name_len = static_cast<uint8_t>(std::min(name.size(), proto::kMaxName));
    memcpy(rep.name, name.data(), rep.name_len);
  };
  if (t == proto::MsgType::kResolve) {
    proto::ResolveMsg q;
    if (proto::Decode(buf, n, &q, &used) != proto::Parse::kOk || used != n) return 0;
    rep.query_id = q.query_id;
    const Lease* best = nullptr;
    // Sorted() copies pointers: acceptable, name queries are rare and the nodes cache the answers.
    for (const Lease* l : r.leases_.Sorted()) {
      if (SameName(l->name, q.name, q.name_len)) {
        best = l;
        break;
      }
    }
    if (best != nullptr) {
      fill(best->vip, best->name);
    } else {
      for (const auto& [vip, node] : r.leases_.remotes()) {  // ordered by vip: the lowest wins
        if (SameName(node.name, q.name, q.name_len)) {
          fill(vip, node.name);
          break;
        }
      }
    }
    LOG_DEBUG("RESOLVE %.*s -> %s", static_cast<int>(q.name_len), q.name,
              rep.found ? FormatIp4(rep.vip).c_str() : "not found");
  } else {
    proto::ResolveAddrMsg q;
    if (proto::Decode(buf, n, &q, &used) != proto::Parse::kOk || used != n) return 0;
    rep.query_id = q.query_id;
    if (r.opt_.table.network.contains(q.vip)) {
      if (const Lease* l = r.leases_.ByVip(q.vip)) {
        fill(l->vip, l->name);
      } else {
        auto it = r.leases_.remotes().find(q.vip);
        if (it != r.leases_.remotes().end()) fill(it->first, it->second.name);
      }
    }
    LOG_DEBUG("RESOLVE_ADDR %s -> %.*s", FormatIp4(q.vip).c_str(),
              rep.found ? static_cast<int>(rep.name_len) : 9, rep.found ? rep.name : "not found");
  }
  return proto::Encode(rep, out, cap);
}

// Answers a HOSTS_LIST (protocol.md section 13): the nodes above after_vip, own leases and remote nodes merged by
// VIP, as many as fit one reply. `out` gets the reply (0: malformed request).
size_t AnswerHosts(const Router& r, const uint8_t* buf, size_t n, uint8_t* out, size_t cap) {
  proto::HostsListMsg q;
  size_t used;
  if (proto::Decode(buf, n, &q, &used) != proto::Parse::kOk || used != n) return 0;
  static proto::HostsReplyMsg rep;  // 12 KiB: not on the stack (single-threaded router)
  rep.query_id = q.query_id;
  rep.count = 0;
  rep.more = false;
  std::vector<const Lease*> own = r.leases_.Sorted();  // rare requests: a copy of pointers is fine
  auto li = std::lower_bound(own.begin(), own.end(), q.after_vip + 1ull,
                             [](const Lease* l, uint64_t v) { return l->vip < v; });
  auto ri = r.leases_.remotes().upper_bound(q.after_vip);
  auto re = r.leases_.remotes().end();
  size_t size = 16;
  while (li != own.end() || ri != re) {
    bool take_own = ri == re || (li != own.end() && (*li)->vip <= ri->first);
    Ip4 vip = take_own ? (*li)->vip : ri->first;
    const std::string& name = take_own ? (*li)->name : ri->second.name;
    if (take_own && ri != re && ri->first == vip) ++ri;  // one entry per VIP (a lease wins)
    if (take_own) ++li; else ++ri;
    if (rep.count == proto::kHostsMaxEntries) {
      rep.more = true;
      break;
    }
    proto::HostEntry& e = rep.entries[rep.count];
    e.vip = vip;
    e.home = take_own;
    e.name_len = static_cast<uint8_t>(std::min(name.size(), proto::kMaxName));
    memcpy(e.name, name.data(), e.name_len);
    if (!proto::ValidHostName(e.name, e.name_len)) continue;  // (names are checked at registration)
    if (size + proto::HostEntrySize(e) > proto::kHostsReplyMax) {
      rep.more = true;
      break;
    }
    size += proto::HostEntrySize(e);
    ++rep.count;
  }
  LOG_DEBUG("HOSTS_LIST after %s: %u entries%s", FormatIp4(q.after_vip).c_str(), rep.count, rep.more ? ", more" : "");
  return proto::Encode(rep, out, cap);
}
}  // namespace

namespace {
uint64_t Digest64(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over an authenticated identity (not a security boundary)
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
}  // namespace

std::string Router::RegisterAuthError(const proto::RegisterMsg& m, const uint8_t* raw, size_t total) {
  if (!m.auth) return "REGISTER without authentication (the session has a secret: use its .uvpn_secret file)";
  if (!proto::CheckRegister(node_key_, raw, total)) return "REGISTER failed authentication (another session secret?)";
  int64_t now = proto::RealtimeMs();
  if (!proto::Fresh(now, m.ts_ms, proto::kRegisterWindowMs)) return "REGISTER timestamp outside 60 s of this clock";
  if (!seen_registers_.Insert(Digest64(m.nonce, sizeof m.nonce), now_ms_, now_ms_ + 2 * proto::kRegisterWindowMs))
    return "REGISTER replayed (nonce seen before)";
  return "";
}

std::string Router::HeaderAuthError(uint32_t slot, const Lease& src) {
  Relay& r = relays_[slot];
  if (!(r.buf[5] & proto::kFlagAuth)) return "CONN_HEADER without a MAC (the session requires node authentication)";
  if (!proto::CheckHeaderTag(src.key, r.buf)) return "CONN_HEADER failed authentication";
  if (!proto::Fresh(proto::RealtimeMs(), r.hdr.ts_ms, proto::kHeaderWindowMs))
    return "CONN_HEADER timestamp outside 30 s of this clock";
  uint8_t id[20];
  memcpy(id, r.buf + 32, 16);  // ts and nonce
  uint32_t real = r.peer.ip;
  memcpy(id + 16, &real, 4);
  if (!seen_headers_.Insert(Digest64(id, sizeof id), now_ms_, now_ms_ + 2 * proto::kHeaderWindowMs))
    return "CONN_HEADER replayed";
  return "";
}

void Router::AdoptRegistration(uint32_t slot, const proto::RegisterMsg& m, const uint8_t* extra, size_t extra_n) {
  // At most 16 bytes: ReadFirst reads 32 at most and a REGISTER has 16 or more. Copied before the slot is freed.
  uint8_t ahead[proto::kHeartbeatSize];
  size_t ahead_n = std::min(extra_n, sizeof ahead);
  memcpy(ahead, extra, ahead_n);
  Endpoint peer = relays_[slot].peer;
  int fd = HandOver(slot);

  bool created = false;
  auto lease = leases_.Acquire(peer.ip, m.want_vip, std::string(m.name, m.name_len), &created);
  if (!lease) {
    LOG_INFO("registration from %s (pid %u) refused: %s", FormatEndpoint(peer).c_str(), m.pid,
             lease.error().message().c_str());
    proto::RegisterErrMsg e;
    e.code = proto::WireCode::kHostUnreach;  // "address taken or out of the site's subnet"
    const std::string& text = lease.error().message();
    e.text_len = static_cast<uint8_t>(std::min(text.size(), proto::kMaxErrText));
    memcpy(e.text, text.data(), e.text_len);
    uint8_t b[12 + proto::kMaxErrText];
    size_t n = proto::Encode(e, b, sizeof b);
    send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
    return;
  }
  const Lease* l = *lease;
  if (sealed() && created) {
    uint8_t lk[proto::kAuthKeySize];
    proto::DeriveLeaseKey(node_key_, l->vip, peer.ip, lk);
    leases_.SetKey(peer.ip, lk);
  }
  uint32_t gi = regs_.Alloc();
  if (gi == kMaxSlots) {
    close(fd);
    Ip4 vip;
    leases_.Release(peer.ip, &vip);
    return;
  }
  Reg& g = regs_[gi];
  g.fd = fd;
  g.real = peer.ip;
  g.vip = l->vip;
  g.last_heard_ms = now_ms_;
  if (!loop_.Mod(fd, EPOLLIN, Pack(Kind::kReg, gi, regs_.Gen(gi)))) {
    LOG_WARN("epoll_ctl: %s", strerror(errno));
  }

  proto::RegisterOkMsg ok;
  ok.vip = l->vip;
  ok.real_ip = peer.ip;
  ok.net = opt_.table.network.base;
  ok.net_prefix = opt_.table.network.prefix;
  ok.heartbeat_s = static_cast<uint8_t>(opt_.heartbeat_s);
  ok.name_len = static_cast<uint8_t>(std::min(l->name.size(), proto::kMaxName));
  memcpy(ok.name, l->name.data(), ok.name_len);
  ok.auth = sealed();
  uint8_t b[24 + proto::kMaxName + proto::kRegisterOkTrailer];
  size_t n = proto::Encode(ok, b, sizeof b);
  if (ok.auth) proto::SignRegisterOk(node_key_, m.nonce, b, n);
  uint32_t gen = regs_.Gen(gi);
  if (send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(n)) {
    EndReg(gi, "writing REGISTER_OK failed");
    return;
  }
  if (created) {
    LOG_INFO("lease add %s -> %s (%s, pid %u)", FormatIp4(l->vip).c_str(), FormatIp4(peer.ip).c_str(),
             l->name.c_str(), m.pid);
    proto::NodeAddMsg a;
    a.vip = l->vip;
    a.name_len = ok.name_len;
    memcpy(a.name, ok.name, ok.name_len);
    uint8_t ab[16 + proto::kMaxName];
    Broadcast(ab, proto::Encode(a, ab, sizeof ab));
  } else {
    LOG_DEBUG("lease %s shared by another registration from %s (pid %u)", FormatIp4(l->vip).c_str(),
              FormatIp4(peer.ip).c_str(), m.pid);
  }
  if (ahead_n > 0 && regs_.Live(gi, gen)) {
    memcpy(regs_[gi].buf, ahead, ahead_n);
    RegInput(gi, ahead_n);
  }
}

void Router::OnRegEvent(uint32_t gi, uint32_t /*events*/) {
  Reg& g = regs_[gi];
  ssize_t n = recv(g.fd, g.buf + g.have, sizeof g.buf - g.have, 0);
  if (n == 0) return EndReg(gi, "closed");
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    return EndReg(gi, strerror(errno));
  }
  RegInput(gi, static_cast<size_t>(n));
}

void Router::RegInput(uint32_t gi, size_t n) {
  Reg& g = regs_[gi];
  g.have = static_cast<uint8_t>(g.have + n);
  proto::MsgType t;
  size_t total;
  proto::Parse p = proto::PeekPrefix(g.buf, g.have, &t, &total);
  if (p == proto::Parse::kBad || (p == proto::Parse::kOk && t != proto::MsgType::kHeartbeat))
    return EndReg(gi, "unexpected or malformed message on a registration connection");
  if (g.have < sizeof g.buf) return;
  proto::HeartbeatMsg hb;
  size_t used;
  if (proto::Decode(g.buf, g.have, &hb, &used) != proto::Parse::kOk) return EndReg(gi, "bad HEARTBEAT");
  g.have = 0;
  g.last_heard_ms = now_ms_;
  uint8_t b[proto::kHeartbeatSize];
  proto::Encode(hb, b, sizeof b);
  send(g.fd, b, sizeof b, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Router::EndReg(uint32_t gi, const char* why) {
  Reg& g = regs_[gi];
  close(g.fd);
  g.fd = -1;
  Ip4 vip = 0;
  if (leases_.Release(g.real, &vip)) {
    LOG_INFO("lease del %s (%s): registration %s", FormatIp4(vip).c_str(), FormatIp4(g.real).c_str(), why);
    proto::NodeDelMsg d{vip};
    uint8_t b[proto::kNodeDelSize];
    Broadcast(b, proto::Encode(d, b, sizeof b));
  } else {
    LOG_DEBUG("registration from %s ended: %s", FormatIp4(g.real).c_str(), why);
  }
  regs_.Free(gi);
}

void Router::RegTimeouts() {
  int64_t limit = 3LL * opt_.heartbeat_s * 1000;
  for (uint32_t i = 0; i < regs_.end(); ++i)
    if (regs_.InUse(i) && now_ms_ - regs_[i].last_heard_ms > limit) EndReg(i, "missed 3 heartbeats");
}

void Router::FreezeLookup(uint64_t key, proto::RelayState st, proto::WireCode code) {
  auto it = lookups_.find(key);
  if (it == lookups_.end() || !it->second.live) return;
  it->second.live = false;
  it->second.state = st;
  it->second.code = st == proto::RelayState::kFailed ? code : proto::WireCode::kOk;
  it->second.expires_ms = now_ms_ + kLookupKeepMs;
  lookup_expiry_.emplace_back(it->second.expires_ms, key);
}

void Router::ExpireLookups() {
  while (!lookup_expiry_.empty() && lookup_expiry_.front().first <= now_ms_) {
    auto [when, key] = lookup_expiry_.front();
    lookup_expiry_.pop_front();
    auto it = lookups_.find(key);
    if (it != lookups_.end() && !it->second.live && it->second.expires_ms == when) lookups_.erase(it);
  }
}

void Router::OnUdp() {
  for (int i = 0; i < kUdpBatch; ++i) {
    uint8_t* buf = UdpSlot();  // datagrams (udp.cc) share the node socket
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    ssize_t n = recvfrom(udp_.get(), buf, kUdpSlot, 0, reinterpret_cast<sockaddr*>(&sa), &len);
    if (n < 0) break;
    Endpoint from = sysio::FromSockaddr(sa);
    proto::MsgType type{};
    size_t total;
    bool framed = proto::PeekPrefix(buf, static_cast<size_t>(n), &type, &total) == proto::Parse::kOk;
    if (framed && type == proto::MsgType::kUdpData) {
      OnUdpData(false, from, buf, static_cast<size_t>(n));
      continue;
    }
    if (framed && (type == proto::MsgType::kResolve || type == proto::MsgType::kResolveAddr)) {
      uint8_t out[proto::kResolveReplyMax];
      size_t m = AnswerResolve(*this, type, buf, static_cast<size_t>(n), out, sizeof out);
      if (m == 0)
        LOG_DEBUG("udp %s: malformed RESOLVE ignored", FormatEndpoint(from).c_str());
      else
        sendto(udp_.get(), out, m, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&sa), len);
      continue;
    }
    if (framed && type == proto::MsgType::kHostsList) {
      uint8_t out[proto::kHostsReplyMax];
      size_t m = AnswerHosts(*this, buf, static_cast<size_t>(n), out, sizeof out);
      if (m == 0)
        LOG_DEBUG("udp %s: malformed HOSTS_LIST ignored", FormatEndpoint(from).c_str());
      else
        sendto(udp_.get(), out, m, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&sa), len);
      continue;
    }
    proto::LookupMsg q;
    size_t used;
    if (proto::Decode(buf, static_cast<size_t>(n), &q, &used) != proto::Parse::kOk ||
        used != static_cast<size_t>(n)) {
      LOG_DEBUG("udp %s: malformed LOOKUP ignored", FormatEndpoint(from).c_str());
      continue;
    }
    if (from.ip != q.node_ip) {
      LOG_DEBUG("udp %s: LOOKUP about %s ignored (not its own)", FormatEndpoint(from).c_str(),
                FormatIp4(q.node_ip).c_str());
      continue;
    }
    if (sealed()) {  // protocol.md section 12: only a holder of the node's lease key may ask
      const Lease* l = leases_.ByReal(from.ip);
      if (!l || !q.auth || !proto::CheckTrailer(l->key, buf, proto::kLookupSize, q.trailer, proto::RealtimeMs())) {
        LOG_DEBUG("udp %s: LOOKUP without a valid AUTH trailer ignored", FormatEndpoint(from).c_str());
        continue;
      }
    }
    proto::LookupReplyMsg rep;
    rep.query_id = q.query_id;
    auto it = lookups_.find(LookupKey(q.node_ip, q.node_port, q.router_port));
    if (it != lookups_.end()) {
      const LookupEntry& e = it->second;
      if (e.live) {
        if (!relays_.Live(e.slot, e.gen)) {
          rep.state = proto::RelayState::kUnknown;
        } else {
          const Relay& r = relays_[e.slot];
          rep.state =
              r.state == RState::kEstablished ? proto::RelayState::kEstablished : proto::RelayState::kPending;
        }
      } else {
        rep.state = e.state;
        rep.code = e.code;
      }
      if (rep.state != proto::RelayState::kUnknown) {
        rep.local_vip = e.local.ip;
        rep.local_port = e.local.port;
        rep.peer_vip = e.peer.ip;
        rep.peer_port = e.peer.port;
      }
    }
    LOG_DEBUG("LOOKUP %s:%u router port %u -> state %u code %u", FormatIp4(q.node_ip).c_str(), q.node_port,
              q.router_port, static_cast<unsigned>(rep.state), static_cast<unsigned>(rep.code));
    uint8_t out[proto::kLookupReplySize];
    size_t m = proto::Encode(rep, out, sizeof out);
    sendto(udp_.get(), out, m, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&sa), len);
  }
  UdpFlush();
}

}  // namespace uvpn::router
