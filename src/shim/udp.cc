// Datagrams to and from virtual addresses (docs/shim.md "UDP", docs/protocol.md section 9).
//
// Theory of operation: a datagram to V:port leaves the application's own socket as one datagram to the home
// router's node endpoint, a 24-byte UDP_DATA header in front of the payload (an extra iovec, no copy).
// Datagrams from the router carry the virtual source in the same header; every receive call that can see them
// strips it (moves the payload to the front of the caller's buffers) and reports the virtual source. Two
// tables indexed by fd number, in static storage, say which fds are *overlay UDP sockets* (a bitmap) and the
// virtual peer of a connected one; read/write/send/recv on other fds cost one branch.
// recvfrom/recvmsg/recvmmsg check every datagram's real source (they get it for free), so a server bound to a
// wildcard needs no marking. On a marked fd, receives use a 24-byte tail buffer of our own so the header
// never costs the caller capacity. Real functions are found with dlsym(RTLD_NEXT) on first use (atomic
// pointer per function, benign race).
#include "shim/real_sym.h"
#include "shim/udp.h"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

#include "proto/auth.h"
#include "proto/wire.h"
#include "shim/libc.h"
#include "shim/sockaddr.h"

#define UVPN_HOOK(ret, name, params) \
  extern "C" __attribute__((visibility("default"))) ret uvpn_hook_##name params noexcept __asm__(#name)
UVPN_HOOK(ssize_t, sendto,
          (int fd, const void* buf, size_t len, int flags, const struct sockaddr* addr, socklen_t alen));
UVPN_HOOK(ssize_t, send, (int fd, const void* buf, size_t len, int flags));
UVPN_HOOK(ssize_t, sendmsg, (int fd, const struct msghdr* msg, int flags));
UVPN_HOOK(int, sendmmsg, (int fd, struct mmsghdr* vec, unsigned int vlen, int flags));
UVPN_HOOK(ssize_t, write, (int fd, const void* buf, size_t len));
UVPN_HOOK(ssize_t, recvfrom,
          (int fd, void* buf, size_t len, int flags, struct sockaddr* addr, socklen_t* alen));
UVPN_HOOK(ssize_t, recv, (int fd, void* buf, size_t len, int flags));
UVPN_HOOK(ssize_t, recvmsg, (int fd, struct msghdr* msg, int flags));
UVPN_HOOK(int, recvmmsg, (int fd, struct mmsghdr* vec, unsigned int vlen, int flags, struct timespec* tmo));
UVPN_HOOK(ssize_t, read, (int fd, void* buf, size_t len));
UVPN_HOOK(int, close, (int fd));
UVPN_HOOK(ssize_t, __read_chk, (int fd, void* buf, size_t len, size_t buflen));
UVPN_HOOK(ssize_t, __recv_chk, (int fd, void* buf, size_t len, size_t buflen, int flags));
UVPN_HOOK(ssize_t, __recvfrom_chk,
          (int fd, void* buf, size_t len, size_t buflen, int flags, struct sockaddr* addr, socklen_t* alen));

namespace uvpn::shim {
namespace {

using proto::kUdpHeaderSize;

constexpr int kMaxFd = 65536;
// iovecs per message the hooks handle (on the stack; threads may have small stacks). More: see docs/shim.md.
constexpr size_t kMaxIov = 64;
std::atomic<uint64_t> g_bits[kMaxFd / 64];
std::atomic<uint64_t> g_peer[kMaxFd];        // PackEp of the virtual peer + 1, 0 = none
std::atomic<uint64_t> g_other[kMaxFd / 64];  // SO_TYPE asked: not a datagram socket (cleared by close)

inline bool Marked(int fd) {
  return static_cast<unsigned>(fd) < kMaxFd &&
         ((g_bits[fd >> 6].load(std::memory_order_relaxed) >> (fd & 63)) & 1) != 0;
}
void Mark(int fd) {
  if (static_cast<unsigned>(fd) < kMaxFd && !Marked(fd))
    g_bits[fd >> 6].fetch_or(uint64_t{1} << (fd & 63), std::memory_order_relaxed);
}
bool PeerOf(int fd, Ep* ep) {
  uint64_t v = g_peer[fd].load(std::memory_order_relaxed);
  if (v == 0) return false;
  *ep = UnpackEp(v - 1);
  return true;
}

using SendmsgFn = ssize_t (*)(int, const struct msghdr*, int);
using RecvmsgFn = ssize_t (*)(int, struct msghdr*, int);

ssize_t RealSendmsg(int fd, const msghdr* m, int flags) {
  REAL(sendmsg, SendmsgFn);
  return real_sendmsg(fd, m, flags);
}
ssize_t RealRecvmsg(int fd, msghdr* m, int flags) {
  REAL(recvmsg, RecvmsgFn);
  return real_recvmsg(fd, m, flags);
}

// True (and marks fd) if fd is a datagram socket; the SO_TYPE question is asked once per fd.
bool DgramMark(int fd) {
  if (Marked(fd)) return true;
  if (SocketType(fd) != SOCK_DGRAM) return false;
  Mark(fd);
  return true;
}

// True if fd is known as a datagram socket; asks SO_TYPE once per fd (the answer is kept until close), so
// that every receive on a datagram socket can use the tail buffer: a small caller buffer (iperf3 reads a
// 4-byte hello with recvfrom) would otherwise cut the header. errno is preserved.
bool KnowDgram(int fd) {
  if (Marked(fd)) return true;
  if (static_cast<unsigned>(fd) >= kMaxFd) return false;
  uint64_t bit = uint64_t{1} << (fd & 63);
  if (g_other[fd >> 6].load(std::memory_order_relaxed) & bit) return false;
  int saved = errno;
  bool dgram = SocketType(fd) == SOCK_DGRAM;
  errno = saved;
  if (dgram)
    Mark(fd);
  else
    g_other[fd >> 6].fetch_or(bit, std::memory_order_relaxed);
  return dgram;
}

// One datagram to virtual `dst`: header iovec + the caller's. `to_router`: add the router's address (an
// unconnected send); else the socket is connected to the router already.
ssize_t SendOverlay(const Config& cfg, int fd, const Ep& dst, bool v6, bool to_router, const msghdr* user,
                    int flags) {
  if (user->msg_iovlen + 2 > kMaxIov) {
    errno = EMSGSIZE;
    return -1;
  }
  size_t total = 0;
  for (size_t i = 0; i < user->msg_iovlen; ++i) total += user->msg_iov[i].iov_len;
  const size_t trailer_len = cfg.has_key ? proto::kUdpAuthTrailer : 0;
  if (total + trailer_len > proto::kUdpMaxPayload) {
    errno = EMSGSIZE;
    return -1;
  }
  proto::UdpHeader h;
  h.auth = cfg.has_key;
  h.src_vip = cfg.vip;
  h.dst_vip = dst.ip;
  h.dst_port = dst.port;
  h.payload_len = static_cast<uint16_t>(total);
  uint8_t hdr[kUdpHeaderSize];
  proto::Encode(h, hdr, sizeof hdr);
  uint8_t trailer[proto::kUdpAuthTrailer];
  if (cfg.has_key) proto::SignUdp(cfg.key, hdr, trailer);  // docs/protocol.md section 12
  iovec iov[kMaxIov];
  iov[0] = {hdr, sizeof hdr};
  for (size_t i = 0; i < user->msg_iovlen; ++i) iov[i + 1] = user->msg_iov[i];
  msghdr m = *user;
  m.msg_iov = iov;
  m.msg_iovlen = user->msg_iovlen + 1;
  if (cfg.has_key) iov[m.msg_iovlen++] = {trailer, sizeof trailer};
  sockaddr_storage rs;
  if (to_router) {
    m.msg_name = &rs;
    m.msg_namelen = FromEp(cfg.router, v6, &rs);
  } else {
    m.msg_name = nullptr;
    m.msg_namelen = 0;
  }
  ssize_t r = RealSendmsg(fd, &m, flags);
  if (r < 0) return r;
  return r >= static_cast<ssize_t>(kUdpHeaderSize + trailer_len) ? static_cast<ssize_t>(total) : 0;
}

// Byte `off` of the logical stream of iovecs, as a cursor.
struct Cursor {
  const iovec* iov;
  size_t n;
  size_t seg = 0;
  size_t off = 0;
  void Skip(size_t k) {
    while (k > 0 && seg < n) {
      size_t room = iov[seg].iov_len - off;
      if (k < room) {
        off += k;
        return;
      }
      k -= room;
      ++seg;
      off = 0;
    }
    while (seg < n && iov[seg].iov_len == off) {
      ++seg;
      off = 0;
    }
  }
  uint8_t* At() const { return static_cast<uint8_t*>(iov[seg].iov_base) + off; }
  size_t Room() const { return iov[seg].iov_len - off; }
};

// Copies the first `k` bytes of the iovec stream into out.
void Gather(const iovec* iov, size_t n, uint8_t* out, size_t k) {
  Cursor c{iov, n};
  c.Skip(0);
  while (k > 0 && c.seg < n) {
    size_t m = c.Room() < k ? c.Room() : k;
    memcpy(out, c.At(), m);
    out += m;
    k -= m;
    c.Skip(m);
  }
}

// Moves bytes [shift, len) of the iovec stream to [0, len - shift).
void ShiftLeft(const iovec* iov, size_t n, size_t shift, size_t len) {
  Cursor d{iov, n};
  Cursor s{iov, n};
  d.Skip(0);
  s.Skip(shift);
  size_t left = len - shift;
  while (left > 0 && d.seg < n && s.seg < n) {
    size_t m = d.Room() < s.Room() ? d.Room() : s.Room();
    if (m > left) m = left;
    memmove(d.At(), s.At(), m);
    d.Skip(m);
    s.Skip(m);
    left -= m;
  }
}

// The receive path of every hook: one real recvmsg (more only to discard datagrams a connected overlay socket
// must not see). `user` is the caller's msghdr (msg_name may be null).
ssize_t RecvCore(const Config& cfg, int fd, msghdr* user, int flags) {
  bool marked = KnowDgram(fd);
  if (user->msg_iovlen >= kMaxIov) return RealRecvmsg(fd, user, flags);
  iovec iov[kMaxIov];
  size_t user_cap = 0;
  for (size_t i = 0; i < user->msg_iovlen; ++i) {
    iov[i] = user->msg_iov[i];
    user_cap += iov[i].iov_len;
  }
  uint8_t tail[kUdpHeaderSize];
  size_t niov = user->msg_iovlen;
  if (marked) iov[niov++] = {tail, sizeof tail};
  size_t cap = user_cap + (marked ? sizeof tail : 0);
  Ep peer;
  bool connected = marked && PeerOf(fd, &peer);
  for (;;) {
    sockaddr_storage ss;
    msghdr m = *user;
    m.msg_name = &ss;
    m.msg_namelen = sizeof ss;
    m.msg_iov = iov;
    m.msg_iovlen = niov;
    m.msg_flags = 0;
    ssize_t r = RealRecvmsg(fd, &m, flags);
    if (r < 0) return r;
    size_t got = static_cast<size_t>(r) < cap ? static_cast<size_t>(r) : cap;
    bool len_known = (flags & MSG_TRUNC) != 0 || (m.msg_flags & MSG_TRUNC) == 0;
    Ep src;
    bool v6 = false;
    proto::UdpHeader h;
    bool overlay = false;
    if (m.msg_namelen > 0 && ToEp(reinterpret_cast<sockaddr*>(&ss), m.msg_namelen, &src, &v6) &&
        src == cfg.router && got >= kUdpHeaderSize) {
      uint8_t hb[kUdpHeaderSize];
      Gather(iov, niov, hb, sizeof hb);
      size_t used;
      overlay = proto::Decode(hb, sizeof hb, &h, &used) == proto::Parse::kOk &&
                h.hop == proto::Hop::kRouterToDest &&
                (len_known ? static_cast<size_t>(r) == kUdpHeaderSize + h.payload_len
                           : kUdpHeaderSize + h.payload_len > cap);
    }
    int out_flags = m.msg_flags & ~MSG_TRUNC;
    ssize_t ret;
    if (overlay) {
      if (connected && !(Ep{h.src_vip, h.src_port} == peer) && (flags & MSG_PEEK) == 0) continue;
      ShiftLeft(iov, niov, kUdpHeaderSize, got);
      size_t payload = h.payload_len;
      size_t delivered = payload < user_cap ? payload : user_cap;
      if (payload > user_cap) out_flags |= MSG_TRUNC;
      ret = static_cast<ssize_t>((flags & MSG_TRUNC) ? payload : delivered);
      Mark(fd);
      if (user->msg_name != nullptr) {
        sockaddr_storage vs;
        socklen_t vl = FromEp(Ep{h.src_vip, h.src_port}, v6, &vs);
        CopyOut(&vs, vl, static_cast<sockaddr*>(user->msg_name), &user->msg_namelen);
      }
    } else {
      size_t full = len_known ? static_cast<size_t>(r) : cap + 1;
      size_t delivered = got < user_cap ? got : user_cap;
      if (full > user_cap) out_flags |= MSG_TRUNC;
      ret = static_cast<ssize_t>((flags & MSG_TRUNC) ? static_cast<size_t>(r) : delivered);
      if (user->msg_name != nullptr)
        CopyOut(&ss, m.msg_namelen, static_cast<sockaddr*>(user->msg_name), &user->msg_namelen);
    }
    user->msg_controllen = m.msg_controllen;
    user->msg_flags = out_flags;
    return ret;
  }
}

ssize_t RecvBuf(const Config& cfg, int fd, void* buf, size_t len, int flags, sockaddr* addr,
                socklen_t* alen) {
  iovec v{buf, len};
  msghdr m{};
  m.msg_iov = &v;
  m.msg_iovlen = 1;
  if (addr != nullptr && alen != nullptr) {
    m.msg_name = addr;
    m.msg_namelen = *alen;
  }
  ssize_t r = RecvCore(cfg, fd, &m, flags);
  if (r >= 0 && addr != nullptr && alen != nullptr) *alen = m.msg_namelen;
  return r;
}

ssize_t SendConnected(const Config& cfg, int fd, const void* buf, size_t len, int flags, const Ep& peer) {
  iovec v{const_cast<void*>(buf), len};
  msghdr m{};
  m.msg_iov = &v;
  m.msg_iovlen = 1;
  return SendOverlay(cfg, fd, peer, false, false, &m, flags);
}

}  // namespace

int SocketType(int fd) {
  int type = 0;
  socklen_t l = sizeof type;
  if (Real().getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0) return -1;
  return type;
}

int UdpConnect(const Config& cfg, int fd, const Ep& dst, bool v6) {
  if (static_cast<unsigned>(fd) >= kMaxFd) {
    errno = ENETUNREACH;
    return -1;
  }
  sockaddr_storage rs;
  socklen_t rl = FromEp(cfg.router, v6, &rs);
  int r = Real().connect(fd, reinterpret_cast<sockaddr*>(&rs), rl);
  if (r != 0) return r;
  g_peer[fd].store(PackEp(dst) + 1, std::memory_order_relaxed);
  Mark(fd);
  return 0;
}

bool UdpPeer(int fd, Ep* ep) {
  return Marked(fd) && PeerOf(fd, ep);
}

void UdpForgetPeer(int fd) {
  if (Marked(fd)) g_peer[fd].store(0, std::memory_order_relaxed);
}

}  // namespace uvpn::shim

using namespace uvpn::shim;  // NOLINT(google-build-using-namespace): hooks live in the global namespace

ssize_t uvpn_hook_sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* addr,
                         socklen_t alen) noexcept {
  using Fn = ssize_t (*)(int, const void*, size_t, int, const sockaddr*, socklen_t);
  REAL(sendto, Fn);
  Ep peer;
  if (addr == nullptr) {
    if (Marked(fd) && PeerOf(fd, &peer)) return SendConnected(GetConfig(), fd, buf, len, flags, peer);
    return real_sendto(fd, buf, len, flags, addr, alen);
  }
  Config cfg = GetConfig();
  Ep dst;
  bool v6;
  if (!ToEp(addr, alen, &dst, &v6) || !cfg.InNet(dst.ip)) return real_sendto(fd, buf, len, flags, addr, alen);
  int saved = errno;
  if (!DgramMark(fd)) {
    errno = saved;
    return real_sendto(fd, buf, len, flags, addr, alen);
  }
  iovec v{const_cast<void*>(buf), len};
  msghdr m{};
  m.msg_iov = &v;
  m.msg_iovlen = 1;
  ssize_t r = SendOverlay(cfg, fd, dst, v6, true, &m, flags);
  if (r >= 0) errno = saved;
  return r;
}

ssize_t uvpn_hook_send(int fd, const void* buf, size_t len, int flags) noexcept {
  using Fn = ssize_t (*)(int, const void*, size_t, int);
  Ep peer;
  if (Marked(fd) && PeerOf(fd, &peer)) return SendConnected(GetConfig(), fd, buf, len, flags, peer);
  REAL(send, Fn);
  return real_send(fd, buf, len, flags);
}

ssize_t uvpn_hook_write(int fd, const void* buf, size_t len) noexcept {
  using Fn = ssize_t (*)(int, const void*, size_t);
  Ep peer;
  if (Marked(fd) && PeerOf(fd, &peer)) return SendConnected(GetConfig(), fd, buf, len, 0, peer);
  REAL(write, Fn);
  return real_write(fd, buf, len);
}

ssize_t uvpn_hook_sendmsg(int fd, const struct msghdr* msg, int flags) noexcept {
  if (msg != nullptr) {
    Ep peer;
    if (msg->msg_name == nullptr) {
      if (Marked(fd) && PeerOf(fd, &peer))
        return SendOverlay(GetConfig(), fd, peer, false, false, msg, flags);
    } else {
      Config cfg = GetConfig();
      Ep dst;
      bool v6;
      if (ToEp(static_cast<const sockaddr*>(msg->msg_name), msg->msg_namelen, &dst, &v6) &&
          cfg.InNet(dst.ip)) {
        int saved = errno;
        if (DgramMark(fd)) {
          ssize_t r = SendOverlay(cfg, fd, dst, v6, true, msg, flags);
          if (r >= 0) errno = saved;
          return r;
        }
        errno = saved;
      }
    }
  }
  return RealSendmsg(fd, msg, flags);
}

int uvpn_hook_sendmmsg(int fd, struct mmsghdr* vec, unsigned int vlen, int flags) noexcept {
  using Fn = int (*)(int, struct mmsghdr*, unsigned int, int);
  REAL(sendmmsg, Fn);
  Config cfg = GetConfig();
  bool overlay = cfg.valid && vec != nullptr && Marked(fd);
  for (unsigned i = 0; cfg.valid && vec != nullptr && !overlay && i < vlen; ++i) {
    Ep dst;
    bool v6;
    const msghdr& h = vec[i].msg_hdr;
    overlay = h.msg_name != nullptr &&
              ToEp(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen, &dst, &v6) && cfg.InNet(dst.ip);
  }
  if (!overlay) return real_sendmmsg(fd, vec, vlen, flags);
  int saved = errno;
  unsigned i = 0;
  for (; i < vlen; ++i) {
    ssize_t r = uvpn_hook_sendmsg(fd, &vec[i].msg_hdr, flags);
    if (r < 0) {
      if (i == 0) return -1;
      break;
    }
    vec[i].msg_len = static_cast<unsigned>(r);
  }
  errno = saved;
  return static_cast<int>(i);
}

ssize_t uvpn_hook_recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* addr,
                           socklen_t* alen) noexcept {
  Config cfg = GetConfig();
  if (!cfg.valid) {
    using Fn = ssize_t (*)(int, void*, size_t, int, sockaddr*, socklen_t*);
    REAL(recvfrom, Fn);
    return real_recvfrom(fd, buf, len, flags, addr, alen);
  }
  return RecvBuf(cfg, fd, buf, len, flags, addr, alen);
}

ssize_t uvpn_hook_recv(int fd, void* buf, size_t len, int flags) noexcept {
  if (Marked(fd)) return RecvBuf(GetConfig(), fd, buf, len, flags, nullptr, nullptr);
  using Fn = ssize_t (*)(int, void*, size_t, int);
  REAL(recv, Fn);
  return real_recv(fd, buf, len, flags);
}

ssize_t uvpn_hook_read(int fd, void* buf, size_t len) noexcept {
  using Fn = ssize_t (*)(int, void*, size_t);
  if (Marked(fd)) {
    int saved = errno;
    ssize_t r = RecvBuf(GetConfig(), fd, buf, len, 0, nullptr, nullptr);
    if (r >= 0 || errno != ENOTSOCK) return r;
    errno = saved;  // not a socket after all (closed behind our back): forget it
    g_bits[fd >> 6].fetch_and(~(uint64_t{1} << (fd & 63)), std::memory_order_relaxed);
    g_peer[fd].store(0, std::memory_order_relaxed);
  }
  REAL(read, Fn);
  return real_read(fd, buf, len);
}

ssize_t uvpn_hook_recvmsg(int fd, struct msghdr* msg, int flags) noexcept {
  Config cfg = GetConfig();
  if (!cfg.valid || msg == nullptr) return RealRecvmsg(fd, msg, flags);
  return RecvCore(cfg, fd, msg, flags);
}

int uvpn_hook_recvmmsg(int fd, struct mmsghdr* vec, unsigned int vlen, int flags,
                       struct timespec* tmo) noexcept {
  Config cfg = GetConfig();
  if (!cfg.valid || vec == nullptr || vlen == 0) {
    using Fn = int (*)(int, struct mmsghdr*, unsigned int, int, struct timespec*);
    REAL(recvmmsg, Fn);
    return real_recvmmsg(fd, vec, vlen, flags, tmo);
  }
  int saved = errno;
  unsigned i = 0;
  for (; i < vlen; ++i) {
    int f = flags & ~MSG_WAITFORONE;
    if (i > 0) f |= MSG_DONTWAIT;
    ssize_t r = RecvCore(cfg, fd, &vec[i].msg_hdr, f);
    if (r < 0) {
      if (i == 0) return -1;
      break;
    }
    vec[i].msg_len = static_cast<unsigned>(r);
  }
  errno = saved;
  return static_cast<int>(i);
}

namespace uvpn::shim {

void UdpFdReplaced(int fd) {
  if (static_cast<unsigned>(fd) >= kMaxFd) return;
  uint64_t bit = uint64_t{1} << (fd & 63);
  if (g_bits[fd >> 6].load(std::memory_order_relaxed) & bit) {
    g_peer[fd].store(0, std::memory_order_relaxed);
    g_bits[fd >> 6].fetch_and(~bit, std::memory_order_relaxed);
  }
  if (g_other[fd >> 6].load(std::memory_order_relaxed) & bit) g_other[fd >> 6].fetch_and(~bit, std::memory_order_relaxed);
}

void UdpFdDuplicated(int oldfd, int newfd) {
  UdpFdReplaced(newfd);
  if (!Marked(oldfd) || static_cast<unsigned>(newfd) >= kMaxFd) return;
  g_peer[newfd].store(g_peer[oldfd].load(std::memory_order_relaxed), std::memory_order_relaxed);
  Mark(newfd);
}

}  // namespace uvpn::shim

int uvpn_hook_close(int fd) noexcept {
  using Fn = int (*)(int);
  if (Marked(fd)) {
    g_peer[fd].store(0, std::memory_order_relaxed);
    g_bits[fd >> 6].fetch_and(~(uint64_t{1} << (fd & 63)), std::memory_order_relaxed);
  } else if (static_cast<unsigned>(fd) < kMaxFd &&
             (g_other[fd >> 6].load(std::memory_order_relaxed) >> (fd & 63)) & 1) {
    g_other[fd >> 6].fetch_and(~(uint64_t{1} << (fd & 63)), std::memory_order_relaxed);
  }
  REAL(close, Fn);
  return real_close(fd);
}

// _FORTIFY_SOURCE variants: the size check stays with libc.
ssize_t uvpn_hook___read_chk(int fd, void* buf, size_t len, size_t buflen) noexcept {
  using Fn = ssize_t (*)(int, void*, size_t, size_t);
  if (len <= buflen && Marked(fd)) return uvpn_hook_read(fd, buf, len);
  REAL(__read_chk, Fn);
  return real___read_chk(fd, buf, len, buflen);
}

ssize_t uvpn_hook___recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) noexcept {
  using Fn = ssize_t (*)(int, void*, size_t, size_t, int);
  if (len <= buflen && Marked(fd)) return uvpn_hook_recv(fd, buf, len, flags);
  REAL(__recv_chk, Fn);
  return real___recv_chk(fd, buf, len, buflen, flags);
}

ssize_t uvpn_hook___recvfrom_chk(int fd, void* buf, size_t len, size_t buflen, int flags,
                                 struct sockaddr* addr, socklen_t* alen) noexcept {
  using Fn = ssize_t (*)(int, void*, size_t, size_t, int, sockaddr*, socklen_t*);
  if (len <= buflen) return uvpn_hook_recvfrom(fd, buf, len, flags, addr, alen);
  REAL(__recvfrom_chk, Fn);
  return real___recvfrom_chk(fd, buf, len, buflen, flags, addr, alen);
}
