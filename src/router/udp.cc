// Datagram forwarding of the subnet router (docs/protocol.md section 9).
//
// Theory of operation: every datagram to or from a virtual address is one UDP datagram on every leg, so the
// router never reassembles, splits or queues anything. It reads a datagram into one fixed 64 KiB buffer (owned
// by the router, allocated once at start-up), checks and rewrites the 24-byte UDP_DATA header in place, and
// sends the same bytes on with MSG_DONTWAIT:
//   hop 0 on the node socket  -> source filled from the lease of the real sender; local destination: hop 2 to
//                                the leased real address; remote: hop 1 to that site's WAN endpoint if the
//                                router link is up;
//   hop 1 on the WAN socket   -> accepted only from a route-table router for its own subnet's sources and this
//                                site's destinations; hop 2 to the leased real address.
// Nothing here allocates or blocks; every failure drops the one datagram and bumps a counter (status "udp").
// When the node and WAN endpoints are equal, one socket (the node socket) carries all hops.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
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
  udp_buf_.assign(proto::kUdpMaxDatagram + 1, 0);  // +1: a larger datagram shows up as a size mismatch
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
    ssize_t n = recvfrom(wan_udp_.get(), udp_buf_.data(), udp_buf_.size(), 0, reinterpret_cast<sockaddr*>(&sa),
                         &len);
    if (n < 0) return;
    OnUdpData(true, sysio::FromSockaddr(sa), udp_buf_.data(), static_cast<size_t>(n));
  }
}

void Router::UdpDrop(uint64_t* counter, const char* why, const Endpoint& from) {
  ++*counter;
  LOG_DEBUG("udp datagram from %s dropped: %s", FormatEndpoint(from).c_str(), why);
}

void Router::OnUdpData(bool wan_socket, const Endpoint& from, uint8_t* p, size_t n) {
  UdpStats& st = udp_stats_;
  ++st.rx;
  proto::UdpHeader h;
  size_t used;
  if (proto::Decode(p, n, &h, &used) != proto::Parse::kOk || h.payload_len + proto::kUdpHeaderSize != n)
    return UdpDrop(&st.drop_malformed, "malformed or truncated", from);
  bool same = self_->node == self_->peer;
  if (h.hop == proto::Hop::kNodeToHome && (!wan_socket || same)) {
    const Lease* l = leases_.ByReal(from.ip);
    if (!l) return UdpDrop(&st.drop_no_lease, "sender has no lease", from);
    h.src_vip = l->vip;
    h.src_port = from.port;
  } else if (h.hop == proto::Hop::kHomeToPeer && (wan_socket || same)) {
    int si = -1;
    const auto& sites = opt_.table.sites;
    for (size_t i = 0; i < sites.size(); ++i)
      if (static_cast<int>(i) != self_index_ && sites[i].peer.ip == from.ip && sites[i].subnet.contains(h.src_vip))
        si = static_cast<int>(i);
    if (si < 0) return UdpDrop(&st.drop_malformed, "hop 1 not from the router of its source", from);
    if (!self_->subnet.contains(h.dst_vip)) return UdpDrop(&st.drop_no_route, "hop 1 for another site", from);
  } else {
    return UdpDrop(&st.drop_malformed, "wrong hop for this socket", from);
  }

  sockaddr_in to{};
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
    bool up = false;
    for (const Link& l : links_)
      if (l.site == dst_site->name) up = l.state == LinkState::kUp;
    if (!up) return UdpDrop(&st.drop_link_down, "link to the destination's site is down", from);
    h.hop = proto::Hop::kHomeToPeer;
    to.sin_addr.s_addr = htonl(dst_site->peer.ip);
    to.sin_port = htons(dst_site->peer.port);
    out_fd = same ? udp_.get() : wan_udp_.get();
  }
  proto::Encode(h, p, proto::kUdpHeaderSize);
  if (sendto(out_fd, p, n, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), sizeof to) != static_cast<ssize_t>(n))
    return UdpDrop(&st.drop_send, strerror(errno), from);
  ++st.tx;
}

}  // namespace uvpn::router
