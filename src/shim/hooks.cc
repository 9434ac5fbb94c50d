// The interposed calls (docs/shim.md has the exact semantics of each).
//
// Theory of operation: each hook first asks whether the call concerns the overlay, using only what it already
// has (the address argument, the result of the real call, an atomic counter); only then does it spend system
// calls (fstat for the inode, getsockname/getpeername for validation) or talk to the router. Everything else
// is a tail call into libc. Hooks are extern "C", noexcept, return what libc would (-1 and errno), and
// preserve errno on success. State lives in the inode-keyed cache (cache.h); the router answers whatever the
// cache lost (LOOKUP).
#include <fcntl.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "proto/client.h"
#include "proto/wire.h"
#include "shim/cache.h"
#include "shim/config.h"
#include "shim/libc.h"
#include "shim/routerio.h"
#include "shim/slog.h"
#include "shim/sockaddr.h"
#include "shim/udp.h"

// The hooks carry C++ names of their own bound to the libc symbol names with asm labels: glibc declares the
// cancellation points (connect, accept, accept4) without noexcept, and clang rejects a noexcept
// redeclaration.
#define UVPN_HOOK(ret, name, params) \
  extern "C" __attribute__((visibility("default"))) ret uvpn_hook_##name params noexcept __asm__(#name)
UVPN_HOOK(int, connect, (int fd, const struct sockaddr* addr, socklen_t len));
UVPN_HOOK(int, accept, (int fd, struct sockaddr* addr, socklen_t* len));
UVPN_HOOK(int, accept4, (int fd, struct sockaddr* addr, socklen_t* len, int flags));
UVPN_HOOK(int, bind, (int fd, const struct sockaddr* addr, socklen_t len));
UVPN_HOOK(int, getsockname, (int fd, struct sockaddr* addr, socklen_t* len));
UVPN_HOOK(int, getpeername, (int fd, struct sockaddr* addr, socklen_t* len));
UVPN_HOOK(int, getsockopt, (int fd, int level, int name, void* val, socklen_t* len));

namespace uvpn::shim {
namespace {

constexpr int kAcceptHeaderWaitMs = 2000;
// Silence after which accept asks the router whether it knows the connection at all.
constexpr int kAcceptQuietMs = 100;
constexpr int kAcceptLookupMs = 500;
constexpr int kNameLookupMs = 2000;
constexpr int kBrokenLookupMs = 500;

int Fail(int err) {
  errno = err;
  return -1;
}

bool IsNonBlocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK) != 0;
}

bool RealLocal(int fd, Ep* ep) {
  sockaddr_storage ss;
  socklen_t l = sizeof ss;
  bool v6;
  return Real().getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &l) == 0 &&
         ToEp(reinterpret_cast<sockaddr*>(&ss), l, ep, &v6);
}

bool RealPeer(int fd, Ep* ep) {
  sockaddr_storage ss;
  socklen_t l = sizeof ss;
  bool v6;
  return Real().getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &l) == 0 &&
         ToEp(reinterpret_cast<sockaddr*>(&ss), l, ep, &v6);
}

void WarnUnreachable(const Config& cfg) {
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true)) Line(LogLevel::kWarn).S("home router ").E(cfg.router).S(" unreachable").Emit();
}

// Moves a client entry out of kPending into `to` with `err` (only if it is still pending).
struct Transition {
  CState to;
  int err;
};
bool ApplyTransition(Entry* e, void* ctx) {
  auto* t = static_cast<Transition*>(ctx);
  if (e->state != CState::kPending && e->state != CState::kEstablished) return false;
  e->state = t->to;
  e->err = static_cast<uint16_t>(t->err);
  e->flags = static_cast<uint8_t>(e->flags & ~kFlagStatusOwed);
  return true;
}
void SetState(uint64_t ino, CState to, int err) {
  Transition t{to, err};
  CacheUpdate(ino, &ApplyTransition, &t);
}

// Waits for the path result of a pending client (docs/shim.md, SO_ERROR). Returns 0 or the errno.
// `kernel_err` is an error the kernel already reported on the router connection (0 if none).
int AwaitResult(const Config& cfg, int fd, const Entry& e, int kernel_err) {
  if ((e.flags & kFlagStatusOwed) != 0 && kernel_err == 0) {
    int res = ETIMEDOUT;
    (void)AwaitStatus(fd, NowMs() + cfg.timeout_ms, false, &res);
    return res;
  }
  int wait = kernel_err != 0 && cfg.timeout_ms > kBrokenLookupMs ? kBrokenLookupMs : cfg.timeout_ms;
  proto::LookupReplyMsg m;
  if (!Lookup(cfg, e.real_local, e.real_peer.port, NowMs() + wait, true, &m))
    return kernel_err != 0 ? kernel_err : ETIMEDOUT;
  if (m.state == proto::RelayState::kFailed) {
    int err = proto::WireCodeToErrno(m.code);
    return err != 0 ? err : EPROTO;
  }
  return 0;  // established, or established and already closed
}

// connect() on a socket the cache knows as a diverted client.
int ConnectAgain(const Config& cfg, int fd, uint64_t ino, const Entry& e) {
  switch (e.state) {
    case CState::kPending: {
      int res = AwaitResult(cfg, fd, e, 0);
      SetState(ino, res == 0 ? CState::kConnected : CState::kFailedReported, res);
      return res == 0 ? 0 : Fail(res);
    }
    case CState::kEstablished:
      SetState(ino, CState::kConnected, 0);
      return 0;
    case CState::kFailed:
    case CState::kFailedReported:
      return Fail(e.err != 0 ? e.err : ECONNREFUSED);
    default:
      return Fail(EISCONN);
  }
}

// Virtual endpoints of a connected socket with real ends local/peer: from the cache (validated), else from
// the router if the peer is the router. False: not an overlay connection (or unknown).
bool VirtualOf(const Config& cfg, int fd, const Ep& local, const Ep& peer, Entry* out) {
  uint64_t ino = Inode(fd);
  Entry e;
  if (CacheFind(ino, &e) && e.real_local == local && e.real_peer == peer) {
    if (e.kind == Kind::kClient || e.kind == Kind::kAccepted) {
      *out = e;
      return true;
    }
    if (e.kind == Kind::kNotOverlay) return false;
  }
  if (peer.ip != cfg.router.ip) return false;
  int wait = cfg.timeout_ms < kNameLookupMs ? cfg.timeout_ms : kNameLookupMs;
  proto::LookupReplyMsg m;
  if (!Lookup(cfg, local, peer.port, NowMs() + wait, false, &m)) return false;
  Entry n;
  n.ino = ino;
  n.real_local = local;
  n.real_peer = peer;
  if (m.state == proto::RelayState::kUnknown) {
    n.kind = Kind::kNotOverlay;
    CachePut(n);
    return false;
  }
  n.virt_local = Ep{m.local_vip, m.local_port};
  n.virt_peer = Ep{m.peer_vip, m.peer_port};
  n.kind = peer.port == cfg.router.port ? Kind::kClient : Kind::kAccepted;
  switch (m.state) {
    case proto::RelayState::kPending:
      n.state = CState::kPending;
      break;
    case proto::RelayState::kFailed:
      n.state = CState::kFailedReported;
      n.err = static_cast<uint16_t>(proto::WireCodeToErrno(m.code));
      break;
    default:
      // Whether this process (image) already saw connect() return for it is unknown; like the kernel's socket
      // still in SS_CONNECTING, the next connect() returns 0 and the one after EISCONN.
      n.state = n.kind == Kind::kClient ? CState::kEstablished : CState::kConnected;
      break;
  }
  CachePut(n);
  if (LogOn(LogLevel::kDebug))
    Line(LogLevel::kDebug).S("lookup ").E(local).S(" -> ").E(n.virt_local).S(" peer ").E(n.virt_peer).Emit();
  *out = n;
  return true;
}

int DoConnect(const Config& cfg, int fd, const Ep& dst, bool v6) {
  uint64_t ino = Inode(fd);
  Entry e;
  Ep peer, local;
  bool peer_known = RealPeer(fd, &peer);
  // Already diverted (connect again). A path that failed was reset by the router, so getpeername says ENOTCONN:
  // the cache entry (same inode, a client of ours) is then the only witness, and it carries the errno.
  if (!peer_known && CacheFind(ino, &e) && e.kind == Kind::kClient && e.real_peer == cfg.router)
    return ConnectAgain(cfg, fd, ino, e);
  if (peer_known && peer == cfg.router) {
    // From the cache, or from the router after execve.
    if (CacheFind(ino, &e) && e.kind == Kind::kClient && e.real_peer == peer)
      return ConnectAgain(cfg, fd, ino, e);
    if (RealLocal(fd, &local) && VirtualOf(cfg, fd, local, peer, &e) && e.kind == Kind::kClient)
      return ConnectAgain(cfg, fd, e.ino, e);
  }

  int err = ConnectRouter(cfg, fd, v6);
  if (err == ENETUNREACH) WarnUnreachable(cfg);
  if (err != 0) return Fail(err);

  if (!RealLocal(fd, &local)) local = Ep{};
  bool nonblocking = IsNonBlocking(fd);
  uint8_t buf[proto::kConnHeaderAuthSize];
  size_t hdr_len = proto::EncodeClientHeader(cfg.vip, local.port, dst.ip, dst.port, nonblocking, cfg.Key(), buf);

  Entry n;
  n.ino = ino;
  n.real_local = local;
  n.real_peer = cfg.router;
  n.virt_local = Ep{cfg.vip, local.port};
  n.virt_peer = dst;
  n.kind = Kind::kClient;
  n.state = CState::kPending;
  n.flags = nonblocking ? 0 : kFlagStatusOwed;
  CachePut(n);  // before the header leaves, so a racing SO_ERROR finds it

  int64_t deadline = NowMs() + cfg.timeout_ms;
  err = SendAll(fd, buf, hdr_len, deadline);
  if (err != 0) {
    if (err == EPIPE) err = ECONNRESET;
    SetState(ino, CState::kFailedReported, err);
    return Fail(err);
  }
  if (LogOn(LogLevel::kDebug))
    Line(LogLevel::kDebug)
        .S("connect ")
        .E(n.virt_local)
        .S(" -> ")
        .E(dst)
        .S(nonblocking ? " (non-blocking)" : "")
        .Emit();
  if (nonblocking) return Fail(EINPROGRESS);

  int res = ETIMEDOUT;
  if (AwaitStatus(fd, deadline, true, &res) == EINTR) return Fail(EINTR);  // stays pending, STATUS owed
  SetState(ino, res == 0 ? CState::kConnected : CState::kFailedReported, res);
  if (res != 0) {
    if (LogOn(LogLevel::kInfo))
      Line(LogLevel::kInfo).S("connect to ").E(dst).S(" failed, errno ").I(res).Emit();
    return Fail(res);
  }
  return 0;
}

int DoAccept(int fd, struct sockaddr* addr, socklen_t* len, int flags, bool four) {
  const RealFns& real = Real();
  Config cfg = GetConfig();
  if (!cfg.valid) return four ? real.accept4(fd, addr, len, flags) : real.accept(fd, addr, len);
  sockaddr_storage ps;
  socklen_t pl = sizeof ps;
  // A bad application addrlen must fail like the kernel's, before a connection is taken off the queue.
  if (addr != nullptr && (len == nullptr || static_cast<int>(*len) < 0))
    return Fail(len == nullptr ? EFAULT : EINVAL);
  int c = four ? real.accept4(fd, reinterpret_cast<sockaddr*>(&ps), &pl, flags)
               : real.accept(fd, reinterpret_cast<sockaddr*>(&ps), &pl);
  if (c < 0) return c;
  int saved = errno;
  Ep peer;
  bool v6;
  if (!ToEp(reinterpret_cast<sockaddr*>(&ps), pl, &peer, &v6) || peer.ip != cfg.router.ip) {
    CopyOut(&ps, pl, addr, len);
    return c;
  }
  Entry n;
  n.ino = Inode(c);
  n.real_peer = peer;
  if (!RealLocal(c, &n.real_local)) n.real_local = Ep{};
  // The header normally arrives with the handshake. If the peer stays silent, ask the router: a connection it
  // does not know (a direct one from the head node, e.g. a server-speaks-first protocol) is returned at once.
  proto::ConnHeader h;
  int64_t start = NowMs();
  HeaderRead hr = ReadHopTwoHeader(c, start + kAcceptQuietMs, &h);
  if (hr == HeaderRead::kSilent) {
    proto::LookupReplyMsg m;
    bool unknown = Lookup(cfg, n.real_local, peer.port, NowMs() + kAcceptLookupMs, false, &m) &&
                   m.state == proto::RelayState::kUnknown;
    hr = unknown ? HeaderRead::kNotHeader : ReadHopTwoHeader(c, start + kAcceptHeaderWaitMs, &h);
  }
  if (hr != HeaderRead::kHeader) {
    n.kind = Kind::kNotOverlay;
    CachePut(n);
    if (LogOn(LogLevel::kInfo))
      Line(LogLevel::kInfo).S("accept from ").E(peer).S(": no header, untouched").Emit();
    CopyOut(&ps, pl, addr, len);
    errno = saved;
    return c;
  }
  n.kind = Kind::kAccepted;
  n.state = CState::kConnected;
  n.virt_local = Ep{h.dst_vip, h.dst_port};
  n.virt_peer = Ep{h.src_vip, h.src_port};
  CachePut(n);
  if (LogOn(LogLevel::kDebug))
    Line(LogLevel::kDebug).S("accept ").E(n.virt_peer).S(" -> ").E(n.virt_local).Emit();
  sockaddr_storage vs;
  socklen_t vl = FromEp(n.virt_peer, v6, &vs);
  CopyOut(&vs, vl, addr, len);
  errno = saved;
  return c;
}

}  // namespace
}  // namespace uvpn::shim

using namespace uvpn::shim;  // NOLINT(google-build-using-namespace): hooks live in the global namespace

int uvpn_hook_connect(int fd, const struct sockaddr* addr, socklen_t len) noexcept {
  const RealFns& real = Real();
  Config cfg = GetConfig();
  Ep dst;
  bool v6;
  if (!cfg.valid || !ToEp(addr, len, &dst, &v6) || !cfg.InNet(dst.ip)) {
    UdpForgetPeer(fd);  // one branch unless fd is a connected overlay UDP socket
    return real.connect(fd, addr, len);
  }
  int saved = errno;
  int type = SocketType(fd);
  if (type == SOCK_DGRAM) {  // docs/shim.md "UDP"
    int r = UdpConnect(cfg, fd, dst, v6);
    if (r == 0) errno = saved;
    return r;
  }
  if (type != SOCK_STREAM) {  // anything else to a virtual address: untouched
    errno = saved;
    return real.connect(fd, addr, len);
  }
  int r = DoConnect(cfg, fd, dst, v6);
  if (r == 0) errno = saved;
  return r;
}

int uvpn_hook_accept(int fd, struct sockaddr* addr, socklen_t* len) noexcept {
  int r = DoAccept(fd, addr, len, 0, false);
  UdpFdReplaced(r);
  return r;
}

int uvpn_hook_accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) noexcept {
  int r = DoAccept(fd, addr, len, flags, true);
  UdpFdReplaced(r);
  return r;
}

int uvpn_hook_bind(int fd, const struct sockaddr* addr, socklen_t len) noexcept {
  const RealFns& real = Real();
  Config cfg = GetConfig();
  Ep ep;
  bool v6;
  if (!cfg.valid || !ToEp(addr, len, &ep, &v6) || ep.ip != cfg.vip) return real.bind(fd, addr, len);
  sockaddr_storage ss;
  socklen_t l = FromEp(Ep{cfg.real, ep.port}, v6, &ss);
  int r = real.bind(fd, reinterpret_cast<sockaddr*>(&ss), l);
  if (r != 0) return r;
  int saved = errno;
  Entry n;
  n.ino = Inode(fd);
  if (!RealLocal(fd, &n.real_local)) n.real_local = Ep{cfg.real, ep.port};
  n.virt_local = Ep{cfg.vip, n.real_local.port};
  n.kind = Kind::kBoundVirtual;
  CachePut(n);
  errno = saved;
  return 0;
}

int uvpn_hook_getsockname(int fd, struct sockaddr* addr, socklen_t* len) noexcept {
  const RealFns& real = Real();
  Config cfg = GetConfig();
  if (!cfg.valid || addr == nullptr || len == nullptr || static_cast<int>(*len) < 0)
    return real.getsockname(fd, addr, len);
  sockaddr_storage ls;
  socklen_t ll = sizeof ls;
  int r = real.getsockname(fd, reinterpret_cast<sockaddr*>(&ls), &ll);
  if (r != 0) return r;
  int saved = errno;
  Ep local;
  bool v6;
  if (!ToEp(reinterpret_cast<sockaddr*>(&ls), ll, &local, &v6) || local.ip != cfg.real) {
    CopyOut(&ls, ll, addr, len);
    return 0;
  }
  Ep virt;
  bool found = false;
  Entry e;
  Ep peer;
  if (RealPeer(fd, &peer)) {
    found = VirtualOf(cfg, fd, local, peer, &e);
    virt = e.virt_local;
  }
  if (!found && CacheFind(Inode(fd), &e) && e.kind == Kind::kBoundVirtual && e.real_local == local) {
    found = true;
    virt = e.virt_local;
  }
  if (found) {
    sockaddr_storage vs;
    socklen_t vl = FromEp(virt, v6, &vs);
    CopyOut(&vs, vl, addr, len);
  } else {
    CopyOut(&ls, ll, addr, len);
  }
  errno = saved;
  return 0;
}

int uvpn_hook_getpeername(int fd, struct sockaddr* addr, socklen_t* len) noexcept {
  const RealFns& real = Real();
  Config cfg = GetConfig();
  if (!cfg.valid || addr == nullptr || len == nullptr || static_cast<int>(*len) < 0)
    return real.getpeername(fd, addr, len);
  sockaddr_storage ps;
  socklen_t pl = sizeof ps;
  int r = real.getpeername(fd, reinterpret_cast<sockaddr*>(&ps), &pl);
  if (r != 0) return r;
  int saved = errno;
  Ep peer, local;
  bool v6;
  Entry e;
  Ep udp_peer;
  if (ToEp(reinterpret_cast<sockaddr*>(&ps), pl, &peer, &v6) && peer == cfg.router && UdpPeer(fd, &udp_peer)) {
    sockaddr_storage vs;  // connected overlay UDP socket (docs/shim.md "UDP")
    socklen_t vl = FromEp(udp_peer, v6, &vs);
    CopyOut(&vs, vl, addr, len);
    errno = saved;
    return 0;
  }
  if (ToEp(reinterpret_cast<sockaddr*>(&ps), pl, &peer, &v6) && peer.ip == cfg.router.ip &&
      RealLocal(fd, &local) && VirtualOf(cfg, fd, local, peer, &e)) {
    sockaddr_storage vs;
    socklen_t vl = FromEp(e.virt_peer, v6, &vs);
    CopyOut(&vs, vl, addr, len);
  } else {
    CopyOut(&ps, pl, addr, len);
  }
  errno = saved;
  return 0;
}

int uvpn_hook_getsockopt(int fd, int level, int name, void* val, socklen_t* len) noexcept {
  const RealFns& real = Real();
  if (level != SOL_SOCKET || name != SO_ERROR || CachePendingHint() <= 0 || val == nullptr ||
      len == nullptr || *len < sizeof(int))
    return real.getsockopt(fd, level, name, val, len);
  int saved = errno;
  Config cfg = GetConfig();
  uint64_t ino = Inode(fd);
  Entry e;
  Ep peer;
  // The inode identifies the socket; its real peer confirms it unless the router already reset it (a failed
  // path: getpeername then says ENOTCONN, and the cached entry is all we have -- which is what we want).
  bool peer_known = RealPeer(fd, &peer);
  if (!cfg.valid || !CacheFind(ino, &e) || e.kind != Kind::kClient || e.state != CState::kPending ||
      (peer_known && !(peer == cfg.router))) {
    errno = saved;
    return real.getsockopt(fd, level, name, val, len);
  }
  int kernel_err = 0;
  socklen_t kl = sizeof kernel_err;
  if (real.getsockopt(fd, SOL_SOCKET, SO_ERROR, &kernel_err, &kl) != 0) return -1;
  int res = AwaitResult(cfg, fd, e, kernel_err);
  SetState(ino, res == 0 ? CState::kEstablished : CState::kFailedReported, res);
  memcpy(val, &res, sizeof res);
  *len = sizeof res;
  errno = saved;
  return 0;
}
