// See ops.h. Each operation is a small state machine over non-blocking calls on a monitor-side duplicate of
// the tracee's socket (or a private UDP socket for LOOKUP); nothing here blocks.
#include "trace/ops.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "proto/auth.h"
#include "proto/client.h"
#include "trace/state.h"

namespace uvpn::trace {
namespace {

constexpr int kLanWaitMs = 1000;

class LanOp : public Op {
 public:
  LanOp(SharedFd fd, std::function<Next(int)> then) : fd_(std::move(fd)), then_(std::move(then)) {
    wait_ = {fd_->get(), POLLOUT, NowMs() + kLanWaitMs};
  }
  bool Advance(bool ready, Next* next) override {
    if (!ready) {
      *next = then_(ENETUNREACH);
      return true;
    }
    int soerr = 0;
    socklen_t l = sizeof soerr;
    int err = getsockopt(fd_->get(), SOL_SOCKET, SO_ERROR, &soerr, &l) != 0 ? errno : soerr;
    *next = then_(proto::HomeRouterErrno(err));
    return true;
  }

 private:
  SharedFd fd_;
  std::function<Next(int)> then_;
};

class StatusOp : public Op {
 public:
  StatusOp(SharedFd fd, int64_t deadline, std::function<Next(int)> then)
      : fd_(std::move(fd)), then_(std::move(then)) {
    wait_ = {fd_->get(), POLLIN, deadline};
  }
  bool Advance(bool, Next* next) override {
    while (got_ < sizeof buf_) {
      ssize_t r = recv(fd_->get(), buf_ + got_, sizeof buf_ - got_, MSG_DONTWAIT);
      if (r > 0) {
        got_ += static_cast<size_t>(r);
        continue;
      }
      if (r == 0) return Done(ECONNRESET, next);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return Done(errno, next);
      if (NowMs() >= wait_.deadline) return Done(ETIMEDOUT, next);
      return false;
    }
    proto::StatusMsg st;
    size_t used;
    if (proto::Decode(buf_, got_, &st, &used) != proto::Parse::kOk) return Done(EPROTO, next);
    return Done(proto::WireCodeToErrno(st.code), next);
  }

 private:
  bool Done(int res, Next* next) {
    *next = then_(res);
    return true;
  }
  SharedFd fd_;
  std::function<Next(int)> then_;
  uint8_t buf_[proto::kStatusSize];
  size_t got_ = 0;
};

class HeaderOp : public Op {
 public:
  HeaderOp(const uint8_t* key, SharedFd fd, int64_t deadline,
           std::function<Next(HeaderRead, const proto::ConnHeader&)> then)
      : fd_(std::move(fd)), deadline_(deadline), then_(std::move(then)) {
    wait_ = {fd_->get(), POLLIN, deadline};
    if (key) memcpy(key_, key, sizeof key_), has_key_ = true;
  }
  bool Advance(bool, Next* next) override {
    uint8_t buf[proto::kConnHeaderAuthSize];
    ssize_t r;
    do r = recv(fd_->get(), buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r == 0) return Done(HeaderRead::kNotHeader, next);
    if (r < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) return Done(HeaderRead::kNotHeader, next);
      r = 0;
    }
    size_t used;
    proto::Parse p = proto::DecodeHopTwo(buf, static_cast<size_t>(r), has_key_ ? key_ : nullptr, &hdr_, &used);
    if (p == proto::Parse::kBad) return Done(HeaderRead::kNotHeader, next);
    if (p == proto::Parse::kOk) {
      ssize_t c;
      do c = recv(fd_->get(), buf, used, MSG_DONTWAIT);
      while (c < 0 && errno == EINTR);
      return Done(c == static_cast<ssize_t>(used) ? HeaderRead::kHeader : HeaderRead::kNotHeader, next);
    }
    int64_t now = NowMs();
    if (now >= deadline_) return Done(r > 0 ? HeaderRead::kTimeout : HeaderRead::kSilent, next);
    // A valid prefix stays readable: poll would spin, so look again in 1 ms instead.
    wait_ = r > 0 ? Wait{-1, 0, now + 1 < deadline_ ? now + 1 : deadline_} : Wait{fd_->get(), POLLIN, deadline_};
    return false;
  }

 private:
  bool Done(HeaderRead r, Next* next) {
    *next = then_(r, hdr_);
    return true;
  }
  SharedFd fd_;
  int64_t deadline_;
  std::function<Next(HeaderRead, const proto::ConnHeader&)> then_;
  proto::ConnHeader hdr_;
  uint8_t key_[32] = {};
  bool has_key_ = false;
};

class LookupOp : public Op {
 public:
  LookupOp(const uint8_t* key, const Endpoint& router, const Endpoint& local, uint16_t router_port, int64_t deadline,
           bool until_resolved, std::function<Next(bool, const proto::LookupReplyMsg&)> then)
      : router_(router), deadline_(deadline), until_resolved_(until_resolved), then_(std::move(then)) {
    static std::atomic<uint32_t> counter{0};
    sock_.Reset(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (sock_.valid()) {
      sockaddr_storage ss;
      socklen_t len = FromEp(Endpoint{local.ip, 0}, false, &ss);
      (void)bind(sock_.get(), reinterpret_cast<sockaddr*>(&ss), len);  // best effort: the router checks the ip
    }
    proto::LookupMsg q;
    q.query_id = (static_cast<uint32_t>(getpid()) << 16) ^ counter.fetch_add(1, std::memory_order_relaxed);
    q.node_ip = local.ip;
    q.node_port = local.port;
    q.router_port = router_port;
    query_id_ = q.query_id;
    q.auth = key != nullptr;
    out_len_ = proto::Encode(q, out_, sizeof out_);
    if (key) proto::SignTrailer(key, out_, proto::kLookupSize, out_ + proto::kLookupSize);  // protocol.md s. 12
    Send();
  }
  bool Advance(bool ready, Next* next) override {
    while (ready && sock_.valid()) {
      uint8_t in[64];
      ssize_t r = recv(sock_.get(), in, sizeof in, MSG_DONTWAIT);
      if (r < 0) break;  // EAGAIN, or an ICMP error: wait for the next resend
      proto::LookupReplyMsg m;
      size_t used;
      if (proto::Decode(in, static_cast<size_t>(r), &m, &used) != proto::Parse::kOk || m.query_id != query_id_)
        continue;
      if (until_resolved_ &&
          (m.state == proto::RelayState::kUnknown || m.state == proto::RelayState::kPending))
        continue;  // ask again at the next resend
      *next = then_(true, m);
      return true;
    }
    int64_t now = NowMs();
    if (now >= deadline_ || !sock_.valid()) {
      *next = then_(false, proto::LookupReplyMsg{});
      return true;
    }
    if (now >= resend_) Send();
    return false;
  }

 private:
  void Send() {
    if (sock_.valid()) {
      sockaddr_storage rs;
      socklen_t rlen = FromEp(router_, false, &rs);
      (void)sendto(sock_.get(), out_, out_len_, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&rs), rlen);
    }
    int64_t now = NowMs();
    resend_ = now + interval_;
    interval_ = interval_ * 2 > 200 ? 200 : interval_ * 2;
    wait_ = {sock_.get(), POLLIN, resend_ < deadline_ ? resend_ : deadline_};
  }
  Endpoint router_;
  int64_t deadline_;
  bool until_resolved_;
  std::function<Next(bool, const proto::LookupReplyMsg&)> then_;
  sysio::Fd sock_;
  uint32_t query_id_ = 0;
  uint8_t out_[proto::kLookupSize + proto::kUdpAuthTrailer];
  size_t out_len_ = 0;
  int64_t resend_ = 0;
  int interval_ = 20;
};

}  // namespace

std::unique_ptr<Op> WaitLan(SharedFd fd, std::function<Next(int)> then) {
  return std::make_unique<LanOp>(std::move(fd), std::move(then));
}

std::unique_ptr<Op> WaitStatus(SharedFd fd, int64_t deadline, std::function<Next(int)> then) {
  return std::make_unique<StatusOp>(std::move(fd), deadline, std::move(then));
}

std::unique_ptr<Op> WaitHeader(const uint8_t* key, SharedFd fd, int64_t deadline,
                               std::function<Next(HeaderRead, const proto::ConnHeader&)> then) {
  return std::make_unique<HeaderOp>(key, std::move(fd), deadline, std::move(then));
}

std::unique_ptr<Op> Lookup(const uint8_t* key, const Endpoint& router, const Endpoint& local, uint16_t router_port, int64_t deadline,
                           bool until_resolved, std::function<Next(bool, const proto::LookupReplyMsg&)> then) {
  return std::make_unique<LookupOp>(key, router, local, router_port, deadline, until_resolved, std::move(then));
}

int StartLan(int fd, const Endpoint& router, bool v6) {
  sockaddr_storage ss;
  socklen_t len = FromEp(router, v6, &ss);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return errno;
  if ((fl & O_NONBLOCK) == 0) (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  int r = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  int err = r == 0 ? 0 : errno;
  if ((fl & O_NONBLOCK) == 0) (void)fcntl(fd, F_SETFL, fl);
  if (err == EINPROGRESS || err == EALREADY || err == EINTR) return EINPROGRESS;
  return proto::HomeRouterErrno(err);
}

int SendSmall(int fd, const uint8_t* buf, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      off += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    int err = w < 0 ? errno : EPIPE;
    return err == EPIPE ? ECONNRESET : err;
  }
  return 0;
}

}  // namespace uvpn::trace
