// The real libc functions behind the hooks, found with dlsym(RTLD_NEXT, ...).
//
// Theory of operation: all pointers are resolved together on the first call of Real() (from whichever hook
// runs first), published through one atomic flag. Racing threads may both resolve; dlsym returns the same
// answers, so the race is harmless and nobody waits. Every internal call of a hooked function MUST go through
// Real(): calling `connect` by name from inside the library would re-enter our own hook.
#pragma once

#include <sys/socket.h>

namespace uvpn::shim {

struct RealFns {
  int (*connect)(int, const struct sockaddr*, socklen_t);
  int (*bind)(int, const struct sockaddr*, socklen_t);
  int (*accept)(int, struct sockaddr*, socklen_t*);
  int (*accept4)(int, struct sockaddr*, socklen_t*, int);
  int (*getsockname)(int, struct sockaddr*, socklen_t*);
  int (*getpeername)(int, struct sockaddr*, socklen_t*);
  int (*getsockopt)(int, int, int, void*, socklen_t*);
};

// Never null members once returned (a symbol dlsym cannot find falls back to a raw-syscall stub).
// Thread-safe.
const RealFns& Real();

}  // namespace uvpn::shim
