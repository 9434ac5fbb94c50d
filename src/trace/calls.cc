// See calls.h. The structure follows the preload library's hooks (src/shim/hooks.cc) call for call, with the
// library's blocking waits turned into Ops and its inode cache replaced by the monitor's (state.h).
#include "trace/calls.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "proto/client.h"
#include "common/log.h"
#include "trace/filter.h"

namespace uvpn::trace {
namespace {

#ifndef CLONE_UNTRACED
#define CLONE_UNTRACED 0x00800000
#endif

constexpr int kAcceptQuietMs = 100;
constexpr int kAcceptLookupMs = 500;
constexpr int kAcceptHeaderWaitMs = 2000;
constexpr int kNameLookupMs = 2000;
constexpr int kBrokenLookupMs = 500;

Verdict Run() { return Verdict::Run(); }
Verdict Skip(int64_t r) { return Verdict::Skip(r); }

// Reads a sockaddr argument; false if absent, of an impossible length, or unreadable (the kernel will say).
bool ReadAddr(pid_t tid, uint64_t addr, uint64_t len, sockaddr_storage* ss) {
  memset(ss, 0, sizeof *ss);
  if (addr == 0 || len < sizeof(sa_family_t) || len > sizeof *ss) return false;
  return ReadMem(tid, addr, ss, static_cast<size_t>(len));
}

// Copies an address out to the tracee with the kernel's rule: min(len0, srclen) bytes, then *lenp = srclen.
bool CopyOut(pid_t tid, uint64_t addr, uint64_t lenp, int32_t len0, const sockaddr_storage& src,
             socklen_t srclen) {
  size_t n = static_cast<size_t>(len0) < srclen ? static_cast<size_t>(len0) : srclen;
  return WriteMem(tid, addr, &src, n) && WriteMem(tid, lenp, &srclen, sizeof srclen);
}

Next WriteName(pid_t tid, uint64_t addr, uint64_t lenp, int32_t len0, const Endpoint& ep, bool v6) {
  sockaddr_storage vs;
  socklen_t vl = FromEp(ep, v6, &vs);
  return CopyOut(tid, addr, lenp, len0, vs, vl) ? Skip(0) : Skip(-EFAULT);
}

}  // namespace

Calls::Calls(const Options& opt)
    : opt_(opt), dgram_(proto::kUdpHeaderSize + 65536 + proto::kUdpAuthTrailer), hosts_(opt.router, opt.net) {}

Next Calls::OnEntry(pid_t tid, pid_t tgid, const CallInfo& c, ExitWatch* watch) {
  *watch = ExitWatch{};
  ++trapped_;
  const uint64_t* a = c.args;
  switch (c.nr) {
    case SYS_connect:
      return Connect(tid, tgid, a);
    case SYS_bind:
      return Bind(tid, tgid, a);
    case SYS_getsockname:
      return Name(tid, tgid, a, false);
    case SYS_getpeername:
      return Name(tid, tgid, a, true);
    case SYS_getsockopt:
      return SoError(tid, tgid, a);
    case SYS_accept:
    case SYS_accept4: {
      int32_t l = 0;
      if (a[1] != 0 && (a[2] == 0 || !ReadMem(tid, a[2], &l, sizeof l) || l < 0)) return Run();  // kernel fails it
      *watch = ExitWatch{true, a[1], a[2], l};
      return Run();
    }
    case SYS_clone:
      (void)SetArg0(tid, a[0] & ~static_cast<uint64_t>(CLONE_UNTRACED));
      return Run();
    case SYS_clone3: {
      uint64_t flags;
      if (a[0] != 0 && a[1] >= sizeof flags && ReadMem(tid, a[0], &flags, sizeof flags) &&
          (flags & CLONE_UNTRACED) != 0) {
        flags &= ~static_cast<uint64_t>(CLONE_UNTRACED);
        (void)WriteMem(tid, a[0], &flags, sizeof flags);
      }
      return Run();
    }
    case SYS_sendto:
      if (a[4] != 0) return SendTo(tid, tgid, a);
      return UdpData(tid, tgid, c.nr, a, watch);
    case SYS_recvfrom:
      if (a[4] != 0) return RecvFrom(tid, tgid, a, watch);
      return UdpData(tid, tgid, c.nr, a, watch);
    case SYS_io_uring_setup:
      return Skip(-ENOSYS);
    case SYS_open:
    case SYS_openat:
    case SYS_openat2:
      return Open(tid, c.nr, a);
    default:
      if (IsDataCall(c.nr)) return UdpData(tid, tgid, c.nr, a, watch);
      return Run();
  }
}

Next Calls::OnExit(pid_t tid, pid_t tgid, const ExitWatch& w, int64_t ret) {
  if (w.udp_recv) return RecvExit(tid, w, ret);
  if (!w.accept || ret < 0) return Run();
  return AcceptExit(tid, tgid, w, static_cast<int>(ret));
}

// ---- names: /etc/hosts --------------------------------------------------------------------------------------

Next Calls::Open(pid_t tid, long nr, const uint64_t* a) {
  static constexpr char kHosts[] = "/etc/hosts";  // with its NUL: sizeof is 11
  int arg = nr == SYS_open ? 0 : 1;
  if (nr == SYS_openat2) {  // struct open_how { u64 flags; u64 mode; u64 resolve; }, size a[3]
    uint64_t flags;
    if (a[2] == 0 || a[3] < sizeof flags || !ReadMem(tid, a[2], &flags, sizeof flags) ||
        (flags & O_ACCMODE) != O_RDONLY)
      return Run();
  } else if ((a[arg + 1] & O_ACCMODE) != O_RDONLY) {
    return Run();  // ptrace-all: every open stops
  }
  char path[sizeof kHosts];
  if (a[arg] == 0 || !ReadMem(tid, a[arg], path, sizeof path) || memcmp(path, kHosts, sizeof kHosts) != 0)
    return Run();
  const std::string& served = hosts_.Path(NowMs());
  if (served.empty()) return Run();
  LOG_DEBUG("tid %d: open /etc/hosts -> %s", static_cast<int>(tid), served.c_str());
  return Verdict::Redirect(arg, served.c_str(), a[arg]);
}

// ---- connect ---------------------------------------------------------------------------------------------------

Next Calls::Connect(pid_t tid, pid_t tgid, const uint64_t* a) {
  sockaddr_storage ss;
  Endpoint dst;
  bool v6;
  if (!ReadAddr(tid, a[1], a[2], &ss) || !ToEp(ss, static_cast<socklen_t>(a[2]), &dst, &v6) ||
      !opt_.net.contains(dst.ip))
    return Run();
  int d = TakeFd(tgid, static_cast<int>(a[0]));
  if (d < 0) return Run();
  auto sock = std::make_shared<sysio::Fd>(d);
  if (!IsStream(d)) return UdpConnect(tgid, static_cast<int>(a[0]), sock, dst, v6);
  uint64_t ino = InodeOf(d);
  Entry e;
  Endpoint peer, local;
  bool peer_known = PeerOf(d, &peer);
  // Already diverted (connect again). A failed path was reset by the router (ENOTCONN): the entry carries it.
  if (!peer_known && cache_.Find(ino, &e) && e.kind == Kind::kClient && e.real_peer == opt_.router)
    return Again(sock, ino, e);
  if (peer_known && peer == opt_.router) {
    if (cache_.Find(ino, &e) && e.kind == Kind::kClient && e.real_peer == peer) return Again(sock, ino, e);
    if (!LocalOf(d, &local)) return Skip(-EISCONN);
    return VirtualOf(sock, local, peer, [this, sock, ino](bool found, const Entry& n) -> Next {
      if (found && n.kind == Kind::kClient) return Again(sock, ino, n);
      return Skip(-EISCONN);
    });
  }
  int err = StartLan(d, opt_.router, v6);
  if (err == EINPROGRESS)
    return WaitLan(sock, [this, sock, ino, dst](int e2) -> Next { return AfterLan(sock, ino, dst, e2); });
  return AfterLan(sock, ino, dst, err);
}

Next Calls::AfterLan(const SharedFd& sock, uint64_t ino, const Endpoint& dst, int err) {
  if (err == ENETUNREACH && !warned_unreachable_) {
    warned_unreachable_ = true;
    LOG_WARN("home router %s unreachable", FormatEndpoint(opt_.router).c_str());
  }
  if (err != 0) return Skip(-err);
  int d = sock->get();
  Endpoint local;
  if (!LocalOf(d, &local)) local = Endpoint{};
  bool nonblocking = IsNonBlocking(d);
  uint8_t buf[proto::kConnHeaderAuthSize];
  size_t hdr_len = proto::EncodeClientHeader(opt_.vip, local.port, dst.ip, dst.port, nonblocking, opt_.Key(), buf);

  Entry n;
  n.ino = ino;
  n.real_local = local;
  n.real_peer = opt_.router;
  n.virt_local = Endpoint{opt_.vip, local.port};
  n.virt_peer = dst;
  n.kind = Kind::kClient;
  n.state = CState::kPending;
  n.status_owed = !nonblocking;
  cache_.Put(n);

  int64_t deadline = NowMs() + opt_.timeout_ms;
  err = SendSmall(d, buf, hdr_len);
  if (err != 0) {
    cache_.Transition(ino, CState::kFailedReported, err);
    return Skip(-err);
  }
  LOG_DEBUG("connect %s -> %s%s", FormatEndpoint(n.virt_local).c_str(), FormatEndpoint(dst).c_str(),
            nonblocking ? " (non-blocking)" : "");
  if (nonblocking) return Skip(-EINPROGRESS);
  return WaitStatus(sock, deadline, [this, ino, dst](int res) -> Next {
    cache_.Transition(ino, res == 0 ? CState::kConnected : CState::kFailedReported, res);
    if (res != 0) LOG_INFO("connect to %s failed, errno %d", FormatEndpoint(dst).c_str(), res);
    return Skip(res == 0 ? 0 : -res);
  });
}

Next Calls::Again(const SharedFd& sock, uint64_t ino, const Entry& e) {
  switch (e.state) {
    case CState::kPending:
      return AwaitResult(sock, e, 0, [this, ino](int res) -> Next {
        cache_.Transition(ino, res == 0 ? CState::kConnected : CState::kFailedReported, res);
        return Skip(res == 0 ? 0 : -res);
      });
    case CState::kEstablished:
      cache_.Transition(ino, CState::kConnected, 0);
      return Skip(0);
    case CState::kFailed:
    case CState::kFailedReported:
      return Skip(-(e.err != 0 ? e.err : ECONNREFUSED));
    default:
      return Skip(-EISCONN);
  }
}

Next Calls::AwaitResult(const SharedFd& sock, const Entry& e, int kernel_err, std::function<Next(int)> then) {
  if (e.status_owed && kernel_err == 0) return WaitStatus(sock, NowMs() + opt_.timeout_ms, std::move(then));
  int wait = kernel_err != 0 && opt_.timeout_ms > kBrokenLookupMs ? kBrokenLookupMs : opt_.timeout_ms;
  return Lookup(opt_.Key(), opt_.router, e.real_local, e.real_peer.port, NowMs() + wait, true,
                [then, kernel_err](bool ok, const proto::LookupReplyMsg& m) -> Next {
                  if (!ok) return then(kernel_err != 0 ? kernel_err : ETIMEDOUT);
                  if (m.state == proto::RelayState::kFailed) {
                    int err = proto::WireCodeToErrno(m.code);
                    return then(err != 0 ? err : EPROTO);
                  }
                  return then(0);  // established, or established and already closed
                });
}

// ---- getsockopt(SOL_SOCKET, SO_ERROR) ----------------------------------------------------------------------

Next Calls::SoError(pid_t tid, pid_t tgid, const uint64_t* a) {
  uint64_t val = a[3], lenp = a[4];
  uint32_t len = 0;
  if (cache_.pending() <= 0 || val == 0 || lenp == 0 || !ReadMem(tid, lenp, &len, sizeof len) ||
      len < sizeof(int))
    return Run();
  int d = TakeFd(tgid, static_cast<int>(a[0]));
  if (d < 0) return Run();
  auto sock = std::make_shared<sysio::Fd>(d);
  uint64_t ino = InodeOf(d);
  Entry e;
  Endpoint peer;
  bool peer_known = PeerOf(d, &peer);
  if (!cache_.Find(ino, &e) || e.kind != Kind::kClient || e.state != CState::kPending ||
      (peer_known && !(peer == opt_.router)))
    return Run();
  int kernel_err = 0;
  socklen_t kl = sizeof kernel_err;
  if (getsockopt(d, SOL_SOCKET, SO_ERROR, &kernel_err, &kl) != 0) return Run();
  return AwaitResult(sock, e, kernel_err, [this, tid, ino, val, lenp](int res) -> Next {
    cache_.Transition(ino, res == 0 ? CState::kEstablished : CState::kFailedReported, res);
    socklen_t l = sizeof res;
    if (!WriteMem(tid, val, &res, sizeof res) || !WriteMem(tid, lenp, &l, sizeof l)) return Skip(-EFAULT);
    return Skip(0);
  });
}

// ---- bind --------------------------------------------------------------------------------------------------

Next Calls::Bind(pid_t tid, pid_t tgid, const uint64_t* a) {
  sockaddr_storage ss;
  Endpoint ep;
  bool v6;
  if (!ReadAddr(tid, a[1], a[2], &ss)) return Run();
  bool known = ToEp(ss, static_cast<socklen_t>(a[2]), &ep, &v6);
  if (!known || ep.ip != opt_.vip) {
    // A wildcard bind with a port (0.0.0.0 or [::]): a UDP server, whose receives must strip headers.
    uint16_t port = 0;
    if ((known && ep.ip == 0) || Any6(ss, static_cast<socklen_t>(a[2]), &port)) {
      if ((known ? ep.port : port) != 0) return UdpBind(tgid, static_cast<int>(a[0]), ss, static_cast<socklen_t>(a[2]));
    }
    return Run();
  }
  int d = TakeFd(tgid, static_cast<int>(a[0]));
  if (d < 0) return Run();
  sysio::Fd sock(d);
  sockaddr_storage rs;
  socklen_t rl = FromEp(Endpoint{opt_.real, ep.port}, v6, &rs);
  if (bind(d, reinterpret_cast<sockaddr*>(&rs), rl) != 0) return Skip(-errno);
  Entry n;
  n.ino = InodeOf(d);
  if (!LocalOf(d, &n.real_local)) n.real_local = Endpoint{opt_.real, ep.port};
  n.virt_local = Endpoint{opt_.vip, n.real_local.port};
  n.kind = IsStream(d) ? Kind::kBoundVirtual : Kind::kUdpOverlay;
  cache_.Put(n);
  if (n.kind == Kind::kUdpOverlay && ep.port != 0) return ArmOrSkip(tgid, static_cast<int>(a[0]), 0, 0);
  return Skip(0);
}

// ---- accept (exit stop) ------------------------------------------------------------------------------------

Next Calls::AcceptExit(pid_t tid, pid_t tgid, const ExitWatch& w, int fd) {
  int d = TakeFd(tgid, fd);
  if (d < 0) return Run();
  auto sock = std::make_shared<sysio::Fd>(d);
  Endpoint peer;
  bool v6;
  if (!PeerOf(d, &peer, &v6) || peer.ip != opt_.router.ip) return Run();
  Entry n;
  n.ino = InodeOf(d);
  n.real_peer = peer;
  if (!LocalOf(d, &n.real_local)) n.real_local = Endpoint{};
  auto finish = [this, tid, w, n, v6, sock](HeaderRead hr, const proto::ConnHeader& h) -> Next {
    Entry e = n;
    if (hr != HeaderRead::kHeader) {
      e.kind = Kind::kNotOverlay;
      cache_.Put(e);
      LOG_INFO("accept from %s: no header, untouched", FormatEndpoint(e.real_peer).c_str());
      return Run();
    }
    e.kind = Kind::kAccepted;
    e.state = CState::kConnected;
    e.virt_local = Endpoint{h.dst_vip, h.dst_port};
    e.virt_peer = Endpoint{h.src_vip, h.src_port};
    cache_.Put(e);
    LOG_DEBUG("accept %s -> %s", FormatEndpoint(e.virt_peer).c_str(), FormatEndpoint(e.virt_local).c_str());
    if (w.addr != 0) {
      sockaddr_storage vs;
      socklen_t vl = FromEp(e.virt_peer, v6, &vs);
      (void)CopyOut(tid, w.addr, w.lenp, w.len0, vs, vl);
    }
    return Run();
  };
  // The header normally arrives with the handshake. If the peer stays silent, ask the router: a connection it
  // does not know (a direct one from the head node) is returned at once.
  int64_t start = NowMs();
  Endpoint local = n.real_local;
  return WaitHeader(opt_.Key(), sock, start + kAcceptQuietMs,
                    [this, sock, finish, start, local, peer](HeaderRead hr, const proto::ConnHeader& h) -> Next {
                      if (hr != HeaderRead::kSilent) return finish(hr, h);
                      return Lookup(opt_.Key(), opt_.router, local, peer.port, NowMs() + kAcceptLookupMs, false,
                                    [this, sock, finish, start](bool ok, const proto::LookupReplyMsg& m) -> Next {
                                      if (ok && m.state == proto::RelayState::kUnknown)
                                        return finish(HeaderRead::kNotHeader, proto::ConnHeader{});
                                      return WaitHeader(opt_.Key(), sock, start + kAcceptHeaderWaitMs, finish);
                                    });
                    });
}

// ---- getsockname / getpeername -----------------------------------------------------------------------------

Next Calls::VirtualOf(const SharedFd& sock, const Endpoint& local, const Endpoint& peer,
                      std::function<Next(bool, const Entry&)> then) {
  uint64_t ino = InodeOf(sock->get());
  Entry e;
  if (cache_.Find(ino, &e) && e.real_local == local && e.real_peer == peer) {
    if (e.kind == Kind::kClient || e.kind == Kind::kAccepted || e.kind == Kind::kUdpConnected) return then(true, e);
    if (e.kind == Kind::kNotOverlay) return then(false, e);
  }
  if (peer.ip != opt_.router.ip) return then(false, Entry{});
  int wait = opt_.timeout_ms < kNameLookupMs ? opt_.timeout_ms : kNameLookupMs;
  return Lookup(opt_.Key(), opt_.router, local, peer.port, NowMs() + wait, false,
                [this, ino, local, peer, then](bool ok, const proto::LookupReplyMsg& m) -> Next {
                  if (!ok) return then(false, Entry{});
                  Entry n;
                  n.ino = ino;
                  n.real_local = local;
                  n.real_peer = peer;
                  if (m.state == proto::RelayState::kUnknown) {
                    n.kind = Kind::kNotOverlay;
                    cache_.Put(n);
                    return then(false, n);
                  }
                  n.virt_local = Endpoint{m.local_vip, m.local_port};
                  n.virt_peer = Endpoint{m.peer_vip, m.peer_port};
                  n.kind = peer.port == opt_.router.port ? Kind::kClient : Kind::kAccepted;
                  switch (m.state) {
                    case proto::RelayState::kPending:
                      n.state = CState::kPending;
                      break;
                    case proto::RelayState::kFailed:
                      n.state = CState::kFailedReported;
                      n.err = proto::WireCodeToErrno(m.code);
                      break;
                    default:
                      n.state = n.kind == Kind::kClient ? CState::kEstablished : CState::kConnected;
                      break;
                  }
                  cache_.Put(n);
                  return then(true, n);
                });
}

Next Calls::Name(pid_t tid, pid_t tgid, const uint64_t* a, bool peer_side) {
  uint64_t addr = a[1], lenp = a[2];
  int32_t len0 = 0;
  if (addr == 0 || lenp == 0 || !ReadMem(tid, lenp, &len0, sizeof len0) || len0 < 0) return Run();
  int d = TakeFd(tgid, static_cast<int>(a[0]));
  if (d < 0) return Run();
  auto sock = std::make_shared<sysio::Fd>(d);
  Endpoint local, peer;
  bool v6;
  if (!peer_side) {
    if (!LocalOf(d, &local, &v6) || local.ip != opt_.real) return Run();
    uint64_t ino = InodeOf(d);
    auto bound = [this, tid, addr, lenp, len0, local, v6, ino]() -> Next {
      Entry e;
      if (cache_.Find(ino, &e) && (e.kind == Kind::kBoundVirtual || e.kind == Kind::kUdpOverlay) &&
          e.real_local == local)
        return WriteName(tid, addr, lenp, len0, e.virt_local, v6);
      return Run();
    };
    if (!PeerOf(d, &peer)) return bound();
    return VirtualOf(sock, local, peer, [tid, addr, lenp, len0, v6, bound](bool found, const Entry& e) -> Next {
      return found ? WriteName(tid, addr, lenp, len0, e.virt_local, v6) : bound();
    });
  }
  if (!PeerOf(d, &peer, &v6) || peer.ip != opt_.router.ip || !LocalOf(d, &local)) return Run();
  return VirtualOf(sock, local, peer, [tid, addr, lenp, len0, v6](bool found, const Entry& e) -> Next {
    return found ? WriteName(tid, addr, lenp, len0, e.virt_peer, v6) : Run();
  });
}

}  // namespace uvpn::trace
