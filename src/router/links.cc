// Router-to-router control links (docs/protocol.md section 6).
//
// Theory of operation: there is one Link per other site of the route table, indexed in table order without
// our own site. For each pair the router whose site name sorts first dials (non-blocking, backoff 50 ms
// doubling to Options::redial_max_ms); the other side learns of the link when a WAN connection's first message is a valid HELLO
// (relay.cc hands it to AdoptLink). Both sides send HELLO, then NODE_ADD for each current lease, then
// NODE_ADD/NODE_DEL as leases come and go, and a HEARTBEAT every quarter of Options::link_timeout_ms when
// nothing else was sent. A link silent for the link timeout, or sending anything malformed, is dropped and the
// remote nodes it announced are forgotten; the dialer dials again. Links also carry the ACK and RELAY_RESET
// messages of outage recovery (resume.cc); a link going down suspends the resumable relays of that site, a
// link coming up lets them resume. `uvpn chaos cut` keeps a link down (no dialing, HELLOs refused).
//
// With a session secret (docs/protocol.md section 11) the dialer's first message is LINK_INIT instead of HELLO
// (Noise NNpsk0 with the pair's psk), the other side answers LINK_RESP, and from then on every link byte is in
// ChaCha20-Poly1305 records; the accepting side takes the link as up only when the dialer's first record opens.
//
// Control traffic is small and rare, so links use plain byte vectors for buffering (allocation is fine here).
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sodium.h>

#include "common/log.h"
#include "crypto/keys.h"
#include "router/router_impl.h"
#include "sysio/net.h"

namespace uvpn::router {
namespace {
constexpr int64_t kHandshakeMs = 10000;
constexpr int kFirstBackoffMs = 50;
constexpr size_t kMaxLinkOut = 16u << 20;  // a peer that reads nothing is dropped before we hold more

const char* LinkStateName(LinkState s) {
  switch (s) {
    case LinkState::kDown:
      return "down";
    case LinkState::kConnecting:
      return "connecting";
    case LinkState::kHello:
      return "hello";
    case LinkState::kUp:
      return "up";
  }
  return "?";
}
}  // namespace

void Router::InitLinks() {
  for (const auto& s : opt_.table.sites) {
    if (&s == self_) continue;
    Link l;
    l.site = s.name;
    l.endpoint = s.peer;
    l.dialer = self_->name < s.name;
    l.since_ms = now_ms_;
    l.next_dial_ms = now_ms_;
    if (opt_.secret) crypto::LinkPsk(opt_.secret->data(), self_->name, s.name, l.psk);
    links_.push_back(std::move(l));
  }
}

static void SetLinkEvents(EventLoop& loop, Link& l, uint32_t li, uint32_t ev) {
  if (l.ev == ev) return;
  loop.Mod(l.fd, ev, Pack(Kind::kLink, li, l.gen));
  l.ev = ev;
}

void Router::Dial(uint32_t li) {
  Link& l = links_[li];
  bool in_progress = false;
  auto c = ConnectFrom(self_->peer.ip, l.endpoint, &in_progress);
  if (!c) return LinkDown(li, c.error().message().c_str());
  l.fd = c->Release();
  ++l.gen;
  l.state = LinkState::kConnecting;
  l.since_ms = now_ms_;
  l.ev = EPOLLOUT;
  loop_.Add(l.fd, EPOLLOUT, Pack(Kind::kLink, li, l.gen));
  LOG_DEBUG("link %s: dialing %s", l.site.c_str(), FormatEndpoint(l.endpoint).c_str());
}

void Router::SendHello(uint32_t li) {
  proto::HelloMsg h;
  h.site_len = static_cast<uint8_t>(std::min(self_->name.size(), proto::kMaxSiteName));
  memcpy(h.site, self_->name.data(), h.site_len);
  h.session_len = static_cast<uint8_t>(std::min(opt_.table.session.size(), proto::kMaxSessionId));
  memcpy(h.session, opt_.table.session.data(), h.session_len);
  uint8_t b[proto::kMaxMessage];
  if (!sealed()) return LinkSend(li, b, proto::Encode(h, b, sizeof b));
  proto::LinkInitMsg init;
  init.hello = h;
  size_t n = proto::Encode(init, b, sizeof b);
  Link& l = links_[li];
  l.hs = std::make_unique<crypto::Handshake>(true, l.psk, b, n - proto::kHandshakeBody);
  l.hs->WriteFirst(crypto::SupportedSuites(), b + n - proto::kHandshakeBody);
  LinkSend(li, b, n);
}

void Router::LinkSessionUp(uint32_t li) {
  Link& l = links_[li];
  l.sealed = true;
  l.next_leg = 1;
  l.legs_seen.Reset();
  l.udp_ctr = 1;
  l.udp_seen.Reset();
  uint8_t k[crypto::kKeySize];
  crypto::UdpKey(l.sess.exporter, l.sess.initiator ? 0 : 1, k);
  l.udp_tx.SetKey(l.suite, k);
  crypto::UdpKey(l.sess.exporter, l.sess.initiator ? 1 : 0, k);
  l.udp_rx.SetKey(l.suite, k);
  sodium_memzero(k, sizeof k);
}

void Router::AdoptLinkInit(uint32_t slot, const proto::LinkInitMsg& m, const uint8_t* raw, size_t raw_len) {
  int li = -1;
  std::string err = HelloError(m.hello, &li);
  if (!err.empty()) return Drop(slot, err.c_str());
  Link& l = links_[li];
  crypto::Handshake hs(false, l.psk, raw, raw_len - proto::kHandshakeBody);
  uint8_t offer = 0;
  if (!hs.ReadFirst(m.body, &offer)) {
    char why[128];
    snprintf(why, sizeof why, "LINK_INIT from site '%s' failed authentication (another session secret?)",
             l.site.c_str());
    return Drop(slot, why);
  }
  uint8_t common = offer & crypto::SupportedSuites();
  if (!(common & static_cast<uint8_t>(crypto::Suite::kChaCha20Poly1305))) return Drop(slot, "LINK_INIT offers no cipher we run");
  auto pl = std::make_unique<PendingLink>();
  pl->li = static_cast<uint32_t>(li);
  pl->suite = (common & static_cast<uint8_t>(crypto::Suite::kAes256Gcm)) ? crypto::Suite::kAes256Gcm
                                                                         : crypto::Suite::kChaCha20Poly1305;
  proto::LinkRespMsg resp;
  if (!hs.WriteSecond(static_cast<uint8_t>(pl->suite), resp.body)) return Drop(slot, "LINK_INIT with a degenerate key");
  hs.Finish(&pl->sess);
  Relay& r = relays_[slot];
  uint8_t b[proto::kLinkRespSize];
  proto::Encode(resp, b, sizeof b);
  if (send(r.fd[0], b, sizeof b, MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(sizeof b))
    return Drop(slot, "writing LINK_RESP failed");
  // Still unidentified (sheddable, header timeout) until the initiator proves the session with its first record.
  r.plink = std::move(pl);
  r.have = 0;
  r.deadline_ms = now_ms_ + opt_.header_timeout_ms;
  LOG_DEBUG("link %s: handshake answered, waiting for its first record", l.site.c_str());
}

void Router::ConfirmLink(uint32_t slot) {
  Relay& r = relays_[slot];
  crypto::Cipher& rx = r.plink->sess.rx;
  constexpr size_t kWant = crypto::kRecordHeader + proto::kHeartbeatSize + crypto::kTagSize;
  ssize_t n = recv(r.fd[0], r.buf + r.have, kWant - r.have, 0);
  if (n == 0) return Drop(slot, "link closed during the handshake");
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    return Drop(slot, strerror(errno));
  }
  r.have = static_cast<uint8_t>(r.have + n);
  if (r.have < kWant) return;
  uint8_t hb[proto::kHeartbeatSize];
  proto::HeartbeatMsg h;
  size_t used = 0;
  if (crypto::RecordCipherLen(r.buf) != proto::kHeartbeatSize + crypto::kTagSize ||
      !rx.Open(r.buf, crypto::kRecordHeader, r.buf + crypto::kRecordHeader, kWant - crypto::kRecordHeader, hb) ||
      proto::Decode(hb, sizeof hb, &h, &used) != proto::Parse::kOk)
    return Drop(slot, "the link's first record failed authentication");
  uint32_t li = r.plink->li;
  if (LinkCut(li)) return Drop(slot, "link refused: cut by uvpn chaos");
  std::unique_ptr<PendingLink> pl = std::move(r.plink);
  Endpoint peer = r.peer;
  int fd = HandOver(slot);

  if (links_[li].fd >= 0) LinkDown(li, "replaced by a new connection");
  Link& l = links_[li];
  l.fd = fd;
  ++l.gen;
  l.sess = pl->sess;
  l.suite = pl->suite;
  pl->sess.tx.Clear();
  pl->sess.rx.Clear();
  sodium_memzero(pl->sess.exporter, sizeof pl->sess.exporter);
  LinkSessionUp(li);
  l.state = LinkState::kUp;
  l.since_ms = now_ms_;
  l.last_heard_ms = now_ms_;
  l.backoff_ms = kFirstBackoffMs;
  l.ev = EPOLLIN;
  loop_.Mod(fd, EPOLLIN, Pack(Kind::kLink, li, l.gen));
  LOG_INFO("link %s up (accepted from %s, sealed)", l.site.c_str(), FormatEndpoint(peer).c_str());
  uint32_t gen = l.gen;
  SendAllLeases(li);
  if (links_[li].gen == gen) OnLinkUp(li);
}

void Router::SendAllLeases(uint32_t li) {
  uint32_t gen = links_[li].gen;
  for (const Lease* l : leases_.Sorted()) {
    proto::NodeAddMsg a;
    a.vip = l->vip;
    a.name_len = static_cast<uint8_t>(std::min(l->name.size(), proto::kMaxName));
    memcpy(a.name, l->name.data(), a.name_len);
    uint8_t b[16 + proto::kMaxName];
    LinkSend(li, b, proto::Encode(a, b, sizeof b));
    if (links_[li].gen != gen) return;  // the link went down
  }
}

void Router::Broadcast(const uint8_t* p, size_t n) {
  for (uint32_t i = 0; i < links_.size(); ++i)
    if (links_[i].state == LinkState::kUp) LinkSend(i, p, n);
}

void Router::LinkSend(uint32_t li, const uint8_t* p, size_t n) {
  uint32_t gen = links_[li].gen;
  LinkQueue(li, p, n);
  if (links_[li].fd >= 0 && links_[li].gen == gen) LinkFlush(li);
}

void Router::LinkQueue(uint32_t li, const uint8_t* p, size_t n) {
  Link& l = links_[li];
  if (l.fd < 0 || n == 0) return;
  if (l.out.size() - l.out_off + n > kMaxLinkOut) return LinkDown(li, "peer router does not read");
  if (l.sealed) {
    // One record per message (link messages are far below the record limit).
    size_t at = l.out.size();
    l.out.resize(at + crypto::kRecordHeader + n + crypto::kTagSize);
    crypto::SealRecord(l.sess.tx, p, n, l.out.data() + at);
  } else {
    l.out.insert(l.out.end(), p, p + n);
  }
  l.last_sent_ms = now_ms_;
}

void Router::LinkFlush(uint32_t li) {
  Link& l = links_[li];
  if (l.state == LinkState::kConnecting) return;  // sent once connected
  while (l.out_off < l.out.size()) {
    ssize_t w = send(l.fd, l.out.data() + l.out_off, l.out.size() - l.out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      return LinkDown(li, strerror(errno));
    }
    l.out_off += static_cast<size_t>(w);
  }
  if (l.out_off == l.out.size()) {
    l.out.clear();
    l.out_off = 0;
    SetLinkEvents(loop_, l, li, EPOLLIN);
  } else {
    SetLinkEvents(loop_, l, li, EPOLLIN | EPOLLOUT);
  }
}

std::string Router::HelloError(const proto::HelloMsg& m, int* link_index) const {
  std::string site(m.site, m.site_len), session(m.session, m.session_len);
  if (session != opt_.table.session)
    return "HELLO for session '" + session + "', ours is '" + opt_.table.session + "'";
  if (site == self_->name) return "HELLO names our own site '" + site + "'";
  for (size_t i = 0; i < links_.size(); ++i) {
    if (links_[i].site == site) {
      *link_index = static_cast<int>(i);
      if (LinkCut(static_cast<uint32_t>(i))) return "HELLO from site '" + site + "' refused: link cut by uvpn chaos";
      return "";
    }
  }
  return "HELLO from site '" + site + "', which is not in the route table";
}

void Router::AdoptLink(uint32_t slot, const proto::HelloMsg& m, const uint8_t* extra, size_t extra_n) {
  // At most 14 bytes (ReadFirst reads 32 at most, a HELLO has 18 or more); copied before the slot is freed.
  uint8_t ahead[proto::kConnHeaderSize];
  size_t ahead_n = std::min(extra_n, sizeof ahead);
  memcpy(ahead, extra, ahead_n);
  int li = -1;
  std::string err = HelloError(m, &li);
  if (!err.empty()) return Drop(slot, err.c_str());
  Endpoint peer = relays_[slot].peer;
  int fd = HandOver(slot);

  if (links_[li].fd >= 0) LinkDown(static_cast<uint32_t>(li), "replaced by a new connection");
  Link& l = links_[li];
  l.fd = fd;
  ++l.gen;
  l.state = LinkState::kUp;
  l.since_ms = now_ms_;
  l.last_heard_ms = now_ms_;
  l.backoff_ms = kFirstBackoffMs;
  l.ev = EPOLLIN;
  loop_.Mod(fd, EPOLLIN, Pack(Kind::kLink, static_cast<uint32_t>(li), l.gen));
  LOG_INFO("link %s up (accepted from %s)", l.site.c_str(), FormatEndpoint(peer).c_str());
  uint32_t gen = l.gen;
  SendHello(li);
  if (links_[li].gen == gen) SendAllLeases(li);
  if (links_[li].gen == gen) OnLinkUp(static_cast<uint32_t>(li));
  if (links_[li].gen == gen && ahead_n > 0) LinkInput(static_cast<uint32_t>(li), ahead, ahead_n);
}

void Router::LinkDown(uint32_t li, const char* why) {
  Link& l = links_[li];
  bool was_up = l.state == LinkState::kUp;
  DropLegPool(li);
  if (l.fd >= 0) close(l.fd);
  l.fd = -1;
  l.ev = 0;
  ++l.gen;
  l.in.clear();
  l.msg.clear();
  l.out.clear();
  l.out_off = 0;
  l.hs.reset();
  if (l.sealed) {
    l.sealed = false;
    l.sess.tx.Clear();
    l.sess.rx.Clear();
    l.udp_tx.Clear();
    l.udp_rx.Clear();
    sodium_memzero(l.sess.exporter, sizeof l.sess.exporter);
  }
  if (was_up) {
    LOG_INFO("link %s down: %s", l.site.c_str(), why);
    leases_.DropSite(l.site);
  } else if (l.state != LinkState::kDown) {
    LOG_DEBUG("link %s (%s) failed: %s", l.site.c_str(), LinkStateName(l.state), why);
  }
  if (was_up || l.state != LinkState::kDown) l.since_ms = now_ms_;
  l.state = LinkState::kDown;
  if (l.dialer) {
    l.next_dial_ms = now_ms_ + l.backoff_ms;
    l.backoff_ms = std::min(l.backoff_ms * 2, opt_.redial_max_ms);
  }
  if (was_up) OnLinkDown(li);  // after the state change: suspended relays must see the link down
}

void Router::OnLinkEvent(uint32_t li, uint32_t events) {
  Link& l = links_[li];
  uint32_t gen = l.gen;
  if (l.state == LinkState::kConnecting) {
    int err = sysio::SocketError(l.fd);
    if (err != 0) return LinkDown(li, strerror(err));
    if (events & (EPOLLERR | EPOLLHUP)) return LinkDown(li, "hang-up while connecting");
    l.state = LinkState::kHello;
    l.last_heard_ms = now_ms_;
    SendHello(li);  // HELLO first, then wait for theirs
    return;
  }
  if (events & EPOLLERR) return LinkDown(li, strerror(sysio::SocketError(l.fd)));
  if (events & EPOLLOUT) {
    LinkFlush(li);
    if (links_[li].gen != gen) return;
  }
  if (!(events & (EPOLLIN | EPOLLHUP))) return;
  uint8_t buf[4096];
  ssize_t n = recv(l.fd, buf, sizeof buf, 0);
  if (n == 0) return LinkDown(li, "closed by peer");
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    return LinkDown(li, strerror(errno));
  }
  l.last_heard_ms = now_ms_;
  LinkInput(li, buf, static_cast<size_t>(n));
}

void Router::LinkInput(uint32_t li, const uint8_t* data, size_t n) {
  uint32_t gen = links_[li].gen;
  Link& l = links_[li];
  if (!sealed()) {
    l.msg.insert(l.msg.end(), data, data + n);
    return LinkMessages(li);
  }
  l.in.insert(l.in.end(), data, data + n);
  size_t off = 0;
  while (links_[li].gen == gen) {
    Link& cur = links_[li];
    size_t left = cur.in.size() - off;
    if (!cur.sealed) {
      // Initiator before LINK_RESP: the one plaintext message it may read.
      if (left < proto::kLinkRespSize) break;
      proto::LinkRespMsg resp;
      size_t used = 0;
      if (cur.state != LinkState::kHello || !cur.hs ||
          proto::Decode(cur.in.data() + off, left, &resp, &used) != proto::Parse::kOk)
        return LinkDown(li, "expected LINK_RESP");
      uint8_t suite = 0;
      if (!cur.hs->ReadSecond(resp.body, &suite)) {
        LOG_WARN("link %s: LINK_RESP failed authentication (another session secret?)", cur.site.c_str());
        return LinkDown(li, "handshake failed");
      }
      if (suite != static_cast<uint8_t>(crypto::Suite::kChaCha20Poly1305) &&
          !(suite == static_cast<uint8_t>(crypto::Suite::kAes256Gcm) &&
            (crypto::SupportedSuites() & static_cast<uint8_t>(crypto::Suite::kAes256Gcm))))
        return LinkDown(li, "LINK_RESP chose a cipher we did not offer");
      cur.hs->Finish(&cur.sess);
      cur.hs.reset();
      cur.suite = static_cast<crypto::Suite>(suite);
      LinkSessionUp(li);
      off += used;
      cur.state = LinkState::kUp;
      cur.since_ms = now_ms_;
      cur.backoff_ms = kFirstBackoffMs;
      LOG_INFO("link %s up (dialled %s, sealed)", cur.site.c_str(), FormatEndpoint(cur.endpoint).c_str());
      proto::HeartbeatMsg hb{++cur.hb_seq};  // the first record: proves the session to the responder
      uint8_t b[proto::kHeartbeatSize];
      LinkSend(li, b, proto::Encode(hb, b, sizeof b));
      if (links_[li].gen != gen) return;
      SendAllLeases(li);
      if (links_[li].gen != gen) return;
      OnLinkUp(li);
      continue;
    }
    if (left < crypto::kRecordHeader) break;
    uint8_t* rec = cur.in.data() + off;
    size_t clen = crypto::RecordCipherLen(rec);
    if (clen == 0) return LinkDown(li, "malformed record");
    if (left < crypto::kRecordHeader + clen) break;
    size_t at = cur.msg.size();
    cur.msg.resize(at + clen - crypto::kTagSize);
    if (!cur.sess.rx.Open(rec, crypto::kRecordHeader, rec + crypto::kRecordHeader, clen, cur.msg.data() + at)) {
      LOG_WARN("link %s: a record failed authentication", cur.site.c_str());
      return LinkDown(li, "record failed authentication");
    }
    off += crypto::kRecordHeader + clen;
    LinkMessages(li);
  }
  if (links_[li].gen == gen) links_[li].in.erase(links_[li].in.begin(), links_[li].in.begin() + off);
}

void Router::LinkMessages(uint32_t li) {
  uint32_t gen = links_[li].gen;
  size_t off = 0;
  while (links_[li].gen == gen) {
    Link& cur = links_[li];
    proto::MsgType t;
    size_t total;
    proto::Parse p = proto::PeekPrefix(cur.msg.data() + off, cur.msg.size() - off, &t, &total);
    if (p == proto::Parse::kBad) return LinkDown(li, "malformed message");
    if (p == proto::Parse::kNeedMore || cur.msg.size() - off < total) break;
    LinkHandle(li, t, cur.msg.data() + off, total);
    off += total;
  }
  if (links_[li].gen == gen) links_[li].msg.erase(links_[li].msg.begin(), links_[li].msg.begin() + off);
}

void Router::LinkHandle(uint32_t li, proto::MsgType t, const uint8_t* p, size_t n) {
  Link& l = links_[li];
  size_t used;
  if (l.state == LinkState::kHello) {
    proto::HelloMsg h;
    if (t != proto::MsgType::kHello || proto::Decode(p, n, &h, &used) != proto::Parse::kOk)
      return LinkDown(li, "expected HELLO");
    int idx = -1;
    std::string err = HelloError(h, &idx);
    if (err.empty() && idx != static_cast<int>(li)) err = "HELLO from a different site than dialled";
    if (!err.empty()) {
      LOG_WARN("link %s: %s", l.site.c_str(), err.c_str());
      return LinkDown(li, err.c_str());
    }
    l.state = LinkState::kUp;
    l.since_ms = now_ms_;
    l.backoff_ms = kFirstBackoffMs;
    LOG_INFO("link %s up (dialled %s)", l.site.c_str(), FormatEndpoint(l.endpoint).c_str());
    uint32_t gen = l.gen;
    SendAllLeases(li);
    if (links_[li].gen == gen) OnLinkUp(li);
    return;
  }
  const routes::Site* site = nullptr;
  for (const auto& s : opt_.table.sites)
    if (s.name == l.site) site = &s;
  switch (t) {
    case proto::MsgType::kHeartbeat: {
      proto::HeartbeatMsg hb;
      if (proto::Decode(p, n, &hb, &used) != proto::Parse::kOk) return LinkDown(li, "bad HEARTBEAT");
      return;
    }
    case proto::MsgType::kNodeAdd: {
      proto::NodeAddMsg a;
      if (proto::Decode(p, n, &a, &used) != proto::Parse::kOk) return LinkDown(li, "bad NODE_ADD");
      if (!site || !site->subnet.contains(a.vip)) {
        LOG_WARN("link %s: NODE_ADD %s outside its subnet ignored", l.site.c_str(), FormatIp4(a.vip).c_str());
        return;
      }
      LOG_DEBUG("link %s: node %s (%.*s)", l.site.c_str(), FormatIp4(a.vip).c_str(), a.name_len, a.name);
      leases_.AddRemote(a.vip, std::string(a.name, a.name_len), l.site);
      return;
    }
    case proto::MsgType::kNodeDel: {
      proto::NodeDelMsg d;
      if (proto::Decode(p, n, &d, &used) != proto::Parse::kOk) return LinkDown(li, "bad NODE_DEL");
      leases_.DelRemote(d.vip, l.site);
      return;
    }
    case proto::MsgType::kAck: {
      proto::AckMsg a;
      if (proto::Decode(p, n, &a, &used) != proto::Parse::kOk) return LinkDown(li, "bad ACK");
      return OnAck(li, a);
    }
    case proto::MsgType::kRelayReset: {
      proto::RelayResetMsg m;
      if (proto::Decode(p, n, &m, &used) != proto::Parse::kOk) return LinkDown(li, "bad RELAY_RESET");
      return OnRelayReset(li, m);
    }
    default:
      return LinkDown(li, "unexpected message type on a link");
  }
}

void Router::LinkTick() {
  for (uint32_t i = 0; i < links_.size(); ++i) {
    Link& l = links_[i];
    switch (l.state) {
      case LinkState::kDown:
        if (l.cut_until_ms != 0 && now_ms_ >= l.cut_until_ms) {
          LOG_INFO("link %s: chaos cut over", l.site.c_str());
          l.cut_until_ms = 0;
          l.backoff_ms = kFirstBackoffMs;
          l.next_dial_ms = now_ms_;
        }
        if (l.dialer && !LinkCut(i) && now_ms_ >= l.next_dial_ms) Dial(i);
        break;
      case LinkState::kConnecting:
        // A SYN lost in an outage is retransmitted by the kernel only after 1, 3, 7... s: give up on the attempt
        // early and dial afresh, so that a link returns within about a second of the network (docs/outage.md).
        if (now_ms_ - l.since_ms > std::max(1000, opt_.link_timeout_ms / 4)) LinkDown(i, "connect timeout");
        break;
      case LinkState::kHello:
        if (now_ms_ - l.since_ms > kHandshakeMs) LinkDown(i, "handshake timeout");
        break;
      case LinkState::kUp:
        if (now_ms_ - l.last_heard_ms > opt_.link_timeout_ms) {
          LinkDown(i, "silent for the link timeout");
        } else if (now_ms_ - l.last_sent_ms >= opt_.link_timeout_ms / 4) {
          proto::HeartbeatMsg hb{++l.hb_seq};
          uint8_t b[proto::kHeartbeatSize];
          LinkSend(i, b, proto::Encode(hb, b, sizeof b));
        }
        break;
    }
  }
}

}  // namespace uvpn::router
