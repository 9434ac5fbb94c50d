// The seccomp filter of `--mode ptrace` and the predicate that mirrors it in `--mode ptrace-all`
// (docs/trace.md, "The filter"). The filter is a classic BPF program: arch check, then a linear list of
// syscall numbers (a dozen compares; every allowed call takes the same short path), with argument checks for
// getsockopt (SOL_SOCKET/SO_ERROR only), clone (CLONE_UNTRACED only), sendto (a destination address) and
// recvfrom (a source address buffer): send()/recv() of a TCP program pass NULL there and never stop; and, when
// names are served (docs/trace.md "Names"), open/openat with the flags resolvers open /etc/hosts with, and openat2.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <vector>

namespace uvpn::trace {

// The program (built at start-up, before fork: the child must not allocate).
// names: also stop the opens of /etc/hosts candidates (HostsOpenFlags) and openat2.
std::vector<sock_filter> BuildFilter(bool names = true);
// True for the open flags glibc's files module, musl and Go open /etc/hosts with: O_RDONLY | O_CLOEXEC, with or
// without O_LARGEFILE (the kernel's 0x8000). A plain open(O_RDONLY) or fopen("r") never stops.
bool HostsOpenFlags(uint64_t flags);

// The filter the monitor injects into a process whose UDP socket `fd` was connected (or sent) to a virtual
// address (docs/trace.md "UDP"): SECCOMP_RET_TRACE for the data calls (IsDataCall) on that descriptor, allow otherwise.
std::vector<sock_filter> BuildFdFilter(int fd);
// read, write, readv, writev, sendto, recvfrom, sendmsg, recvmsg, sendmmsg, recvmmsg.
bool IsDataCall(long nr);

// Installs `prog` in the calling thread (inherited by children and across execve). Tries without
// NO_NEW_PRIVS first (allowed with CAP_SYS_ADMIN), else sets NO_NEW_PRIVS. Async-signal-safe (runs in the
// forked child). Returns 0 or an errno.
int InstallFilter(const std::vector<sock_filter>& prog);

// True if a call (x86-64 number and raw arguments) is one the monitor handles: exactly the calls the filter
// returns SECCOMP_RET_TRACE for, plus io_uring_setup (which the filter refuses by itself). Pure.
bool Interesting(long nr, const uint64_t args[6], bool names = true);

}  // namespace uvpn::trace
