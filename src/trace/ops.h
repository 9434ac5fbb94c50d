// Operations: the waits of a trapped call, run by the monitor's poll loop while the calling thread stays in its
// ptrace stop (docs/trace.md, "Waiting never blocks the monitor").
//
// Theory of operation: an Op says what it waits for (one fd and poll events, and/or a deadline); the loop calls
// Advance() when the fd is ready or the deadline has passed. A finished Op yields a Next: either the verdict for
// the stopped thread (let its call run, or skip it with a return value) or another Op to continue with (so the
// waits compose: LAN handshake -> STATUS; header -> LOOKUP -> header). Continuations are std::function: a trapped
// call is rare (never on the data path) and may allocate. Every Op is bounded by its deadline. Single-threaded.
#pragma once

#include <functional>
#include <memory>

#include "common/addr.h"
#include "proto/wire.h"
#include "sysio/fd.h"

namespace uvpn::trace {

struct Verdict {
  // kArm (seccomp stops only): replace the call by seccomp(BuildFdFilter(fd)) run in the tracee, then make it
  // return `ret`, or `fail` if the filter could not be installed. docs/trace.md "UDP".
  // kRedirect: run the call with its path argument `fd` (0 or 1: the register) pointing to a copy of `path` in
  // the tracee's memory (docs/trace.md "Names"); if that is impossible, run it unchanged.
  enum Kind : uint8_t { kRun, kSkip, kArm, kRedirect } kind = kRun;
  int64_t ret = 0;   // kSkip, kArm: the call's return value (-errno for errors); kRedirect: the argument's value
  int fd = -1;       // kArm: the tracee's descriptor; kRedirect: the argument index
  int64_t fail = 0;  // kArm: the return value if the filter is refused
  const char* path = nullptr;  // kRedirect: NUL-terminated, valid until the tracee is resumed
  static Verdict Run() { return {}; }
  static Verdict Skip(int64_t r) { return {kSkip, r}; }
  static Verdict Arm(int fd, int64_t r, int64_t fail) { return {kArm, r, fd, fail}; }
  static Verdict Redirect(int arg, const char* p, uint64_t orig) {
    return {kRedirect, static_cast<int64_t>(orig), arg, 0, p};
  }
};

class Op;
struct Next {
  Verdict verdict;
  std::unique_ptr<Op> op;  // if set: continue with this op instead of finishing
  Next(Verdict v) : verdict(v) {}  // NOLINT(google-explicit-constructor)
  Next(std::unique_ptr<Op> o) : op(std::move(o)) {}  // NOLINT(google-explicit-constructor)
};

struct Wait {
  int fd = -1;        // -1: deadline only
  short events = 0;   // POLLIN / POLLOUT
  int64_t deadline = 0;  // NowMs() scale
};

class Op {
 public:
  virtual ~Op() = default;
  // `ready`: wait().fd polled ready (false: deadline passed). Returns true when finished, with *next set.
  virtual bool Advance(bool ready, Next* next) = 0;
  const Wait& wait() const { return wait_; }

 protected:
  Wait wait_;
};

using SharedFd = std::shared_ptr<sysio::Fd>;

// Waits for the LAN handshake of a connect already started on fd (POLLOUT, at most 1 s), then calls then(err):
// 0, ENETUNREACH for every "router unreachable" error (and the 1 s bound), or another errno.
std::unique_ptr<Op> WaitLan(SharedFd fd, std::function<Next(int err)> then);

// Reads exactly one 16-byte STATUS from fd (never more) until deadline, then then(result): 0 or the errno of
// the wire code; ECONNRESET if the router closed first, EPROTO for bytes that are not a STATUS, ETIMEDOUT.
std::unique_ptr<Op> WaitStatus(SharedFd fd, int64_t deadline, std::function<Next(int result)> then);

// Reads the hop-2 CONN_HEADER at the start of an accepted connection (peek until 32 bytes, then consume exactly
// 32), until deadline. then(kHeader, hdr) or, consuming nothing: kNotHeader (other bytes, EOF), kSilent (not
// one byte by the deadline), kTimeout (a valid prefix at the deadline).
enum class HeaderRead { kHeader, kNotHeader, kSilent, kTimeout };
std::unique_ptr<Op> WaitHeader(const uint8_t* key, SharedFd fd, int64_t deadline,
                               std::function<Next(HeaderRead r, const proto::ConnHeader& h)> then);

// LOOKUP {local, router_port} to `router` over UDP from a fresh socket bound to local.ip, re-sent after 20 ms
// doubling to 200 ms. until_resolved: unknown/pending replies keep it waiting. then(true, reply) or
// then(false, {}) at the deadline.
std::unique_ptr<Op> Lookup(const uint8_t* key, const Endpoint& router, const Endpoint& local, uint16_t router_port, int64_t deadline,
                           bool until_resolved, std::function<Next(bool ok, const proto::LookupReplyMsg& m)> then);

// Starts connecting fd (the tracee's socket; a stream socket) to the router: the description's O_NONBLOCK is set
// for the connect call only. Returns 0 (connected), EINPROGRESS (wait with WaitLan), or an errno already mapped
// like WaitLan's.
int StartLan(int fd, const Endpoint& router, bool v6);

// Sends all of buf (MSG_DONTWAIT | MSG_NOSIGNAL) on a freshly connected socket: 0 or errno (EPIPE -> ECONNRESET).
int SendSmall(int fd, const uint8_t* buf, size_t n);

}  // namespace uvpn::trace
