// Datagram forwarding of the subnet router (docs/protocol.md section 9).
//
// Theory of operation: every datagram to or from a virtual address is one UDP datagram on every leg, so the
// router never reassembles or splits anything. It reads each datagram into a free slot of a fixed pool (32
// slots of 64 KiB, allocated once at start-up), checks and rewrites the 24-byte UDP_DATA header in place, and
// queues it; at the end of each batch of reads (one epoll event) the queue leaves by sendmmsg, MSG_DONTWAIT.
//   hop 0 on the node socket: source filled from the lease of the real sender; a local destination gets hop 2
//     to its leased real address, a remote one hop 1 to its site's WAN endpoint while the link is up;
//   hop 1 on the WAN socket: accepted only from a route-table router, for sources in that router's subnet and
//     destinations in this one; then hop 2 to the leased real address.
// With a session secret, hop 1 travels as UDP_SEALED (docs/protocol.md section 11): sealed in place in its slot
// with the link's datagram key and counter, opened in place and checked against the link's replay window before
// anything else looks at it; plaintext hop 1 is refused.
// Nothing allocates or blocks, and nothing outlives one event: every failure (EAGAIN included) drops that one
// datagram and bumps a counter (status "udp"). When the node and WAN endpoints are equal, the node socket
// carries all hops.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "proto/auth.h"
#include "router/router_impl.h"
#include "sysio/net.h"

namespace uvpn::router {
namespace {

constexpr int kUdpWanBatch = 64;
constexpr int kUdpSocketBuffer = 4 << 20;  // bursts of an iperf3 -u run fit

// Socket buffers beyond net.core.[rw]mem_max need CAP_NET_ADMIN (the *FORCE options); without it the plain
// options get what the system allows.
void BigBuffers(int fd) {
  int sz = kUdpSocketBuffer;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
}

}  // namespace

Status Router::InitUdp() {
  udp_buf_.assign(kUdpQueue * kUdpSlot, 0);
  udp_msgs_.assign(kUdpQueue, mmsghdr{});
  udp_iov_.assign(kUdpQueue, iovec{});
  udp_to_.assign(kUdpQueue, sockaddr_in{});
  udp_fd_.assign(kUdpQueue, -1);
  for (size_t i = 0; i < kUdpQueue; ++i) {
    udp_iov_[i].iov_base = udp_buf_.data() + i * kUdpSlot;
    msghdr& m = udp_msgs_[i].msg_hdr;
    m.msg_name = &udp_to_[i];
    m.msg_namelen = sizeof(sockaddr_in);
    m.msg_iov = &udp_iov_[i];
    m.msg_iovlen = 1;
  }
  BigBuffers(udp_.get());
  if (self_->node == self_->peer) return Status::Ok();
  auto w = sysio::BindUdp(self_->peer);
  if (!w) return w.error();
  wan_udp_ = std::move(*w);
  BigBuffers(wan_udp_.get());
  if (!loop_.Add(wan_udp_.get(), EPOLLIN, Pack(Kind::kUdp, 1, 0))) return Status::Errno(errno, "epoll_ctl");
  return Status::Ok();
}

void Router::OnWanUdp() {
  for (int i = 0; i < kUdpWanBatch; ++i) {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    uint8_t* buf = UdpSlot();
    ssize_t n = recvfrom(wan_udp_.get(), buf, kUdpSlot, 0, reinterpret_cast<sockaddr*>(&sa), &len);
    if (n < 0) break;
    OnUdpData(true, sysio::FromSockaddr(sa), buf, static_cast<size_t>(n));
  }
  UdpFlush();
}

void Router::UdpFlush() {
  size_t i = 0;
  while (i < udp_out_n_) {
    size_t run = i;  // consecutive datagrams leaving by the same socket go in one sendmmsg
    while (run < udp_out_n_ && udp_fd_[run] == udp_fd_[i]) ++run;
    while (i < run) {
      int r = sendmmsg(udp_fd_[i], &udp_msgs_[i], static_cast<unsigned>(run - i), MSG_DONTWAIT);
      if (r <= 0) {  // datagram i failed (EAGAIN, ...): drop it, go on with the next
        UdpDrop(&udp_stats_.drop_send, strerror(errno), sysio::FromSockaddr(udp_to_[i]));
        ++i;
        continue;
      }
      udp_stats_.tx += static_cast<uint64_t>(r);
      i += static_cast<size_t>(r);
    }
  }
  udp_out_n_ = 0;
}

void Router::UdpDrop(uint64_t* counter, const char* why, const Endpoint& from) {
  ++*counter;
  LOG_DEBUG("udp datagram from %s dropped: %s", FormatEndpoint(from).c_str(), why);
}

void Router::OnUdpData(bool wan_socket, const Endpoint& from, uint8_t* p, size_t n) {
  UdpStats& st = udp_stats_;
  ++st.rx;
  bool same = self_->node == self_->peer;
  int sealed_li = -1;
  if ((wan_socket || same) && n > 4 && p[4] == static_cast<uint8_t>(proto::MsgType::kUdpSealed)) {
    proto::UdpSealedHeader sh;
    size_t used;
    if (proto::Decode(p, n, &sh, &used) != proto::Parse::kOk || proto::kUdpSealedHeader + sh.sealed_len != n)
      return UdpDrop(&st.drop_malformed, "malformed or truncated sealed datagram", from);
    if (!sealed()) return UdpDrop(&st.drop_auth, "sealed datagram, but this router runs --insecure-plaintext", from);
    for (size_t i = 0; i < links_.size(); ++i)
      if (links_[i].sealed && links_[i].state == LinkState::kUp && links_[i].sess.link_id == sh.link_id)
        sealed_li = static_cast<int>(i);
    if (sealed_li < 0) return UdpDrop(&st.drop_auth, "sealed datagram of no current link session", from);
    Link& l = links_[sealed_li];
    uint8_t* ct = p + proto::kUdpSealedHeader;
    if (!l.udp_rx.OpenAt(sh.counter, p, proto::kUdpSealedHeader, ct, sh.sealed_len, ct))
      return UdpDrop(&st.drop_auth, "sealed datagram failed authentication", from);
    if (!l.udp_seen.Check(sh.counter)) return UdpDrop(&st.drop_auth, "sealed datagram replayed", from);
    n = sh.sealed_len - crypto::kTagSize;
    memmove(p, ct, n);
  }
  proto::UdpHeader h;
  size_t used;
  if (proto::Decode(p, n, &h, &used) != proto::Parse::kOk)
    return UdpDrop(&st.drop_malformed, "malformed or truncated", from);
  size_t trailer = h.auth ? proto::kUdpAuthTrailer : 0;
  if (h.payload_len + proto::kUdpHeaderSize + trailer != n)
    return UdpDrop(&st.drop_malformed, "malformed or truncated", from);
  if (h.auth && h.hop != proto::Hop::kNodeToHome) return UdpDrop(&st.drop_malformed, "AUTH trailer beyond hop 0", from);
  if (h.hop == proto::Hop::kHomeToPeer && (wan_socket || same) && sealed() && sealed_li < 0)
    return UdpDrop(&st.drop_auth, "plaintext hop 1 refused (sealed session)", from);
  if (h.hop == proto::Hop::kNodeToHome && (!wan_socket || same)) {
    const Lease* l = leases_.ByReal(from.ip);
    if (!l) return UdpDrop(&st.drop_no_lease, "sender has no lease", from);
    if (sealed()) {  // docs/protocol.md section 12: the datagram must carry the lease's tag
      if (!h.auth) return UdpDrop(&st.drop_auth, "hop 0 without its AUTH trailer", from);
      if (!proto::CheckUdp(l->key, p, p + n - trailer, proto::RealtimeMs()))
        return UdpDrop(&st.drop_auth, "hop 0 AUTH trailer failed (forged or stale)", from);
    }
    n -= trailer;  // forwarded without it
    h.auth = false;
    h.src_vip = l->vip;
    h.src_port = from.port;
  } else if (h.hop == proto::Hop::kHomeToPeer && (wan_socket || same)) {
    int si = -1;
    const auto& sites = opt_.table.sites;
    for (size_t i = 0; i < sites.size(); ++i)
      if (static_cast<int>(i) != self_index_ && sites[i].peer.ip == from.ip &&
          sites[i].subnet.contains(h.src_vip))
        si = static_cast<int>(i);
    if (si < 0) return UdpDrop(&st.drop_malformed, "hop 1 not from the router of its source", from);
    if (sealed_li >= 0 && links_[sealed_li].site != opt_.table.sites[si].name)
      return UdpDrop(&st.drop_auth, "hop 1 source outside the subnet of the link that sealed it", from);
    if (!self_->subnet.contains(h.dst_vip)) return UdpDrop(&st.drop_no_route, "hop 1 for another site", from);
  } else {
    return UdpDrop(&st.drop_malformed, "wrong hop for this socket", from);
  }

  sockaddr_in& to = udp_to_[udp_out_n_];
  to = sockaddr_in{};
  to.sin_family = AF_INET;
  int out_fd;
  if (self_->subnet.contains(h.dst_vip)) {
    const Lease* d = leases_.ByVip(h.dst_vip);
    if (!d) return UdpDrop(&st.drop_no_lease, "destination not leased", from);
    h.hop = proto::Hop::kRouterToDest;
    to.sin_addr.s_addr = htonl(d->real);
    to.sin_port = htons(h.dst_port);
    out_fd = udp_.get();
  } else {
    if (h.hop != proto::Hop::kNodeToHome) return UdpDrop(&st.drop_no_route, "not for this site", from);
    const routes::Site* dst_site = nullptr;
    for (const auto& s : opt_.table.sites)
      if (&s != self_ && s.subnet.contains(h.dst_vip)) dst_site = &s;
    if (!dst_site) return UdpDrop(&st.drop_no_route, "destination in no site", from);
    Link* link = nullptr;
    for (Link& l : links_)
      if (l.site == dst_site->name && l.state == LinkState::kUp) link = &l;
    if (!link) return UdpDrop(&st.drop_link_down, "link to the destination's site is down", from);
    h.hop = proto::Hop::kHomeToPeer;
    to.sin_addr.s_addr = htonl(dst_site->peer.ip);
    to.sin_port = htons(dst_site->peer.port);
    out_fd = same ? udp_.get() : wan_udp_.get();
    if (sealed()) {
      if (!link->sealed) return UdpDrop(&st.drop_link_down, "link to the destination's site is down", from);
      if (n > proto::kUdpMaxSealedInner) return UdpDrop(&st.drop_no_route, "too large to seal", from);
      proto::Encode(h, p, proto::kUdpHeaderSize);
      memmove(p + proto::kUdpSealedHeader, p, n);
      proto::UdpSealedHeader sh{link->sess.link_id, link->udp_ctr++, n + crypto::kTagSize};
      proto::Encode(sh, p, proto::kUdpSealedHeader);
      uint8_t* pt = p + proto::kUdpSealedHeader;
      link->udp_tx.SealAt(sh.counter, p, proto::kUdpSealedHeader, pt, n, pt);
      n += proto::kUdpSealedOverhead;
      udp_iov_[udp_out_n_].iov_len = n;
      udp_fd_[udp_out_n_] = out_fd;
      if (++udp_out_n_ == kUdpQueue) UdpFlush();
      return;
    }
  }
  proto::Encode(h, p, proto::kUdpHeaderSize);
  udp_iov_[udp_out_n_].iov_len = n;
  udp_fd_[udp_out_n_] = out_fd;
  if (++udp_out_n_ == kUdpQueue) UdpFlush();
}

}  // namespace uvpn::router
