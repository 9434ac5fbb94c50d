// The echo server behind `rtt server` and `connrate server`.
//
// Theory of operation: epoll mode keeps every socket non-blocking and level-triggered. The listener is drained
// with accept4(SOCK_NONBLOCK | SOCK_CLOEXEC) until EAGAIN; each connection reads into its own fixed buffer
// (allocated once, at start-up, for `max_conns` slots) and writes it back. If the write is short, the rest waits
// for EPOLLOUT and reading pauses, so a connection never holds more than one buffer. A connection closes at EOF
// or on any error. Blocking mode is the plain `accept` loop of simple servers: one connection at a time, served
// to EOF, with a receive timeout so a stuck client cannot hold it forever. Both end at the deadline.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "bench_util.h"

namespace uvpn::bench {
namespace {

constexpr size_t kBufSize = 16384;

int Listen(const Endpoint& ep, bool nonblocking) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) {
    std::perror("socket");
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(ep.port);
  sa.sin_addr.s_addr = htonl(ep.ip);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 4096) != 0) {
    std::fprintf(stderr, "echo server: bind/listen %s: %s\n", FormatEndpoint(ep).c_str(), strerror(errno));
    ::close(fd);
    return -1;
  }
  std::printf("listening %s\n", FormatEndpoint(ep).c_str());
  std::fflush(stdout);
  return fd;
}

struct Conn {
  int fd = -1;
  size_t off = 0, len = 0;  // pending bytes buf[off, len) still to write
  std::vector<char> buf;
};

int RunEpoll(const EchoServerOptions& o, int64_t deadline) {
  int lfd = Listen(o.listen, true);
  if (lfd < 0) return 1;
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> slots(static_cast<size_t>(o.max_conns));
  for (auto& c : slots) c.buf.resize(kBufSize);
  std::vector<size_t> free_slots;
  for (size_t i = slots.size(); i-- > 0;) free_slots.push_back(i);
  constexpr uint64_t kListener = ~uint64_t{0};
  epoll_event ev{EPOLLIN, {.u64 = kListener}};
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

  auto close_slot = [&](size_t i) {
    ::close(slots[i].fd);  // also removes it from the epoll set
    slots[i].fd = -1;
    free_slots.push_back(i);
  };
  epoll_event events[64];
  while (NowNs() < deadline) {
    int n = ::epoll_wait(ep, events, 64, 200);
    if (n < 0 && errno != EINTR) {
      std::perror("epoll_wait");
      return 1;
    }
    for (int k = 0; k < n; ++k) {
      if (events[k].data.u64 == kListener) {
        for (;;) {
          int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;  // EAGAIN, or a connection that died before we took it
          if (free_slots.empty()) {
            ::close(cfd);
            continue;
          }
          size_t i = free_slots.back();
          free_slots.pop_back();
          int one = 1;
          ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          slots[i].fd = cfd;
          slots[i].off = slots[i].len = 0;
          epoll_event cev{EPOLLIN, {.u64 = i}};
          ::epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
        }
        continue;
      }
      size_t i = events[k].data.u64;
      Conn& c = slots[i];
      if (c.fd < 0) continue;  // closed earlier in this batch
      if (c.off == c.len) {
        ssize_t r = ::read(c.fd, c.buf.data(), kBufSize);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          close_slot(i);
          continue;
        }
        if (r < 0) continue;
        c.off = 0;
        c.len = static_cast<size_t>(r);
      }
      ssize_t w = ::write(c.fd, c.buf.data() + c.off, c.len - c.off);
      if (w < 0 && errno != EAGAIN && errno != EINTR) {
        close_slot(i);
        continue;
      }
      if (w > 0) c.off += static_cast<size_t>(w);
      bool pending = c.off < c.len;
      if (!pending) c.off = c.len = 0;
      epoll_event cev{pending ? static_cast<uint32_t>(EPOLLOUT) : static_cast<uint32_t>(EPOLLIN), {.u64 = i}};
      if (pending || (events[k].events & EPOLLOUT)) ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &cev);
    }
  }
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i].fd >= 0) ::close(slots[i].fd);
  ::close(ep);
  ::close(lfd);
  return 0;
}

int RunBlocking(const EchoServerOptions& o, int64_t deadline) {
  int lfd = Listen(o.listen, false);
  if (lfd < 0) return 1;
  timeval accept_tv{0, 200000};  // wake up to check the deadline
  ::setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &accept_tv, sizeof accept_tv);
  std::vector<char> buf(kBufSize);
  while (NowNs() < deadline) {
    int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (cfd < 0) continue;  // timeout (EAGAIN), EINTR, or an aborted connection
    int one = 1;
    ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{10, 0};
    ::setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    while (NowNs() < deadline) {
      ssize_t r = ::read(cfd, buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || !WriteExact(cfd, buf.data(), static_cast<size_t>(r)).ok()) break;
    }
    ::close(cfd);
  }
  ::close(lfd);
  return 0;
}

}  // namespace

int RunEchoServer(const EchoServerOptions& options) {
  int64_t deadline = NowNs() + static_cast<int64_t>(options.max_seconds) * 1000000000;
  return options.epoll ? RunEpoll(options, deadline) : RunBlocking(options, deadline);
}

}  // namespace uvpn::bench
