// Descriptor bookkeeping for the UDP marks of udp.cc. Theory of operation: the UDP hooks remember per fd
// number that a descriptor is an overlay datagram socket (so receive calls strip the 24-byte header). A number
// gets a new meaning when a call creates a descriptor on it; these hooks tell udp.cc so, so a stale mark can
// never make a receive on an unrelated socket read header bytes it must not. Duplicates share the original's
// marks. Each hook is the real call plus one branch on the result; TCP state needs none of this (it is keyed by
// socket inode, see cache.h). close() is hooked in udp.cc.
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/socket.h>

#include <atomic>

#include "shim/real_sym.h"
#include "shim/udp.h"

#define UVPN_HOOK(ret, name, params) \
  extern "C" __attribute__((visibility("default"))) ret uvpn_hook_##name params noexcept __asm__(#name)
UVPN_HOOK(int, socket, (int domain, int type, int protocol));
UVPN_HOOK(int, dup, (int fd));
UVPN_HOOK(int, dup2, (int fd, int fd2));
UVPN_HOOK(int, dup3, (int fd, int fd2, int flags));
UVPN_HOOK(int, fcntl, (int fd, int cmd, ...));
UVPN_HOOK(int, fcntl64, (int fd, int cmd, ...));
UVPN_HOOK(int, close_range, (unsigned int first, unsigned int last, int flags));

namespace {

// fcntl commands whose third argument is a pointer; every other command takes an int (or nothing, and then
// passing a junk int is harmless, as glibc itself does).
bool PointerArg(int cmd) {
  switch (cmd) {
    case F_GETLK: case F_SETLK: case F_SETLKW:
    case F_OFD_GETLK: case F_OFD_SETLK: case F_OFD_SETLKW:
    case F_GETOWN_EX: case F_SETOWN_EX:
#ifdef F_GET_RW_HINT
    case F_GET_RW_HINT: case F_SET_RW_HINT: case F_GET_FILE_RW_HINT: case F_SET_FILE_RW_HINT:
#endif
      return true;
    default:
      return false;
  }
}

using FcntlFn = int (*)(int, int, ...);

int Fcntl(FcntlFn real, int fd, int cmd, va_list ap) {
  if (PointerArg(cmd)) return real(fd, cmd, va_arg(ap, void*));
  int arg = va_arg(ap, int);
  int r = real(fd, cmd, arg);
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) uvpn::shim::UdpFdDuplicated(fd, r);
  return r;
}

}  // namespace

int uvpn_hook_socket(int domain, int type, int protocol) noexcept {
  using Fn = int (*)(int, int, int);
  REAL(socket, Fn);
  int r = real_socket(domain, type, protocol);
  uvpn::shim::UdpFdReplaced(r);
  return r;
}

int uvpn_hook_dup(int fd) noexcept {
  using Fn = int (*)(int);
  REAL(dup, Fn);
  int r = real_dup(fd);
  if (r >= 0) uvpn::shim::UdpFdDuplicated(fd, r);
  return r;
}

int uvpn_hook_dup2(int fd, int fd2) noexcept {
  using Fn = int (*)(int, int);
  REAL(dup2, Fn);
  int r = real_dup2(fd, fd2);
  if (r >= 0 && fd != fd2) uvpn::shim::UdpFdDuplicated(fd, r);
  return r;
}

int uvpn_hook_dup3(int fd, int fd2, int flags) noexcept {
  using Fn = int (*)(int, int, int);
  REAL(dup3, Fn);
  int r = real_dup3(fd, fd2, flags);
  if (r >= 0) uvpn::shim::UdpFdDuplicated(fd, r);
  return r;
}

int uvpn_hook_fcntl(int fd, int cmd, ...) noexcept {
  REAL(fcntl, FcntlFn);
  va_list ap;
  va_start(ap, cmd);
  int r = Fcntl(real_fcntl, fd, cmd, ap);
  va_end(ap);
  return r;
}

int uvpn_hook_fcntl64(int fd, int cmd, ...) noexcept {
  REAL(fcntl64, FcntlFn);
  va_list ap;
  va_start(ap, cmd);
  int r = Fcntl(real_fcntl64, fd, cmd, ap);
  va_end(ap);
  return r;
}

int uvpn_hook_close_range(unsigned int first, unsigned int last, int flags) noexcept {
  using Fn = int (*)(unsigned int, unsigned int, int);
  REAL(close_range, Fn);
  int r = real_close_range(first, last, flags);
  if (r == 0 && (flags & CLOSE_RANGE_CLOEXEC) == 0) {
    // Only numbers the marks can hold matter; the loop is bounded by that table, not by `last`.
    for (unsigned int fd = first; fd <= last && fd < 65536; ++fd) uvpn::shim::UdpFdReplaced(static_cast<int>(fd));
  }
  return r;
}
