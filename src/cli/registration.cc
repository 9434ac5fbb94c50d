#include "cli/registration.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <sys/random.h>

#include "proto/auth.h"
#include "sysio/net.h"

namespace uvpn::cli {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<Lease> Register(const Endpoint& router, Ip4 want_vip, const std::string& name, int timeout_ms,
                       const uint8_t* nk) {
  int64_t deadline = NowMs() + timeout_ms;
  auto fd = sysio::ConnectTcpBlocking(router, timeout_ms);
  if (!fd) return Status(fd.error().code(), "home router " + FormatEndpoint(router) + ": " + fd.error().message());
  proto::RegisterMsg msg;
  msg.want_vip = want_vip;
  msg.pid = static_cast<uint32_t>(getpid());
  if (name.size() > proto::kMaxName || (!name.empty() && !proto::ValidHostName(name.data(), name.size())))
    return Status::Invalid("bad host name '" + name + "': 1..63 of [A-Za-z0-9._-]");
  msg.name_len = static_cast<uint8_t>(name.size());
  memcpy(msg.name, name.data(), name.size());
  if (nk) {
    msg.auth = true;
    msg.ts_ms = static_cast<uint64_t>(proto::RealtimeMs());
    if (getrandom(msg.nonce, sizeof msg.nonce, 0) != static_cast<ssize_t>(sizeof msg.nonce))
      return Status::Errno(errno, "getrandom");
  }
  uint8_t buf[256];
  size_t n = proto::Encode(msg, buf, sizeof buf);
  if (nk) proto::SignRegister(nk, buf, n);
  if (Status st = sysio::WriteAll(fd->get(), buf, n); !st.ok()) return st;

  size_t have = 0;
  for (;;) {
    proto::MsgType type;
    size_t total = 0;
    proto::Parse p = proto::PeekPrefix(buf, have, &type, &total);
    if (p == proto::Parse::kBad) return Status(EPROTO, "home router sent a malformed answer");
    if (p == proto::Parse::kOk && have >= total) {
      if (type == proto::MsgType::kRegisterOk) {
        proto::RegisterOkMsg ok;
        size_t used;
        if (proto::Decode(buf, have, &ok, &used) != proto::Parse::kOk)
          return Status(EPROTO, "home router sent a malformed REGISTER_OK");
        if (nk && (!ok.auth || !proto::CheckRegisterOk(nk, msg.nonce, buf, total)))
          return Status(EACCES, "home router's REGISTER_OK failed authentication (another session secret?)");
        Lease lease;
        if (nk) {
          lease.keyed = true;
          proto::DeriveLeaseKey(nk, ok.vip, ok.real_ip, lease.key);
        }
        lease.conn = std::move(*fd);
        lease.vip = ok.vip;
        lease.real_ip = ok.real_ip;
        lease.network = Cidr{ok.net, ok.net_prefix};
        lease.heartbeat_s = ok.heartbeat_s;
        lease.name.assign(ok.name, ok.name_len);
        return lease;
      }
      if (type == proto::MsgType::kRegisterErr) {
        proto::RegisterErrMsg err;
        size_t used;
        if (proto::Decode(buf, have, &err, &used) != proto::Parse::kOk)
          return Status(EPROTO, "home router sent a malformed REGISTER_ERR");
        return Status(proto::WireCodeToErrno(err.code),
                      "home router refused the registration: " + std::string(err.text, err.text_len));
      }
      return Status(EPROTO, "home router sent an unexpected message");
    }
    int64_t left = deadline - NowMs();
    if (left <= 0) return Status(ETIMEDOUT, "home router did not answer the registration in time");
    pollfd pfd{fd->get(), POLLIN, 0};
    int rc = poll(&pfd, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    ssize_t r = recv(fd->get(), buf + have, sizeof buf - have, 0);
    if (r == 0) return Status(ECONNRESET, "home router closed the registration connection");
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::Errno(errno, "registration");
    }
    have += static_cast<size_t>(r);
  }
}

Status SendHeartbeat(const Lease& lease, uint32_t seq) {
  proto::HeartbeatMsg hb{seq};
  uint8_t buf[proto::kHeartbeatSize];
  size_t n = proto::Encode(hb, buf, sizeof buf);
  ssize_t w = send(lease.conn.get(), buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0 && errno != EAGAIN && errno != EINTR) return Status::Errno(errno, "heartbeat");
  return Status::Ok();
}

Status DrainRouter(const Lease& lease) {
  uint8_t buf[512];
  // Bounded: a router (or an impostor) that keeps sending must not keep the supervisor from its other duties.
  for (int i = 0; i < 64; ++i) {
    ssize_t r = recv(lease.conn.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) continue;  // heartbeat answers: their arrival is all that matters
    if (r == 0) return Status(ECONNRESET, "home router closed the registration connection");
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::Ok();
    if (errno == EINTR) continue;
    return Status::Errno(errno, "registration connection");
  }
  return Status::Ok();
}

}  // namespace uvpn::cli
