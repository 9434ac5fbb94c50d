// See libc.h. Fallbacks use syscall(2) directly so a libc without a symbol (never on glibc) still works.
#include "shim/libc.h"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace uvpn::shim {
namespace {

RealFns g_fns;
std::atomic<bool> g_ready{false};

int SysConnect(int fd, const struct sockaddr* a, socklen_t l) {
  return static_cast<int>(syscall(SYS_connect, fd, a, l));
}
int SysBind(int fd, const struct sockaddr* a, socklen_t l) {
  return static_cast<int>(syscall(SYS_bind, fd, a, l));
}
int SysAccept(int fd, struct sockaddr* a, socklen_t* l) {
  return static_cast<int>(syscall(SYS_accept, fd, a, l));
}
int SysAccept4(int fd, struct sockaddr* a, socklen_t* l, int f) {
  return static_cast<int>(syscall(SYS_accept4, fd, a, l, f));
}
int SysGetsockname(int fd, struct sockaddr* a, socklen_t* l) {
  return static_cast<int>(syscall(SYS_getsockname, fd, a, l));
}
int SysGetpeername(int fd, struct sockaddr* a, socklen_t* l) {
  return static_cast<int>(syscall(SYS_getpeername, fd, a, l));
}
int SysGetsockopt(int fd, int lv, int nm, void* v, socklen_t* l) {
  return static_cast<int>(syscall(SYS_getsockopt, fd, lv, nm, v, l));
}

template <typename F>
void Resolve(F* slot, const char* name, F fallback) {
  void* p = dlsym(RTLD_NEXT, name);
  *slot = p != nullptr ? reinterpret_cast<F>(p) : fallback;
}

}  // namespace

const RealFns& Real() {
  if (g_ready.load(std::memory_order_acquire)) return g_fns;
  RealFns f;
  Resolve(&f.connect, "connect", &SysConnect);
  Resolve(&f.bind, "bind", &SysBind);
  Resolve(&f.accept, "accept", &SysAccept);
  Resolve(&f.accept4, "accept4", &SysAccept4);
  Resolve(&f.getsockname, "getsockname", &SysGetsockname);
  Resolve(&f.getpeername, "getpeername", &SysGetpeername);
  Resolve(&f.getsockopt, "getsockopt", &SysGetsockopt);
  // Two racing threads write identical values; the flag publishes them.
  static std::atomic<int> writer{0};
  if (writer.exchange(1, std::memory_order_acq_rel) == 0) {
    g_fns = f;
    g_ready.store(true, std::memory_order_release);
    return g_fns;
  }
  // Lost the race: the winner is copying a few words; wait for it, boundedly (a child forked inside that
  // window would wait forever), then fall back to raw system calls.
  for (int i = 0; i < 100000; ++i)
    if (g_ready.load(std::memory_order_acquire)) return g_fns;
  static constexpr RealFns kSys = {&SysConnect,     &SysBind,        &SysAccept,    &SysAccept4,
                                   &SysGetsockname, &SysGetpeername, &SysGetsockopt};
  return kSys;
}

}  // namespace uvpn::shim
