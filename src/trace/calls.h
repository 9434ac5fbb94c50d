// The trapped calls (docs/trace.md, table "what the monitor does"; semantics: docs/shim.md). Each handler runs
// at the call's seccomp stop (or entry stop in ptrace-all) and answers a Next: run the tracee's call as it is,
// skip it with a return value, or an Op to wait on first. accept/accept4 also ask for their exit stop.
//
// Handlers work on a duplicate of the tracee's descriptor (pidfd_getfd) and on tracee memory
// (process_vm_readv/writev); anything they cannot read (a bad pointer, a closed fd) is left to the kernel,
// which then fails the tracee's own call with the right errno. Single-threaded (the monitor's loop).
#pragma once

#include <sys/types.h>

#include <cstdint>

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
};

class Calls {
 public:
  explicit Calls(const Options& opt) : opt_(opt) {}
  // REQUIRES: Interesting(c.nr, c.args); tid stopped at c's seccomp or entry stop. *watch is cleared first.
  Next OnEntry(pid_t tid, pid_t tgid, const CallInfo& c, ExitWatch* watch);
  // REQUIRES: tid stopped at the exit stop of the call that set `w`; `ret` is its return value.
  Next OnExit(pid_t tid, pid_t tgid, const ExitWatch& w, int64_t ret);
  uint64_t trapped() const { return trapped_; }

 private:
  Next Connect(pid_t tid, pid_t tgid, const uint64_t* a);
  Next AfterLan(const SharedFd& sock, uint64_t ino, const Endpoint& dst, int err);
  Next Again(const SharedFd& sock, uint64_t ino, const Entry& e);
  Next AwaitResult(const SharedFd& sock, const Entry& e, int kernel_err, std::function<Next(int)> then);
  Next SoError(pid_t tid, pid_t tgid, const uint64_t* a);
  Next Bind(pid_t tid, pid_t tgid, const uint64_t* a);
  Next AcceptExit(pid_t tid, pid_t tgid, const ExitWatch& w, int fd);
  Next Name(pid_t tid, pid_t tgid, const uint64_t* a, bool peer_side);
  Next VirtualOf(const SharedFd& sock, const Endpoint& local, const Endpoint& peer,
                 std::function<Next(bool found, const Entry& e)> then);

  const Options& opt_;
  Cache cache_;
  uint64_t trapped_ = 0;
  bool warned_unreachable_ = false;
};

}  // namespace uvpn::trace
