// See state.h.
#include "trace/state.h"

#include "proto/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <time.h>

#include <cstring>

namespace uvpn::trace {

bool Cache::Find(uint64_t ino, Entry* out) const {
  auto it = map_.find(ino);
  if (it == map_.end()) return false;
  *out = it->second;
  return true;
}

void Cache::Put(const Entry& e) {
  auto it = map_.find(e.ino);
  if (it != map_.end()) {
    if (it->second.kind == Kind::kClient && it->second.state == CState::kPending) --pending_;
    it->second = e;
  } else {
    while (map_.size() >= kMaxEntries && !order_.empty()) {
      auto old = map_.find(order_.front());
      order_.pop_front();
      if (old == map_.end()) continue;
      if (old->second.kind == Kind::kClient && old->second.state == CState::kPending) --pending_;
      map_.erase(old);
    }
    map_.emplace(e.ino, e);
    order_.push_back(e.ino);
    if (order_.size() > 2 * kMaxEntries) order_.pop_front();
  }
  if (e.kind == Kind::kClient && e.state == CState::kPending) ++pending_;
}

void Cache::Transition(uint64_t ino, CState to, int err) {
  auto it = map_.find(ino);
  if (it == map_.end()) return;
  Entry& e = it->second;
  if (e.state != CState::kPending && e.state != CState::kEstablished) return;
  if (e.state == CState::kPending) --pending_;
  e.state = to;
  e.err = err;
  e.status_owed = false;
  if (to == CState::kPending) ++pending_;
}

bool ToEp(const sockaddr_storage& ss, socklen_t len, Endpoint* ep, bool* v6) {
  return proto::SockaddrToV4(reinterpret_cast<const sockaddr*>(&ss), len, &ep->ip, &ep->port, v6);
}

socklen_t FromEp(const Endpoint& ep, bool v6, sockaddr_storage* out) {
  return proto::V4ToSockaddr(ep.ip, ep.port, v6, out);
}

namespace {
template <typename F>
bool NameOf(F f, int fd, Endpoint* ep, bool* v6) {
  sockaddr_storage ss;
  socklen_t l = sizeof ss;
  bool is6;
  if (f(fd, reinterpret_cast<sockaddr*>(&ss), &l) != 0 || !ToEp(ss, l, ep, &is6)) return false;
  if (v6 != nullptr) *v6 = is6;
  return true;
}
}  // namespace

bool LocalPort(int fd, uint16_t* port) {
  sockaddr_storage ss;
  socklen_t l = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &l) != 0) return false;
  if (ss.ss_family == AF_INET && l >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    *port = ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    return true;
  }
  if (ss.ss_family == AF_INET6 && l >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    *port = ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return true;
  }
  return false;
}

bool Any6(const sockaddr_storage& ss, socklen_t len, uint16_t* port) {
  if (ss.ss_family != AF_INET6 || len < static_cast<socklen_t>(sizeof(sockaddr_in6))) return false;
  sockaddr_in6 a;
  memcpy(&a, &ss, sizeof a);
  if (!IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr)) return false;
  *port = ntohs(a.sin6_port);
  return true;
}

bool LocalOf(int fd, Endpoint* ep, bool* v6) { return NameOf(::getsockname, fd, ep, v6); }
bool PeerOf(int fd, Endpoint* ep, bool* v6) { return NameOf(::getpeername, fd, ep, v6); }

uint64_t InodeOf(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

bool IsStream(int fd) {
  int type = 0;
  socklen_t l = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 && type == SOCK_STREAM;
}

bool IsNonBlocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK) != 0;
}

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace uvpn::trace
