// See routerio.h. Waits are poll(2) loops against an absolute deadline; EINTR restarts the poll with the time
// left, except where the contract lets the caller see it.
#include "shim/routerio.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "proto/auth.h"
#include "proto/client.h"
#include "shim/libc.h"
#include "shim/sockaddr.h"

namespace uvpn::shim {
namespace {

int Remaining(int64_t deadline) {
  int64_t left = deadline - NowMs();
  return left < 0 ? 0 : left > 1000000 ? 1000000 : static_cast<int>(left);
}

// Polls fd for `events` until deadline. Returns 1 ready, 0 timeout, -1 EINTR (only if interruptible), -2
// error.
int PollOne(int fd, short events, int64_t deadline, bool interruptible) {
  while (true) {
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, Remaining(deadline));
    if (r > 0) return 1;
    if (r == 0) return 0;
    if (errno != EINTR) return -2;
    if (interruptible) return -1;
  }
}

}  // namespace

int ConnectRouter(const Config& cfg, int fd, bool v6) {
  sockaddr_storage ss;
  socklen_t len = FromEp(cfg.router, v6, &ss);
  int r = Real().connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  int err = r == 0 ? 0 : errno;
  if (err == EINPROGRESS || err == EINTR || err == EALREADY) {
    // The LAN handshake is under way; wait for it to end (at most 1 s), then read its result.
    int p = PollOne(fd, POLLOUT, NowMs() + 1000, false);
    if (p != 1) return ENETUNREACH;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (Real().getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) return errno;
    err = soerr;
  }
  return proto::HomeRouterErrno(err);
}

int SendAll(int fd, const uint8_t* buf, size_t n, int64_t deadline) {
  size_t off = 0;
  while (off < n) {
    ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      off += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int p = PollOne(fd, POLLOUT, deadline, false);
      if (p == 1) continue;
      return p == 0 ? ETIMEDOUT : errno;
    }
    return w < 0 ? errno : EPIPE;
  }
  return 0;
}

int AwaitStatus(int fd, int64_t deadline, bool interruptible, int* result) {
  uint8_t buf[proto::kStatusSize];
  size_t got = 0;
  while (got < sizeof buf) {
    ssize_t r = recv(fd, buf + got, sizeof buf - got, MSG_DONTWAIT);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) {
      *result = ECONNRESET;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *result = errno;
      return 0;
    }
    int p = PollOne(fd, POLLIN, deadline, interruptible && got == 0);
    if (p == -1) return EINTR;
    if (p == 0) {
      *result = ETIMEDOUT;
      return 0;
    }
    if (p == -2) {
      *result = errno;
      return 0;
    }
  }
  proto::StatusMsg st;
  size_t used;
  if (proto::Decode(buf, got, &st, &used) != proto::Parse::kOk) {
    *result = EPROTO;
    return 0;
  }
  *result = proto::WireCodeToErrno(st.code);
  return 0;
}

HeaderRead ReadHopTwoHeader(int fd, int64_t deadline, proto::ConnHeader* hdr) {
  uint8_t buf[proto::kConnHeaderAuthSize];
  const Config cfg = GetConfig();
  while (true) {
    ssize_t r = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0) return HeaderRead::kNotHeader;
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return HeaderRead::kNotHeader;
      r = 0;
    }
    size_t used;
    // With a lease key, only a header the router signed for this node counts (docs/security.md).
    proto::Parse p = proto::DecodeHopTwo(buf, static_cast<size_t>(r), cfg.Key(), hdr, &used);
    if (p == proto::Parse::kBad) return HeaderRead::kNotHeader;
    if (p == proto::Parse::kOk) {
      ssize_t c;
      do c = recv(fd, buf, used, MSG_DONTWAIT);
      while (c < 0 && errno == EINTR);
      return c == static_cast<ssize_t>(used) ? HeaderRead::kHeader : HeaderRead::kNotHeader;
    }
    // A valid prefix so far (or nothing yet): wait for more. POLLIN stays set while bytes are unread, so
    // after a short header prefix, sleep briefly instead of spinning on poll.
    if (r > 0) {
      if (Remaining(deadline) == 0) return HeaderRead::kTimeout;
      timespec ts{0, 1000000};
      nanosleep(&ts, nullptr);
      continue;
    }
    if (PollOne(fd, POLLIN, deadline, false) != 1) return HeaderRead::kSilent;
  }
}

bool Lookup(const Config& cfg, const Ep& local, uint16_t router_port, int64_t deadline, bool until_resolved,
            proto::LookupReplyMsg* reply) {
  static std::atomic<uint32_t> counter{0};
  int saved = errno;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) {
    errno = saved;
    return false;
  }
  sockaddr_storage ss;
  socklen_t len = FromEp(Ep{local.ip, 0}, false, &ss);
  (void)Real().bind(s, reinterpret_cast<sockaddr*>(&ss),
                    len);  // best effort: the router checks the source ip
  sockaddr_storage rs;
  socklen_t rlen = FromEp(cfg.router, false, &rs);

  proto::LookupMsg q;
  q.query_id = (static_cast<uint32_t>(getpid()) << 16) ^ counter.fetch_add(1, std::memory_order_relaxed);
  q.node_ip = local.ip;
  q.node_port = local.port;
  q.router_port = router_port;
  q.auth = cfg.has_key;
  uint8_t out[proto::kLookupSize + proto::kUdpAuthTrailer];
  size_t out_len = proto::Encode(q, out, sizeof out);
  if (q.auth) proto::SignTrailer(cfg.key, out, proto::kLookupSize, out + proto::kLookupSize);  // section 12

  bool done = false;
  int interval = 20;
  while (!done && NowMs() < deadline) {
    (void)sendto(s, out, out_len, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&rs), rlen);
    int64_t resend = NowMs() + interval;
    if (resend > deadline) resend = deadline;
    interval = interval * 2 > 200 ? 200 : interval * 2;
    while (!done && PollOne(s, POLLIN, resend, false) == 1) {
      uint8_t in[64];
      ssize_t r = recv(s, in, sizeof in, MSG_DONTWAIT);
      if (r < 0) break;  // e.g. ECONNREFUSED from an ICMP error: wait for the next resend
      proto::LookupReplyMsg m;
      size_t used;
      if (proto::Decode(in, static_cast<size_t>(r), &m, &used) != proto::Parse::kOk ||
          m.query_id != q.query_id)
        continue;
      if (until_resolved &&
          (m.state == proto::RelayState::kUnknown || m.state == proto::RelayState::kPending))
        break;  // ask again at the next resend
      *reply = m;
      done = true;
    }
    if (!done) {
      int w = Remaining(resend);
      if (w > 0) {
        timespec ts{w / 1000, (w % 1000) * 1000000L};
        nanosleep(&ts, nullptr);
      }
    }
  }
  close(s);
  errno = saved;
  return done;
}

}  // namespace uvpn::shim
