// Datagrams to and from virtual addresses under the monitor (docs/trace.md "UDP"; wire: docs/protocol.md
// section 9; the library's equivalent: src/shim/udp.cc).
//
// Theory of operation: the filter stops sendto with a destination address and recvfrom with a source-address
// buffer (never send()/recv() of a TCP program, which pass NULL). The monitor performs such a call itself on a
// duplicate of the tracee's UDP socket (pidfd_getfd: same socket) and skips the tracee's call with the result,
// so no tracee memory is used as scratch and no argument is rewritten:
//   - sendto(V:port): the payload is read from tracee memory behind a 24-byte UDP_DATA header (hop 0) in the
//     monitor's one datagram buffer and sent to the home router's node endpoint with MSG_DONTWAIT;
//   - recvfrom: one datagram is received with MSG_DONTWAIT into that buffer; if it comes from the router's node
//     endpoint with a valid hop-2 header of the exact size, the header is dropped and the virtual source reported;
//     any other datagram is delivered as the kernel would (truncation rules included).
// connect(V:port) of a UDP socket connects the duplicate to the router, records the virtual peer (inode table)
// and answers Verdict::kArm: the monitor makes the process install a descriptor filter (filter.h BuildFdFilter)
// so that the data calls of that descriptor (write, send, read, recv, readv, writev, sendmsg, recvmsg) stop too
// and are done here the same way (UdpData).
// A blocking call that would block becomes an Op (the thread stays in its stop): it waits for POLLIN/POLLOUT on
// the duplicate, honours SO_RCVTIMEO/SO_SNDTIMEO, and looks for a signal pending for the thread at every wake-up
// and every 100 ms: then the tracee's own call is let through (the kernel answers EINTR/ERESTARTSYS at once, with
// the signal semantics of the real call) and its exit stop strips a header if a datagram won the race; a send
// waiting for room in a full send buffer (or a vector receive) answers EINTR instead (its own call would send
// the datagram raw). Single-threaded (the monitor's loop).
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "proto/auth.h"
#include "common/log.h"
#include "sysio/fd.h"
#include "trace/calls.h"

namespace uvpn::trace {
namespace {

constexpr int kSignalCheckMs = 100;
constexpr int64_t kForever = INT64_MAX / 4;

// True for a UDP socket of AF_INET or AF_INET6 (not ICMP "ping" datagram sockets, UDP-Lite, Unix sockets).
bool InetDgram(int fd, bool* nonblocking) {
  int type = 0, domain = 0, proto = 0;
  socklen_t l = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0 || type != SOCK_DGRAM) return false;
  l = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) != 0 || (domain != AF_INET && domain != AF_INET6))
    return false;
  l = sizeof proto;
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) != 0 || proto != IPPROTO_UDP) return false;
  *nonblocking = IsNonBlocking(fd);
  return true;
}

// Absolute deadline from SO_RCVTIMEO / SO_SNDTIMEO (kForever if unset).
int64_t TimeoDeadline(int fd, int opt) {
  timeval tv{};
  socklen_t l = sizeof tv;
  if (getsockopt(fd, SOL_SOCKET, opt, &tv, &l) != 0 || (tv.tv_sec == 0 && tv.tv_usec == 0)) return kForever;
  return NowMs() + static_cast<int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
}

// True if a signal that `tid` does not block is pending for it or its process (/proc/TID/status).
bool SignalPending(pid_t tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(tid));
  sysio::Fd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return false;
  char buf[4096];
  ssize_t n = read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return false;
  buf[n] = 0;
  auto field = [&](const char* key) -> uint64_t {
    const char* p = strstr(buf, key);
    return p != nullptr ? strtoull(p + strlen(key), nullptr, 16) : 0;
  };
  return ((field("\nSigPnd:") | field("\nShdPnd:")) & ~field("\nSigBlk:")) != 0;
}

// Retries `attempt` (true when finished, *next set) whenever fd is ready for `events`, until `deadline` (then
// `timeout`), or until a signal is pending for tid (then `interrupted`).
class IoWait : public Op {
 public:
  IoWait(SharedFd fd, short events, pid_t tid, int64_t deadline, std::function<bool(Next*)> attempt,
         Verdict timeout, Verdict interrupted)
      : fd_(std::move(fd)), events_(events), tid_(tid), deadline_(deadline), attempt_(std::move(attempt)),
        timeout_(timeout), interrupted_(interrupted) {
    Arm();
  }
  bool Advance(bool ready, Next* next) override {
    // A signal first: a stopped (SIGSTOP) or dying program must not consume a datagram that arrives meanwhile.
    if (SignalPending(tid_)) {
      *next = interrupted_;
      return true;
    }
    if (ready && attempt_(next)) return true;
    if (NowMs() >= deadline_) {
      *next = timeout_;
      return true;
    }
    Arm();
    return false;
  }

 private:
  void Arm() {
    int64_t t = NowMs() + kSignalCheckMs;
    wait_ = {fd_->get(), events_, t < deadline_ ? t : deadline_};
  }
  SharedFd fd_;
  short events_;
  pid_t tid_;
  int64_t deadline_;
  std::function<bool(Next*)> attempt_;
  Verdict timeout_, interrupted_;
};

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

}  // namespace

// ---- sendto(fd, buf, len, flags, V:port, alen) -----------------------------------------------------------

Next Calls::SendTo(pid_t tid, pid_t tgid, const uint64_t* a) {
  sockaddr_storage ss;
  Endpoint dst;
  bool v6;
  if (a[5] < sizeof(sa_family_t) || a[5] > sizeof ss) return Verdict::Run();
  memset(&ss, 0, sizeof ss);
  if (!ReadMem(tid, a[4], &ss, static_cast<size_t>(a[5])) || !ToEp(ss, static_cast<socklen_t>(a[5]), &dst, &v6) ||
      !opt_.net.contains(dst.ip))
    return Verdict::Run();
  int d = TakeFd(tgid, static_cast<int>(a[0]));
  if (d < 0) return Verdict::Run();
  sysio::Fd sock(d);  // moved to the heap only if the call must wait
  bool nonblocking;
  if (!InetDgram(d, &nonblocking)) return Verdict::Run();  // a stream socket ignores the address: kernel's call
  Next n = SendCore(tid, sock, nonblocking, dst, v6, false, a[1], static_cast<size_t>(a[2]), static_cast<int>(a[3]));
  if (n.op || n.verdict.kind != Verdict::kSkip || n.verdict.ret < 0) return n;
  // A UDP socket that talks to the overlay: its recv()/read()/recvmsg() must strip headers too, so its data calls
  // are trapped from now on (once per process and descriptor; if that fails, the datagram is still sent).
  Entry e;
  uint64_t ino = InodeOf(d);
  if (!cache_.Find(ino, &e) || (e.kind != Kind::kUdpConnected && e.kind != Kind::kUdpOverlay)) {
    e = Entry{};
    e.ino = ino;
    if (!LocalOf(d, &e.real_local)) e.real_local = Endpoint{};
    e.virt_local = Endpoint{opt_.vip, e.real_local.port};
    e.kind = Kind::kUdpOverlay;
    cache_.Put(e);
  }
  return ArmOrSkip(tgid, static_cast<int>(a[0]), n.verdict.ret, n.verdict.ret);
}

Next Calls::SendCore(pid_t tid, sysio::Fd& sock, bool nonblocking, const Endpoint& dst, bool v6,
                     bool connected, uint64_t buf, size_t len, int flags) {
  if (len + (opt_.has_key ? proto::kUdpAuthTrailer : 0) > proto::kUdpMaxPayload) return Verdict::Skip(-EMSGSIZE);
  if (!ReadMem(tid, buf, dgram_.data() + proto::kUdpHeaderSize, len)) return Verdict::Skip(-EFAULT);
  return SendStaged(tid, sock, nonblocking, dst, v6, connected, len, flags);
}

// The payload (len bytes) is at dgram_ + 24.
Next Calls::SendStaged(pid_t tid, sysio::Fd& sock, bool nonblocking, const Endpoint& dst, bool v6,
                       bool connected, size_t len, int flags) {
  int d = sock.get();
  if (opt_.has_key && len + proto::kUdpAuthTrailer > proto::kUdpMaxPayload) return Verdict::Skip(-EMSGSIZE);
  proto::UdpHeader h;
  h.src_vip = opt_.vip;  // the router fills src from the lease (hop 0)
  h.dst_vip = dst.ip;
  h.dst_port = dst.port;
  h.payload_len = static_cast<uint16_t>(len);
  h.auth = opt_.has_key;
  proto::Encode(h, dgram_.data(), proto::kUdpHeaderSize);
  size_t total = proto::kUdpHeaderSize + len;
  if (opt_.has_key) {  // docs/protocol.md section 12
    proto::SignUdp(opt_.key, dgram_.data(), dgram_.data() + total);
    total += proto::kUdpAuthTrailer;
  }
  sockaddr_storage rs;
  socklen_t rl = connected ? 0 : FromEp(opt_.router, v6, &rs);
  const sockaddr* to = connected ? nullptr : reinterpret_cast<const sockaddr*>(&rs);
  int sflags = (flags & (MSG_CONFIRM | MSG_DONTROUTE)) | MSG_DONTWAIT | MSG_NOSIGNAL;
  ssize_t r = sendto(d, dgram_.data(), total, sflags, to, rl);
  if (r >= 0) return Verdict::Skip(static_cast<int64_t>(len));
  int err = errno;
  if (!WouldBlock(err) || nonblocking || (flags & MSG_DONTWAIT) != 0) return Verdict::Skip(-err);
  // Send buffer full on a blocking socket: wait for room (the datagram is copied, the buffer is shared).
  auto copy = std::make_shared<std::vector<uint8_t>>(dgram_.begin(), dgram_.begin() + static_cast<long>(total));
  auto attempt = [d, copy, sflags, rs, rl, connected, len](Next* next) -> bool {
    const sockaddr* dest = connected ? nullptr : reinterpret_cast<const sockaddr*>(&rs);
    ssize_t w = sendto(d, copy->data(), copy->size(), sflags, dest, rl);
    if (w < 0 && WouldBlock(errno)) return false;
    *next = Verdict::Skip(w >= 0 ? static_cast<int64_t>(len) : -errno);
    return true;
  };
  // Interrupted: EINTR (the tracee's own call would send the datagram raw, to the virtual address).
  int64_t deadline = TimeoDeadline(d, SO_SNDTIMEO);
  auto owned = std::make_shared<sysio::Fd>(sock.Release());  // kept open by the Op (d stays valid)
  return std::unique_ptr<Op>(new IoWait(owned, POLLOUT, tid, deadline, attempt,
                                        Verdict::Skip(-EAGAIN), Verdict::Skip(-EINTR)));
}

// ---- recvfrom(fd, buf, len, flags, addr, alenp) ----------------------------------------------------------

Next Calls::RecvFrom(pid_t tid, pid_t tgid, const uint64_t* a, ExitWatch* watch) {
  int flags = static_cast<int>(a[3]);
  int32_t len0 = 0;
  if (a[5] == 0 || !ReadMem(tid, a[5], &len0, sizeof len0) || len0 < 0 || (flags & (MSG_ERRQUEUE | MSG_OOB)) != 0)
    return Verdict::Run();
  int d = TakeFd(tgid, static_cast<int>(a[0]));
  if (d < 0) return Verdict::Run();
  sysio::Fd sock(d);
  bool nonblocking;
  if (!InetDgram(d, &nonblocking)) return Verdict::Run();
  Entry e;
  Endpoint peer;
  bool overlay_peer = cache_.Find(InodeOf(d), &e) && e.kind == Kind::kUdpConnected && PeerOf(d, &peer) &&
                      peer == e.real_peer;
  return RecvCore(tid, sock, nonblocking, a[1], static_cast<size_t>(a[2]), flags, a[4], a[5], len0,
                  overlay_peer ? &e.virt_peer : nullptr, watch);
}

Next Calls::RecvCore(pid_t tid, sysio::Fd& sock, bool nonblocking, uint64_t buf, size_t cap, int flags,
                     uint64_t addr, uint64_t lenp, int32_t len0, const Endpoint* peer, ExitWatch* watch) {
  Segs segs;
  segs.n = 1;
  segs.base[0] = buf;
  segs.len[0] = cap;
  return RecvSegs(tid, sock, nonblocking, segs, flags, addr, lenp, len0, 0, peer, watch);
}

Next Calls::RecvSegs(pid_t tid, sysio::Fd& sock, bool nonblocking, const Segs& segs, int flags, uint64_t addr,
                     uint64_t lenp, int32_t len0, uint64_t msgp, const Endpoint* peer, ExitWatch* watch) {
  // One buffer: if the kernel's own call ends up running (a signal arrived while waiting), its exit stop strips a
  // header. Several (readv, recvmsg): a signal ends the wait with EINTR instead.
  *watch = ExitWatch{};
  bool single = segs.n == 1 && msgp == 0;
  if (single) {
    watch->udp_recv = true;
    watch->buf = segs.base[0];
    watch->addr = addr;
    watch->lenp = lenp;
    watch->len0 = len0;
  }
  size_t cap = 0;
  for (int i = 0; i < segs.n; ++i) cap += segs.len[i];
  bool filter = peer != nullptr;
  Endpoint want = filter ? *peer : Endpoint{};
  int d = sock.get();
  auto attempt = [this, d, tid, segs, cap, flags, addr, lenp, len0, msgp, filter, want](Next* next) -> bool {
    for (;;) {
      sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      ssize_t r;
      do r = recvfrom(d, dgram_.data(), dgram_.size(), (flags & MSG_PEEK) | MSG_DONTWAIT,
                      reinterpret_cast<sockaddr*>(&ss), &sl);
      while (r < 0 && errno == EINTR);
      if (r < 0) {
        if (WouldBlock(errno)) return false;
        *next = Verdict::Skip(-errno);
        return true;
      }
      const uint8_t* payload = dgram_.data();
      size_t plen = static_cast<size_t>(r);
      Endpoint src;
      bool v6;
      proto::UdpHeader h;
      size_t used;
      if (ToEp(ss, sl, &src, &v6) && src == opt_.router && plen >= proto::kUdpHeaderSize &&
          proto::Decode(payload, plen, &h, &used) == proto::Parse::kOk && h.hop == proto::Hop::kRouterToDest &&
          plen == proto::kUdpHeaderSize + h.payload_len) {
        // A connected overlay socket sees only its peer's datagrams (as the kernel filters a connected socket).
        if (filter && !(Endpoint{h.src_vip, h.src_port} == want) && (flags & MSG_PEEK) == 0) continue;
        payload += proto::kUdpHeaderSize;
        plen = h.payload_len;
        sl = FromEp(Endpoint{h.src_vip, h.src_port}, v6, &ss);
      }
      size_t n = plen < cap ? plen : cap;
      size_t an = static_cast<size_t>(len0) < sl ? static_cast<size_t>(len0) : sl;
      bool ok = true;
      for (int i = 0, off = 0; ok && i < segs.n && static_cast<size_t>(off) < n; ++i) {
        size_t k = n - static_cast<size_t>(off) < segs.len[i] ? n - static_cast<size_t>(off) : segs.len[i];
        ok = WriteMem(tid, segs.base[i], payload + off, k);
        off += static_cast<int>(k);
      }
      if (ok && addr != 0) ok = WriteMem(tid, addr, &ss, an) && WriteMem(tid, lenp, &sl, sizeof sl);
      if (ok && msgp != 0) {  // recvmsg: no control data; MSG_TRUNC if the payload did not fit
        uint64_t controllen = 0;
        int mflags = plen > cap ? MSG_TRUNC : 0;
        ok = WriteMem(tid, msgp + offsetof(msghdr, msg_controllen), &controllen, sizeof controllen) &&
             WriteMem(tid, msgp + offsetof(msghdr, msg_flags), &mflags, sizeof mflags);
      }
      if (!ok) {
        *next = Verdict::Skip(-EFAULT);
        return true;
      }
      *next = Verdict::Skip(static_cast<int64_t>((flags & MSG_TRUNC) != 0 ? plen : n));
      return true;
    }
  };
  Next now(Verdict::Run());
  if (attempt(&now)) return now;
  if (nonblocking || (flags & MSG_DONTWAIT) != 0) return Verdict::Skip(-EAGAIN);
  int64_t deadline = TimeoDeadline(d, SO_RCVTIMEO);
  auto owned = std::make_shared<sysio::Fd>(sock.Release());  // kept open by the Op (d stays valid)
  return std::unique_ptr<Op>(new IoWait(owned, POLLIN, tid, deadline, attempt,
                                        Verdict::Skip(-EAGAIN), single ? Verdict::Run() : Verdict::Skip(-EINTR)));
}

// Reads the tracee's iovec array (iov, cnt) into *segs. False: EINVAL-like (too many) or unreadable.
bool Calls::ReadSegs(pid_t tid, uint64_t iov, uint64_t cnt, Segs* segs) {
  if (cnt > static_cast<uint64_t>(Segs::kMax)) return false;
  iovec v[Segs::kMax];
  if (cnt > 0 && !ReadMem(tid, iov, v, sizeof(iovec) * cnt)) return false;
  segs->n = static_cast<int>(cnt);
  for (int i = 0; i < segs->n; ++i) {
    segs->base[i] = reinterpret_cast<uint64_t>(v[i].iov_base);
    segs->len[i] = v[i].iov_len;
  }
  return true;
}

// Gathers the segments into dgram_ + 24; the payload length, or -errno.
int64_t Calls::Gather(pid_t tid, const Segs& segs) {
  size_t total = 0;
  for (int i = 0; i < segs.n; ++i) {
    if (segs.len[i] > proto::kUdpMaxPayload - total) return -EMSGSIZE;
    if (!ReadMem(tid, segs.base[i], dgram_.data() + proto::kUdpHeaderSize + total, segs.len[i])) return -EFAULT;
    total += segs.len[i];
  }
  return static_cast<int64_t>(total);
}

// ---- connect(V) on a datagram socket, and the data calls of such a socket ----------------------------------

Next Calls::UdpConnect(pid_t tgid, int fd, const SharedFd& sock, const Endpoint& dst, bool v6) {
  bool nonblocking;
  int d = sock->get();
  if (!InetDgram(d, &nonblocking)) return Verdict::Run();
  sockaddr_storage rs;
  socklen_t rl = FromEp(opt_.router, v6, &rs);
  if (connect(d, reinterpret_cast<sockaddr*>(&rs), rl) != 0) return Verdict::Skip(-errno);
  Entry n;
  n.ino = InodeOf(d);
  if (!LocalOf(d, &n.real_local)) n.real_local = Endpoint{};
  n.real_peer = opt_.router;
  n.virt_local = Endpoint{opt_.vip, n.real_local.port};
  n.virt_peer = dst;
  n.kind = Kind::kUdpConnected;
  n.state = CState::kConnected;
  cache_.Put(n);
  LOG_DEBUG("udp connect %s -> %s", FormatEndpoint(n.virt_local).c_str(), FormatEndpoint(dst).c_str());
  return ArmOrSkip(tgid, fd, 0, -ENETUNREACH);
}

Next Calls::UdpBind(pid_t tgid, int fd, const sockaddr_storage& addr, socklen_t len) {
  int d = TakeFd(tgid, fd);
  if (d < 0) return Verdict::Run();
  sysio::Fd sock(d);
  bool nonblocking;
  if (!InetDgram(d, &nonblocking)) return Verdict::Run();
  if (bind(d, reinterpret_cast<const sockaddr*>(&addr), len) != 0) return Verdict::Skip(-errno);
  Entry e;
  e.ino = InodeOf(d);
  uint16_t port = 0;
  if (!LocalOf(d, &e.real_local)) e.real_local = Endpoint{0, LocalPort(d, &port) ? port : uint16_t{0}};  // [::]
  e.virt_local = Endpoint{opt_.vip, e.real_local.port};
  e.kind = Kind::kUdpOverlay;
  cache_.Put(e);
  return ArmOrSkip(tgid, fd, 0, 0);  // bound either way: if arming fails, the bind still succeeded
}

Next Calls::ArmOrSkip(pid_t tgid, int fd, int64_t ret, int64_t fail) {
  if (opt_.mode == Mode::kPtraceAll) {  // every call stops anyway: just watch the descriptor number
    armed_fds_.insert(fd);
    return Verdict::Skip(ret);
  }
  std::vector<int>& fds = armed_[tgid];
  for (int f : fds)
    if (f == fd) return Verdict::Skip(ret);  // this process already traps the data calls of fd
  if (fds.size() >= kMaxArmed) {
    LOG_WARN("UDP: more than %zu overlay descriptors in process %d", kMaxArmed, static_cast<int>(tgid));
    return Verdict::Skip(fail);
  }
  fds.push_back(fd);
  return Verdict::Arm(fd, ret, fail);
}

void Calls::ArmFailed(pid_t tgid, int fd, int64_t err) {
  LOG_WARN("connected UDP: cannot install the descriptor filter in process %d (%lld)", static_cast<int>(tgid),
           static_cast<long long>(err));
  auto it = armed_.find(tgid);
  if (it == armed_.end()) return;
  for (size_t i = 0; i < it->second.size(); ++i)
    if (it->second[i] == fd) {
      it->second.erase(it->second.begin() + static_cast<long>(i));
      break;
    }
}

Next Calls::UdpData(pid_t tid, pid_t tgid, long nr, const uint64_t* a, ExitWatch* watch) {
  int d = TakeFd(tgid, static_cast<int>(a[0]));
  if (d < 0) return Verdict::Run();
  sysio::Fd sock(d);
  Entry e;
  Endpoint peer;
  if (!cache_.Find(InodeOf(d), &e)) return Verdict::Run();  // the number now names another file: pass through
  if (e.kind == Kind::kUdpOverlay) return UdpUnconnected(tid, sock, nr, a, watch);
  if (e.kind != Kind::kUdpConnected || !PeerOf(d, &peer) || !(peer == e.real_peer)) return Verdict::Run();
  bool nonblocking = IsNonBlocking(d);
  switch (nr) {
    case SYS_write:
      return SendCore(tid, sock, nonblocking, e.virt_peer, false, true, a[1], static_cast<size_t>(a[2]), 0);
    case SYS_sendto:  // without an address (send)
      return SendCore(tid, sock, nonblocking, e.virt_peer, false, true, a[1], static_cast<size_t>(a[2]),
                      static_cast<int>(a[3]));
    case SYS_read:
      return RecvCore(tid, sock, nonblocking, a[1], static_cast<size_t>(a[2]), 0, 0, 0, 0, &e.virt_peer, watch);
    case SYS_recvfrom:  // without an address (recv)
      if ((static_cast<int>(a[3]) & (MSG_ERRQUEUE | MSG_OOB)) != 0) return Verdict::Run();
      return RecvCore(tid, sock, nonblocking, a[1], static_cast<size_t>(a[2]), static_cast<int>(a[3]), 0, 0, 0,
                      &e.virt_peer, watch);
    case SYS_writev:
    case SYS_readv: {
      Segs segs;
      if (!ReadSegs(tid, a[1], a[2], &segs)) return Verdict::Skip(-EINVAL);
      if (nr == SYS_readv) return RecvSegs(tid, sock, nonblocking, segs, 0, 0, 0, 0, 0, &e.virt_peer, watch);
      int64_t len = Gather(tid, segs);
      if (len < 0) return Verdict::Skip(len);
      return SendStaged(tid, sock, nonblocking, e.virt_peer, false, true, static_cast<size_t>(len), 0);
    }
    case SYS_sendmsg:
    case SYS_recvmsg: {
      msghdr m;
      Segs segs;
      int flags = static_cast<int>(a[2]);
      if (!ReadMem(tid, a[1], &m, sizeof m)) return Verdict::Skip(-EFAULT);
      if (!ReadSegs(tid, reinterpret_cast<uint64_t>(m.msg_iov), m.msg_iovlen, &segs)) return Verdict::Skip(-EMSGSIZE);
      if (nr == SYS_recvmsg) {
        if ((flags & (MSG_ERRQUEUE | MSG_OOB)) != 0) return Verdict::Run();
        uint64_t name = reinterpret_cast<uint64_t>(m.msg_name);
        return RecvSegs(tid, sock, nonblocking, segs, flags, name, name != 0 ? a[1] + offsetof(msghdr, msg_namelen) : 0,
                        static_cast<int32_t>(m.msg_namelen), a[1], &e.virt_peer, watch);
      }
      Endpoint dst = e.virt_peer;
      if (m.msg_name != nullptr) {  // an explicit destination on a connected socket
        sockaddr_storage ss;
        bool v6;
        memset(&ss, 0, sizeof ss);
        if (m.msg_namelen > sizeof ss || !ReadMem(tid, reinterpret_cast<uint64_t>(m.msg_name), &ss, m.msg_namelen))
          return Verdict::Skip(-EFAULT);
        if (!ToEp(ss, m.msg_namelen, &dst, &v6) || !opt_.net.contains(dst.ip)) return Verdict::Run();
      }
      int64_t len = Gather(tid, segs);
      if (len < 0) return Verdict::Skip(len);
      return SendStaged(tid, sock, nonblocking, dst, false, true, static_cast<size_t>(len), flags);
    }
    default:  // sendmmsg, recvmmsg: not in this version (docs/trace.md)
      return Verdict::Skip(-EOPNOTSUPP);
  }
}

// The data calls of an unconnected UDP socket that has sent to a virtual address: receives strip headers (any
// source), sendmsg to a virtual address is sent like sendto; everything else is the kernel's.
Next Calls::UdpUnconnected(pid_t tid, sysio::Fd& sock, long nr, const uint64_t* a, ExitWatch* watch) {
  int d = sock.get();
  uint16_t port;
  Entry e;
  if (!cache_.Find(InodeOf(d), &e) || !LocalPort(d, &port) || port != e.real_local.port)
    return Verdict::Run();  // a recycled inode
  bool nonblocking = IsNonBlocking(d);
  switch (nr) {
    case SYS_read:
      return RecvCore(tid, sock, nonblocking, a[1], static_cast<size_t>(a[2]), 0, 0, 0, 0, nullptr, watch);
    case SYS_recvfrom:  // without an address (recv)
      if ((static_cast<int>(a[3]) & (MSG_ERRQUEUE | MSG_OOB)) != 0) return Verdict::Run();
      return RecvCore(tid, sock, nonblocking, a[1], static_cast<size_t>(a[2]), static_cast<int>(a[3]), 0, 0, 0,
                      nullptr, watch);
    case SYS_readv: {
      Segs segs;
      if (!ReadSegs(tid, a[1], a[2], &segs)) return Verdict::Run();
      return RecvSegs(tid, sock, nonblocking, segs, 0, 0, 0, 0, 0, nullptr, watch);
    }
    case SYS_sendmsg:
    case SYS_recvmsg: {
      msghdr m;
      Segs segs;
      int flags = static_cast<int>(a[2]);
      if (!ReadMem(tid, a[1], &m, sizeof m) || !ReadSegs(tid, reinterpret_cast<uint64_t>(m.msg_iov), m.msg_iovlen,
                                                         &segs))
        return Verdict::Run();  // the kernel reports the bad argument
      if (nr == SYS_recvmsg) {
        if ((flags & (MSG_ERRQUEUE | MSG_OOB)) != 0) return Verdict::Run();
        uint64_t name = reinterpret_cast<uint64_t>(m.msg_name);
        return RecvSegs(tid, sock, nonblocking, segs, flags, name,
                        name != 0 ? a[1] + offsetof(msghdr, msg_namelen) : 0, static_cast<int32_t>(m.msg_namelen),
                        a[1], nullptr, watch);
      }
      sockaddr_storage ss;
      Endpoint dst;
      bool v6;
      memset(&ss, 0, sizeof ss);
      if (m.msg_name == nullptr || m.msg_namelen > sizeof ss ||
          !ReadMem(tid, reinterpret_cast<uint64_t>(m.msg_name), &ss, m.msg_namelen) ||
          !ToEp(ss, m.msg_namelen, &dst, &v6) || !opt_.net.contains(dst.ip))
        return Verdict::Run();
      int64_t len = Gather(tid, segs);
      if (len < 0) return Verdict::Skip(len);
      return SendStaged(tid, sock, nonblocking, dst, v6, false, static_cast<size_t>(len), flags);
    }
    default:  // write, send, writev (EDESTADDRREQ or a real peer), sendmmsg, recvmmsg: the kernel's
      return Verdict::Run();
  }
}

// The exit stop of a recvfrom the kernel ran after all: a header that won the race with the signal is stripped
// (best effort: a payload that did not fit with its header was already truncated by the kernel).
Next Calls::RecvExit(pid_t tid, const ExitWatch& w, int64_t ret) {
  if (ret < static_cast<int64_t>(proto::kUdpHeaderSize) || static_cast<size_t>(ret) > dgram_.size())
    return Verdict::Run();
  sockaddr_storage ss;
  socklen_t sl = 0;
  Endpoint src;
  bool v6;
  memset(&ss, 0, sizeof ss);
  size_t an = static_cast<size_t>(w.len0) < sizeof ss ? static_cast<size_t>(w.len0) : sizeof ss;
  if (w.addr == 0) {  // read/recv on a connected overlay socket: only the router can have sent it
    v6 = false;
  } else if (!ReadMem(tid, w.lenp, &sl, sizeof sl) || !ReadMem(tid, w.addr, &ss, an) || sl > an ||
             !ToEp(ss, sl, &src, &v6) || !(src == opt_.router)) {
    return Verdict::Run();
  }
  size_t n = static_cast<size_t>(ret);
  proto::UdpHeader h;
  size_t used;
  if (!ReadMem(tid, w.buf, dgram_.data(), n) ||
      proto::Decode(dgram_.data(), n, &h, &used) != proto::Parse::kOk || h.hop != proto::Hop::kRouterToDest ||
      n != proto::kUdpHeaderSize + h.payload_len)
    return Verdict::Run();
  sl = FromEp(Endpoint{h.src_vip, h.src_port}, v6, &ss);
  an = static_cast<size_t>(w.len0) < sl ? static_cast<size_t>(w.len0) : sl;
  if (!WriteMem(tid, w.buf, dgram_.data() + proto::kUdpHeaderSize, h.payload_len) ||
      (w.addr != 0 && (!WriteMem(tid, w.addr, &ss, an) || !WriteMem(tid, w.lenp, &sl, sizeof sl))))
    return Verdict::Skip(-EFAULT);
  return Verdict::Skip(h.payload_len);
}

}  // namespace uvpn::trace
