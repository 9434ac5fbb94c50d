// The trapped calls (docs/trace.md, table "what the monitor does"; semantics: docs/shim.md). Each handler runs
// at the call's seccomp stop (or entry stop in ptrace-all) and answers a Next: run the tracee's call as it is,
// skip it with a return value, or an Op to wait on first. accept/accept4 also ask for their exit stop.
//
// Handlers work on a duplicate of the tracee's descriptor (pidfd_getfd) and on tracee memory
// (process_vm_readv/writev); anything they cannot read (a bad pointer, a closed fd) is left to the kernel,
// which then fails the tracee's own call with the right errno. Single-threaded (the monitor's loop).
// sendto/recvfrom of datagrams to and from virtual addresses are performed by the monitor itself on the duplicate
// (udp.cc): the tracee's call is skipped with the result.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "trace/hosts.h"
#include "trace/ops.h"
#include "trace/state.h"
#include "trace/trace.h"
#include "trace/tracee.h"

namespace uvpn::trace {

// What the exit stop of a watched call must do.
struct ExitWatch {
  bool accept = false;
  uint64_t addr = 0;  // application's sockaddr buffer (0: none)
  uint64_t lenp = 0;  // its socklen_t*
  int32_t len0 = 0;   // *lenp before the call
  bool udp_recv = false;  // a recvfrom let through to the kernel (a signal was pending): strip a header at exit
  uint64_t buf = 0;       // udp_recv: the data buffer
  bool any() const { return accept || udp_recv; }
};

class Calls {
 public:
  explicit Calls(const Options& opt);
  // REQUIRES: Interesting(c.nr, c.args), or a data call (IsDataCall) stopped by an injected descriptor filter
  // (or, in ptrace-all, on an ArmedFd); tid stopped at c's seccomp or entry stop. *watch is cleared first.
  Next OnEntry(pid_t tid, pid_t tgid, const CallInfo& c, ExitWatch* watch);
  // REQUIRES: tid stopped at the exit stop of the call that set `w`; `ret` is its return value.
  Next OnExit(pid_t tid, pid_t tgid, const ExitWatch& w, int64_t ret);
  uint64_t trapped() const { return trapped_; }
  // Connected UDP (udp.cc). ptrace-all: true if `fd` was ever connected to a virtual address (its data calls are
  // handled). ArmFailed: the injected filter (Verdict::kArm) was refused. ForgetProcess: tgid has exited.
  bool ArmedFd(uint64_t fd) const { return !armed_fds_.empty() && armed_fds_.count(static_cast<int>(fd)) != 0; }
  void ArmFailed(pid_t tgid, int fd, int64_t err);
  void ForgetProcess(pid_t tgid) { armed_.erase(tgid); }

 private:
  Next Connect(pid_t tid, pid_t tgid, const uint64_t* a);
  Next AfterLan(const SharedFd& sock, uint64_t ino, const Endpoint& dst, int err);
  Next Again(const SharedFd& sock, uint64_t ino, const Entry& e);
  Next AwaitResult(const SharedFd& sock, const Entry& e, int kernel_err, std::function<Next(int)> then);
  Next SoError(pid_t tid, pid_t tgid, const uint64_t* a);
  Next Bind(pid_t tid, pid_t tgid, const uint64_t* a);
  Next AcceptExit(pid_t tid, pid_t tgid, const ExitWatch& w, int fd);
  Next Name(pid_t tid, pid_t tgid, const uint64_t* a, bool peer_side);
  // open/openat/openat2 of /etc/hosts for reading: redirected to hosts_ (docs/trace.md "Names").
  Next Open(pid_t tid, long nr, const uint64_t* a);
  // UDP (udp.cc; docs/trace.md "UDP"). `sock` is the monitor's duplicate; a call that must wait takes it over.
  Next SendTo(pid_t tid, pid_t tgid, const uint64_t* a);
  Next RecvFrom(pid_t tid, pid_t tgid, const uint64_t* a, ExitWatch* watch);
  Next RecvExit(pid_t tid, const ExitWatch& w, int64_t ret);
  Next SendCore(pid_t tid, sysio::Fd& sock, bool nonblocking, const Endpoint& dst, bool v6, bool connected,
                uint64_t buf, size_t len, int flags);
  Next SendStaged(pid_t tid, sysio::Fd& sock, bool nonblocking, const Endpoint& dst, bool v6, bool connected,
                  size_t len, int flags);
  Next RecvCore(pid_t tid, sysio::Fd& sock, bool nonblocking, uint64_t buf, size_t cap, int flags,
                uint64_t addr, uint64_t lenp, int32_t len0, const Endpoint* peer, ExitWatch* watch);
  // Tracee buffers of readv/recvmsg/writev/sendmsg (at most kMax; more: EINVAL / EMSGSIZE).
  struct Segs {
    static constexpr int kMax = 64;
    int n = 0;
    uint64_t base[kMax];
    size_t len[kMax];
  };
  Next RecvSegs(pid_t tid, sysio::Fd& sock, bool nonblocking, const Segs& segs, int flags, uint64_t addr,
                uint64_t lenp, int32_t len0, uint64_t msgp, const Endpoint* peer, ExitWatch* watch);
  bool ReadSegs(pid_t tid, uint64_t iov, uint64_t cnt, Segs* segs);
  int64_t Gather(pid_t tid, const Segs& segs);
  Next UdpConnect(pid_t tgid, int fd, const SharedFd& sock, const Endpoint& dst, bool v6);
  // bind(fd, wildcard:port) of a UDP socket (a server): bound here, recorded as UDP overlay and armed, so that its
  // recv/read/recvmsg strip headers even if it never sends first. Other sockets: the tracee's call runs.
  Next UdpBind(pid_t tgid, int fd, const sockaddr_storage& addr, socklen_t len);
  // Answers `ret` after making sure process tgid traps the data calls of fd (Verdict::kArm unless done before);
  // `fail` if that is impossible.
  Next ArmOrSkip(pid_t tgid, int fd, int64_t ret, int64_t fail);
  Next UdpData(pid_t tid, pid_t tgid, long nr, const uint64_t* a, ExitWatch* watch);
  Next UdpUnconnected(pid_t tid, sysio::Fd& sock, long nr, const uint64_t* a, ExitWatch* watch);
  Next VirtualOf(const SharedFd& sock, const Endpoint& local, const Endpoint& peer,
                 std::function<Next(bool found, const Entry& e)> then);

  const Options& opt_;
  Cache cache_;
  uint64_t trapped_ = 0;
  bool warned_unreachable_ = false;
  static constexpr size_t kMaxArmed = 64;   // injected descriptor filters per process
  std::unordered_map<pid_t, std::vector<int>> armed_;  // ptrace: descriptors whose data calls trap, by process
  std::unordered_set<int> armed_fds_;                   // ptrace-all: descriptor numbers to handle
  std::vector<uint8_t> dgram_;
  HostsFile hosts_;  // one datagram with its header (allocated once; used synchronously only)
};

}  // namespace uvpn::trace
