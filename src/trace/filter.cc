// See filter.h. The program is assembled with symbolic labels resolved in a second pass, so the list of calls
// can change without hand-counting jump offsets.
#include "trace/filter.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace uvpn::trace {
namespace {

#ifndef CLONE_UNTRACED
#define CLONE_UNTRACED 0x00800000
#endif
constexpr uint32_t kX32Bit = 0x40000000;
constexpr uint32_t kKernelLargeFile = 0x8000;  // O_LARGEFILE as the kernel sees it (glibc's header says 0 here)

// Offsets in struct seccomp_data (little-endian: the low word of args[i] comes first).
constexpr uint32_t kOffNr = offsetof(seccomp_data, nr);
constexpr uint32_t kOffArch = offsetof(seccomp_data, arch);
constexpr uint32_t ArgLow(int i) { return offsetof(seccomp_data, args) + 8 * i; }
constexpr uint32_t ArgHigh(int i) { return ArgLow(i) + 4; }

enum Label { kAllow, kTrace, kNoSys, kSockopt, kClone, kArg4, kOpen1, kOpen2, kNumLabels };

class Asm {
 public:
  void Load(uint32_t off) { code_.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off)); }
  void Ret(uint32_t v) { code_.push_back(BPF_STMT(BPF_RET | BPF_K, v)); }
  void And(uint32_t k) { code_.push_back(BPF_STMT(BPF_ALU | BPF_AND | BPF_K, k)); }
  // if (A op k) goto t else goto f; -1 = next instruction.
  void Jump(uint16_t op, uint32_t k, int t, int f) {
    fix_.push_back({code_.size(), t, f});
    code_.push_back(BPF_JUMP(BPF_JMP | op | BPF_K, k, 0, 0));
  }
  void Mark(Label l) { at_[l] = code_.size(); }
  std::vector<sock_filter> Finish() {
    for (const Fix& f : fix_) {
      code_[f.pc].jt = Offset(f.pc, f.t);
      code_[f.pc].jf = Offset(f.pc, f.f);
    }
    return code_;
  }

 private:
  struct Fix {
    size_t pc;
    int t, f;
  };
  uint8_t Offset(size_t pc, int label) const {
    return label < 0 ? 0 : static_cast<uint8_t>(at_[label] - pc - 1);
  }
  std::vector<sock_filter> code_;
  std::vector<Fix> fix_;
  size_t at_[kNumLabels] = {};
};

constexpr long kTraced[] = {SYS_connect, SYS_bind, SYS_accept, SYS_accept4, SYS_getsockname, SYS_getpeername,
                            SYS_clone3};

constexpr long kData[] = {SYS_read,     SYS_write,   SYS_readv,   SYS_writev,   SYS_sendto,
                          SYS_recvfrom, SYS_sendmsg, SYS_recvmsg, SYS_sendmmsg, SYS_recvmmsg};

}  // namespace

bool HostsOpenFlags(uint64_t flags) {
  return (static_cast<uint32_t>(flags) & ~kKernelLargeFile) == (O_RDONLY | O_CLOEXEC);
}

bool IsDataCall(long nr) {
  for (long d : kData)
    if (nr == d) return true;
  return false;
}

std::vector<sock_filter> BuildFdFilter(int fd) {
  Asm a;
  a.Load(kOffArch);
  a.Jump(BPF_JEQ, AUDIT_ARCH_X86_64, -1, kAllow);
  a.Load(kOffNr);
  for (long nr : kData) a.Jump(BPF_JEQ, static_cast<uint32_t>(nr), kArg4, -1);
  a.Jump(BPF_JEQ, 0, kAllow, kAllow);  // unconditional
  a.Mark(kArg4);                       // here: the descriptor check
  a.Load(ArgLow(0));
  a.Jump(BPF_JEQ, static_cast<uint32_t>(fd), kTrace, kAllow);
  a.Mark(kAllow);
  a.Ret(SECCOMP_RET_ALLOW);
  a.Mark(kTrace);
  a.Ret(SECCOMP_RET_TRACE);
  return a.Finish();
}

std::vector<sock_filter> BuildFilter(bool names) {
  Asm a;
  a.Load(kOffArch);
  a.Jump(BPF_JEQ, AUDIT_ARCH_X86_64, -1, kAllow);
  a.Load(kOffNr);
  a.Jump(BPF_JSET, kX32Bit, kAllow, -1);
  for (long nr : kTraced) a.Jump(BPF_JEQ, static_cast<uint32_t>(nr), kTrace, -1);
  a.Jump(BPF_JEQ, SYS_getsockopt, kSockopt, -1);
  a.Jump(BPF_JEQ, SYS_clone, kClone, -1);
  a.Jump(BPF_JEQ, SYS_sendto, kArg4, -1);    // with a destination address (docs/trace.md "UDP")
  a.Jump(BPF_JEQ, SYS_recvfrom, kArg4, -1);  // with a source address buffer
  if (names) {  // /etc/hosts (docs/trace.md "Names")
    a.Jump(BPF_JEQ, SYS_open, kOpen1, -1);
    a.Jump(BPF_JEQ, SYS_openat, kOpen2, -1);
    a.Jump(BPF_JEQ, SYS_openat2, kTrace, -1);
  }
  a.Jump(BPF_JEQ, SYS_io_uring_setup, kNoSys, kAllow);
  a.Mark(kOpen1);  // open(path, flags): the flags resolvers open /etc/hosts with (HostsOpenFlags)
  a.Load(ArgLow(1));
  a.And(~kKernelLargeFile);
  a.Jump(BPF_JEQ, O_RDONLY | O_CLOEXEC, kTrace, kAllow);
  a.Mark(kOpen2);  // openat(dirfd, path, flags)
  a.Load(ArgLow(2));
  a.And(~kKernelLargeFile);
  a.Jump(BPF_JEQ, O_RDONLY | O_CLOEXEC, kTrace, kAllow);
  a.Mark(kSockopt);
  a.Load(ArgLow(1));
  a.Jump(BPF_JEQ, SOL_SOCKET, -1, kAllow);
  a.Load(ArgLow(2));
  a.Jump(BPF_JEQ, SO_ERROR, kTrace, kAllow);
  a.Mark(kClone);
  a.Load(ArgLow(0));
  a.Jump(BPF_JSET, CLONE_UNTRACED, kTrace, kAllow);
  a.Mark(kArg4);  // args[4] != NULL (both halves: a pointer's low word may be 0)
  a.Load(ArgLow(4));
  a.Jump(BPF_JEQ, 0, -1, kTrace);
  a.Load(ArgHigh(4));
  a.Jump(BPF_JEQ, 0, kAllow, kTrace);
  a.Mark(kAllow);
  a.Ret(SECCOMP_RET_ALLOW);
  a.Mark(kTrace);
  a.Ret(SECCOMP_RET_TRACE);
  a.Mark(kNoSys);
  a.Ret(SECCOMP_RET_ERRNO | ENOSYS);
  return a.Finish();
}

int InstallFilter(const std::vector<sock_filter>& prog) {
  sock_fprog fp{static_cast<unsigned short>(prog.size()), const_cast<sock_filter*>(prog.data())};
  // SPEC_ALLOW: do not force the speculative-store-bypass mitigation on the tracee (it slows every syscall).
  for (int attempt = 0; attempt < 2; ++attempt) {
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &fp);
    if (r != 0 && errno == EINVAL) r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp);
    if (r == 0) return 0;
    if (errno != EACCES || attempt > 0) return errno;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  }
  return EACCES;
}

bool Interesting(long nr, const uint64_t args[6], bool names) {
  for (long t : kTraced)
    if (nr == t) return true;
  if (nr == SYS_getsockopt)
    return static_cast<uint32_t>(args[1]) == SOL_SOCKET && static_cast<uint32_t>(args[2]) == SO_ERROR;
  if (nr == SYS_clone) return (static_cast<uint32_t>(args[0]) & CLONE_UNTRACED) != 0;
  if (nr == SYS_sendto || nr == SYS_recvfrom) return args[4] != 0;
  if (nr == SYS_open) return names && HostsOpenFlags(args[1]);
  if (nr == SYS_openat) return names && HostsOpenFlags(args[2]);
  if (nr == SYS_openat2) return names;
  return nr == SYS_io_uring_setup;
}

}  // namespace uvpn::trace
