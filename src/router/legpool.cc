// Legs 1 dialled ahead of need (docs/performance.md "Leg pool").
//
// Theory of operation: a cross-site connection needs a TCP connection to the peer router (leg 1) before the
// peer can connect the destination and answer STATUS. Dialling it costs the home router a socket, a bind and a
// handshake on the critical path of every connection. So after a relay takes a leg, the home router dials a
// replacement once the current epoll batch is done (RefillLegPools, at the end of a loop turn): while the peer
// router works on the leg just sent, on the other CPU. A pooled socket carries no byte until it is used; to the
// peer it is an accepted connection still waiting for its first message, so it must be used before the peer's
// header timeout (PoolMaxAgeMs: a third of ours, at most 2 s; older ones are closed by the tick). Before use, one
// poll() checks that it is connected and that nothing (a FIN, a reset) arrived on it; otherwise it is closed and
// the next one is tried, and with none left the leg is dialled on demand as before. An idle link's pool empties
// within PoolMaxAgeMs and is refilled only by the next connection that uses the link.
#include <poll.h>
#include <unistd.h>

#include <algorithm>

#include "common/log.h"
#include "router/router_impl.h"

namespace uvpn::router {

int64_t Router::PoolMaxAgeMs() const { return std::min<int64_t>(2000, opt_.header_timeout_ms / 3); }

int Router::TakePooledLeg(uint32_t li) {
  Link& l = links_[li];
  if (opt_.leg_pool <= 0) {
    ++l.legs_dialled;
    return -1;
  }
  if (!l.refill) {
    l.refill = true;
    refill_.push_back(li);
  }
  while (!l.pool.empty()) {
    Link::PooledLeg p = l.pool.front();
    l.pool.erase(l.pool.begin());
    pollfd pf{p.fd, POLLIN | POLLOUT | POLLRDHUP, 0};
    bool live = now_ms_ - p.born_ms <= PoolMaxAgeMs() && poll(&pf, 1, 0) == 1 &&
                (pf.revents & (POLLIN | POLLERR | POLLHUP | POLLRDHUP)) == 0 && (pf.revents & POLLOUT) != 0;
    if (live) {
      ++l.legs_pooled;
      return p.fd;
    }
    close(p.fd);  // still connecting, too old, or closed by the peer
  }
  ++l.legs_dialled;
  return -1;
}

void Router::RefillLegPools() {
  for (uint32_t li : refill_) {
    Link& l = links_[li];
    l.refill = false;
    if (l.state != LinkState::kUp || LinkCut(li)) continue;
    while (l.pool.size() < static_cast<size_t>(opt_.leg_pool)) {
      bool in_progress = false;
      auto c = ConnectFrom(self_->peer.ip, l.endpoint, &in_progress);
      if (!c) {
        LOG_DEBUG("leg pool %s: %s", l.site.c_str(), c.error().message().c_str());
        break;
      }
      l.pool.push_back({c->Release(), now_ms_});
    }
  }
  refill_.clear();
}

void Router::ExpireLegPools() {
  int64_t max_age = PoolMaxAgeMs();
  for (Link& l : links_) {
    while (!l.pool.empty() && now_ms_ - l.pool.front().born_ms > max_age) {
      close(l.pool.front().fd);
      l.pool.erase(l.pool.begin());
    }
  }
}

void Router::DropLegPool(uint32_t li) {
  for (const Link::PooledLeg& p : links_[li].pool) close(p.fd);
  links_[li].pool.clear();
}

}  // namespace uvpn::router
