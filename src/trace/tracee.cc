// See tracee.h.
#include "trace/tracee.h"

#include <fcntl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sysio/fd.h"

#if !defined(__x86_64__)
#error "the ptrace monitor supports x86-64 only (docs/trace.md)"
#endif

namespace uvpn::trace {

bool GetCallInfo(pid_t tid, CallInfo* out) {
  __ptrace_syscall_info info;
  memset(&info, 0, sizeof info);
  long n = ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof info, &info);
  if (n <= 0) return false;
  *out = CallInfo{};
  switch (info.op) {
    case PTRACE_SYSCALL_INFO_SECCOMP:
      out->kind = StopKind::kSeccomp;
      out->nr = static_cast<long>(info.seccomp.nr);
      memcpy(out->args, info.seccomp.args, sizeof out->args);
      return true;
    case PTRACE_SYSCALL_INFO_ENTRY:
      out->kind = StopKind::kEntry;
      out->nr = static_cast<long>(info.entry.nr);
      memcpy(out->args, info.entry.args, sizeof out->args);
      return true;
    case PTRACE_SYSCALL_INFO_EXIT:
      out->kind = StopKind::kExit;
      out->ret = info.exit.rval;
      return true;
    default:
      return false;
  }
}

namespace {

template <typename F>
bool EditRegs(pid_t tid, F edit) {
  user_regs_struct r;
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &r) != 0) return false;
  edit(r);
  return ptrace(PTRACE_SETREGS, tid, nullptr, &r) == 0;
}

}  // namespace

bool SkipCall(pid_t tid, int64_t ret) {
  return EditRegs(tid, [ret](user_regs_struct& r) {
    r.orig_rax = static_cast<unsigned long long>(-1);
    r.rax = static_cast<unsigned long long>(ret);
  });
}

bool SetReturn(pid_t tid, int64_t ret) {
  return EditRegs(tid, [ret](user_regs_struct& r) { r.rax = static_cast<unsigned long long>(ret); });
}

bool SetArg0(pid_t tid, uint64_t value) {
  return EditRegs(tid, [value](user_regs_struct& r) { r.rdi = value; });
}

namespace {
unsigned long long* ArgReg(user_regs_struct& r, int i) {
  switch (i) {
    case 0: return &r.rdi;
    case 1: return &r.rsi;
    case 2: return &r.rdx;
    case 3: return &r.r10;
    case 4: return &r.r8;
    default: return &r.r9;
  }
}
}  // namespace

bool SetArg(pid_t tid, int i, uint64_t value) {
  return EditRegs(tid, [i, value](user_regs_struct& r) { *ArgReg(r, i) = value; });
}

bool ReissueWithArg(pid_t tid, const Regs& base, int i, uint64_t value) {
  user_regs_struct r;
  memcpy(&r, &base, sizeof r);
  r.rip -= 2;  // syscall (0f 05)
  r.rax = r.orig_rax;
  *ArgReg(r, i) = value;
  return ptrace(PTRACE_SETREGS, tid, nullptr, &r) == 0;
}

static_assert(sizeof(Regs) == sizeof(user_regs_struct));

bool GetRegs(pid_t tid, Regs* out) { return ptrace(PTRACE_GETREGS, tid, nullptr, out) == 0; }
bool SetRegs(pid_t tid, const Regs& in) { return ptrace(PTRACE_SETREGS, tid, nullptr, &in) == 0; }

bool SetCall(pid_t tid, long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5) {
  return EditRegs(tid, [=](user_regs_struct& r) {
    r.orig_rax = static_cast<unsigned long long>(nr);
    r.rdi = a0;
    r.rsi = a1;
    r.rdx = a2;
    r.r10 = a3;
    r.r8 = a4;
    r.r9 = a5;
  });
}

bool Reissue(pid_t tid, const Regs& base, long nr, uint64_t a0, uint64_t a1, uint64_t a2) {
  user_regs_struct r;
  memcpy(&r, &base, sizeof r);
  r.rip -= 2;  // syscall (0f 05)
  r.rax = static_cast<unsigned long long>(nr);
  r.orig_rax = static_cast<unsigned long long>(nr);
  r.rdi = a0;
  r.rsi = a1;
  r.rdx = a2;
  return ptrace(PTRACE_SETREGS, tid, nullptr, &r) == 0;
}

long CurrentNr(pid_t tid) {
  user_regs_struct r;
  return ptrace(PTRACE_GETREGS, tid, nullptr, &r) == 0 ? static_cast<long>(r.orig_rax) : -1;
}

bool ReadMem(pid_t tid, uint64_t addr, void* buf, size_t n) {
  if (n == 0) return true;
  iovec local{buf, n};
  iovec remote{reinterpret_cast<void*>(addr), n};
  return process_vm_readv(tid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n);
}

bool WriteMem(pid_t tid, uint64_t addr, const void* buf, size_t n) {
  if (n == 0) return true;
  iovec local{const_cast<void*>(buf), n};
  iovec remote{reinterpret_cast<void*>(addr), n};
  return process_vm_writev(tid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n);
}

pid_t TgidOf(pid_t tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(tid));
  sysio::Fd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return 0;
  char buf[1024];
  ssize_t n = read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = strstr(buf, "\nTgid:");
  return p != nullptr ? static_cast<pid_t>(atoi(p + 6)) : 0;
}

int TakeFd(pid_t tgid, int fd) {
  sysio::Fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, tgid, 0)));
  if (!pidfd.valid()) return -errno;
  int r = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0));
  return r >= 0 ? r : -errno;
}

}  // namespace uvpn::trace
