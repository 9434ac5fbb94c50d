// Access to a stopped tracee: registers (skip a call, set its return value, rewrite an argument), its memory
// (process_vm_readv/writev, never word-by-word PEEK/POKE), its descriptors (pidfd_getfd) and the syscall
// information of the current stop. x86-64 only.
//
// REQUIRES for the register functions: `tid` is in a ptrace stop of this thread's tracer. Thread-compatible.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace uvpn::trace {

enum class StopKind : uint8_t { kNone, kSeccomp, kEntry, kExit };

struct CallInfo {
  StopKind kind = StopKind::kNone;
  long nr = -1;           // seccomp and entry stops
  uint64_t args[6] = {};  // seccomp and entry stops
  int64_t ret = 0;        // exit stops
};

// PTRACE_GET_SYSCALL_INFO. False if the tracee is gone or the stop is not a syscall stop.
bool GetCallInfo(pid_t tid, CallInfo* out);

// Skips the current call (syscall number -1) and makes it return `ret` (-errno for errors). At a seccomp stop
// this is the whole job; at an entry stop the value must be set again at the exit stop (SetReturn).
bool SkipCall(pid_t tid, int64_t ret);
bool SetReturn(pid_t tid, int64_t ret);
// Rewrites the first argument register (rdi) of the current call.
bool SetArg0(pid_t tid, uint64_t value);
// Rewrites argument register i (0..5: rdi, rsi, rdx, r10, r8, r9) of the current call.
bool SetArg(pid_t tid, int i, uint64_t value);

// All registers (x86-64 user_regs_struct, passed as bytes so that this header stays free of <sys/user.h>).
struct Regs {
  unsigned long long r[27];
};
bool GetRegs(pid_t tid, Regs* out);
bool SetRegs(pid_t tid, const Regs& in);
// Turns the call at the current seccomp or entry stop into syscall `nr` with arguments a0..a5 (other registers
// untouched). Used to run mmap() and seccomp() in the tracee.
bool SetCall(pid_t tid, long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3 = 0, uint64_t a4 = 0,
             uint64_t a5 = 0);
// At an exit stop: registers `base` (those of an earlier stop of the same call), but with the instruction pointer
// moved back over the 2-byte syscall instruction and rax = nr, rdi/rsi/rdx = a0..a2: on resumption the thread
// issues syscall nr from the same place.
bool Reissue(pid_t tid, const Regs& base, long nr, uint64_t a0, uint64_t a1, uint64_t a2);
// Like Reissue, but the same call as in `base` (its orig_rax and arguments) with argument i (0..5) = value.
bool ReissueWithArg(pid_t tid, const Regs& base, int i, uint64_t value);
// The syscall number of the current syscall stop (orig_rax), or -1.
long CurrentNr(pid_t tid);

// Exactly n bytes, or false (EFAULT-like: unmapped or protected memory, tracee gone).
bool ReadMem(pid_t tid, uint64_t addr, void* buf, size_t n);
bool WriteMem(pid_t tid, uint64_t addr, const void* buf, size_t n);

// The thread-group id of `tid` (from /proc), or 0.
pid_t TgidOf(pid_t tid);

// A duplicate (CLOEXEC) of descriptor `fd` of process `tgid`: same open file description. Returns the new fd or
// -errno (EBADF if the tracee has no such fd).
int TakeFd(pid_t tgid, int fd);

}  // namespace uvpn::trace
