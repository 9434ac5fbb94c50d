// The resolver and host-name hooks (docs/shim.md "Host names"): getaddrinfo, getnameinfo, gethostbyname,
// gethostbyname2, their _r forms, gethostbyaddr(_r), gethostname and uname.
//
// Theory of operation: a hook answers from names.h only when the query concerns the overlay (an overlay name,
// a virtual address, the node's own name); anything else, and any overlay query the router does not know, is
// a tail call into the real function, so other names resolve exactly as before. getaddrinfo builds its answer
// by calling the real getaddrinfo on the numeric VIP: the result then has glibc's own layout (each node and
// its sockaddr one malloc, ai_canonname another) and the application's freeaddrinfo frees it as usual. The
// non-reentrant calls answer into per-thread storage (glibc uses one static buffer per function; a thread of
// ours never overwrites another thread's answer).
//
// Like every hook: extern "C", noexcept, bound to the libc name with an asm label, errno preserved on
// success.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "proto/wire.h"
#include "shim/config.h"
#include "shim/names.h"
#include "shim/sockaddr.h"

#define UVPN_NAME_HOOK(ret, name, params) \
  extern "C" __attribute__((visibility("default"))) ret uvpn_hook_##name params noexcept __asm__(#name)
UVPN_NAME_HOOK(int, getaddrinfo,
               (const char* node, const char* service, const struct addrinfo* hints, struct addrinfo** res));
UVPN_NAME_HOOK(int, getnameinfo,
               (const struct sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen, char* serv,
                socklen_t servlen, int flags));
UVPN_NAME_HOOK(struct hostent*, gethostbyname, (const char* name));
UVPN_NAME_HOOK(struct hostent*, gethostbyname2, (const char* name, int af));
UVPN_NAME_HOOK(int, gethostbyname_r,
               (const char* name, struct hostent* ret, char* buf, size_t buflen, struct hostent** result,
                int* h_errnop));
UVPN_NAME_HOOK(int, gethostbyname2_r,
               (const char* name, int af, struct hostent* ret, char* buf, size_t buflen,
                struct hostent** result, int* h_errnop));
UVPN_NAME_HOOK(struct hostent*, gethostbyaddr, (const void* addr, socklen_t len, int type));
UVPN_NAME_HOOK(int, gethostbyaddr_r,
               (const void* addr, socklen_t len, int type, struct hostent* ret, char* buf, size_t buflen,
                struct hostent** result, int* h_errnop));
UVPN_NAME_HOOK(int, gethostname, (char* name, size_t len));
UVPN_NAME_HOOK(int, uname, (struct utsname * buf));

namespace uvpn::shim {
namespace {

// The real function `name`, looked up once (dlsym answers the same to racing threads); null if absent.
template <typename F>
F RealFn(std::atomic<void*>& slot, const char* name) {
  void* p = slot.load(std::memory_order_acquire);
  if (p == nullptr) {
    p = dlsym(RTLD_NEXT, name);
    slot.store(p, std::memory_order_release);
  }
  return reinterpret_cast<F>(p);
}
#define UVPN_REAL(name) RealFn<decltype(&uvpn_hook_##name)>(g_real_##name, #name)

std::atomic<void*> g_real_getaddrinfo, g_real_getnameinfo, g_real_gethostbyname, g_real_gethostbyname2,
    g_real_gethostbyname_r, g_real_gethostbyname2_r, g_real_gethostbyaddr, g_real_gethostbyaddr_r,
    g_real_gethostname, g_real_uname;

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Writes the hostent of `n` into `ret` with everything it points to in buf: the name, no aliases, one address
// of family `af` (AF_INET, or AF_INET6 as ::ffff:vip). Returns 0 or ERANGE if buf is too small.
int FillHostent(const NodeName& n, int af, struct hostent* ret, char* buf, size_t buflen) {
  uintptr_t start = reinterpret_cast<uintptr_t>(buf);
  size_t pad = (alignof(char*) - start % alignof(char*)) % alignof(char*);
  size_t need = pad + 3 * sizeof(char*) + 16 + n.len + 1u;
  if (buf == nullptr || buflen < need) return ERANGE;
  char** ptrs = reinterpret_cast<char**>(buf + pad);
  char* addr = buf + pad + 3 * sizeof(char*);
  char* name = addr + 16;
  uint32_t be = htonl(n.vip);
  int alen = 4;
  if (af == AF_INET6) {
    memcpy(addr, kMappedPrefix, 12);
    memcpy(addr + 12, &be, 4);
    alen = 16;
  } else {
    memcpy(addr, &be, 4);
  }
  memcpy(name, n.name, n.len);
  name[n.len] = '\0';
  ptrs[0] = nullptr;  // h_aliases
  ptrs[1] = addr;     // h_addr_list
  ptrs[2] = nullptr;
  ret->h_name = name;
  ret->h_aliases = ptrs;
  ret->h_addrtype = af;
  ret->h_length = alen;
  ret->h_addr_list = ptrs + 1;
  return 0;
}

// Per-thread answer of the non-reentrant calls (initial-exec TLS: no allocation, no __tls_get_addr).
struct HostStore {
  struct hostent h;
  alignas(char*) char buf[3 * sizeof(char*) + 16 + 64 + sizeof(char*)];
};
__thread HostStore t_host __attribute__((tls_model("initial-exec")));

struct hostent* Answer(const NodeName& n, int af) {
  if (FillHostent(n, af, &t_host.h, t_host.buf, sizeof t_host.buf) != 0) return nullptr;  // cannot happen
  return &t_host.h;
}

// The overlay's answer to a name query of family `af`: 1 found (*n set), -1 an overlay name without an
// address of that family (NO_DATA), 0 not the overlay's business.
int ForName(const char* name, int af, NodeName* n) {
  if (af != AF_INET && af != AF_INET6) return 0;
  Config cfg = GetConfig();
  if (!cfg.valid || !ResolveName(cfg, name, n)) return 0;
  return af == AF_INET ? 1 : -1;
}

// The overlay's answer to an address query (AF_INET 4 bytes, or AF_INET6 16 bytes ::ffff:V).
AddrResult ForAddr(const void* addr, socklen_t len, int type, NodeName* n) {
  if (addr == nullptr) return AddrResult::kNotOurs;
  uint32_t be;
  if (type == AF_INET && len == 4) {
    memcpy(&be, addr, 4);
  } else if (type == AF_INET6 && len == 16 && memcmp(addr, kMappedPrefix, 12) == 0) {
    memcpy(&be, static_cast<const uint8_t*>(addr) + 12, 4);
  } else {
    return AddrResult::kNotOurs;
  }
  Config cfg = GetConfig();
  return cfg.valid ? ResolveAddr(cfg, ntohl(be), n) : AddrResult::kNotOurs;
}

int ReentrantAnswer(const NodeName& n, int af, struct hostent* ret, char* buf, size_t buflen,
                    struct hostent** result, int* h_errnop) {
  if (FillHostent(n, af, ret, buf, buflen) != 0) {
    *result = nullptr;
    *h_errnop = h_errno = NETDB_INTERNAL;
    errno = ERANGE;
    return ERANGE;
  }
  *result = ret;
  *h_errnop = NETDB_SUCCESS;
  return 0;
}

}  // namespace
}  // namespace uvpn::shim

using namespace uvpn::shim;  // NOLINT(google-build-using-namespace): hooks live in the global namespace

int uvpn_hook_getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                          struct addrinfo** res) noexcept {
  auto real = UVPN_REAL(getaddrinfo);
  if (real == nullptr) return EAI_SYSTEM;
  int flags = hints != nullptr ? hints->ai_flags : (AI_V4MAPPED | AI_ADDRCONFIG);  // glibc's default hints
  int family = hints != nullptr ? hints->ai_family : AF_UNSPEC;
  if (node == nullptr || (flags & AI_NUMERICHOST) != 0 || res == nullptr ||
      (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
    return real(node, service, hints, res);
  Config cfg = GetConfig();
  NodeName n;
  if (!cfg.valid || !ResolveName(cfg, node, &n)) return real(node, service, hints, res);
  if (family == AF_INET6 && (flags & AI_V4MAPPED) == 0)
    return EAI_NONAME;  // glibc's answer for IPv4-only names

  // Let glibc build the list from the numeric address: services, socket types and layout stay glibc's.
  char num[INET6_ADDRSTRLEN];
  uint32_t be = htonl(n.vip);
  if (family == AF_INET6) {
    uint8_t a6[16];
    memcpy(a6, kMappedPrefix, 12);
    memcpy(a6 + 12, &be, 4);
    inet_ntop(AF_INET6, a6, num, sizeof num);
  } else {
    inet_ntop(AF_INET, &be, num, sizeof num);
  }
  struct addrinfo h;
  memset(&h, 0, sizeof h);
  h.ai_family = family;
  h.ai_socktype = hints != nullptr ? hints->ai_socktype : 0;
  h.ai_protocol = hints != nullptr ? hints->ai_protocol : 0;
  h.ai_flags =
      (flags | AI_NUMERICHOST) & ~(AI_ADDRCONFIG | AI_CANONNAME | AI_V4MAPPED | AI_ALL | AI_CANONIDN);
  int r = real(num, service, &h, res);
  if (r != 0 || (flags & AI_CANONNAME) == 0 || *res == nullptr) return r;
  // glibc 2.36 freeaddrinfo frees ai_canonname of every node with free(): a malloc'ed copy fits.
  char* canon = static_cast<char*>(malloc(n.len + 1u));
  if (canon == nullptr) {
    freeaddrinfo(*res);
    *res = nullptr;
    return EAI_MEMORY;
  }
  memcpy(canon, n.name, n.len + 1u);
  free((*res)->ai_canonname);
  (*res)->ai_canonname = canon;
  return 0;
}

int uvpn_hook_getnameinfo(const struct sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                          char* serv, socklen_t servlen, int flags) noexcept {
  auto real = UVPN_REAL(getnameinfo);
  if (real == nullptr) return EAI_SYSTEM;
  if (host == nullptr || hostlen == 0 || (flags & NI_NUMERICHOST) != 0)
    return real(sa, salen, host, hostlen, serv, servlen, flags);
  Config cfg = GetConfig();
  Ep ep;
  bool v6;
  NodeName n;
  AddrResult k = cfg.valid && ToEp(sa, salen, &ep, &v6) ? ResolveAddr(cfg, ep.ip, &n) : AddrResult::kNotOurs;
  if (k == AddrResult::kNotOurs) return real(sa, salen, host, hostlen, serv, servlen, flags);
  if (k == AddrResult::kNoNode) {  // the numeric form, as glibc gives when no PTR record exists
    if ((flags & NI_NAMEREQD) != 0) return EAI_NONAME;
    return real(sa, salen, host, hostlen, serv, servlen, flags | NI_NUMERICHOST);
  }
  int saved = errno;
  if (serv != nullptr && servlen > 0) {
    int r = real(sa, salen, nullptr, 0, serv, servlen, flags);
    if (r != 0) return r;
  }
  if (hostlen < n.len + 1u) return EAI_OVERFLOW;
  memcpy(host, n.name, n.len + 1u);
  errno = saved;
  return 0;
}

struct hostent* uvpn_hook_gethostbyname(const char* name) noexcept {
  NodeName n;
  if (ForName(name, AF_INET, &n) == 1) return Answer(n, AF_INET);
  auto real = UVPN_REAL(gethostbyname);
  return real != nullptr ? real(name) : nullptr;
}

struct hostent* uvpn_hook_gethostbyname2(const char* name, int af) noexcept {
  NodeName n;
  int k = ForName(name, af, &n);
  if (k == 1) return Answer(n, af);
  if (k == -1) {
    h_errno = NO_DATA;
    return nullptr;
  }
  auto real = UVPN_REAL(gethostbyname2);
  return real != nullptr ? real(name, af) : nullptr;
}

int uvpn_hook_gethostbyname_r(const char* name, struct hostent* ret, char* buf, size_t buflen,
                              struct hostent** result, int* h_errnop) noexcept {
  NodeName n;
  if (ForName(name, AF_INET, &n) == 1) return ReentrantAnswer(n, AF_INET, ret, buf, buflen, result, h_errnop);
  auto real = UVPN_REAL(gethostbyname_r);
  return real != nullptr ? real(name, ret, buf, buflen, result, h_errnop) : ENOSYS;
}

int uvpn_hook_gethostbyname2_r(const char* name, int af, struct hostent* ret, char* buf, size_t buflen,
                               struct hostent** result, int* h_errnop) noexcept {
  NodeName n;
  int k = ForName(name, af, &n);
  if (k == 1) return ReentrantAnswer(n, af, ret, buf, buflen, result, h_errnop);
  if (k == -1) {
    *result = nullptr;
    *h_errnop = h_errno = NO_DATA;
    return 0;  // glibc's convention for "not found": 0 with a null result
  }
  auto real = UVPN_REAL(gethostbyname2_r);
  return real != nullptr ? real(name, af, ret, buf, buflen, result, h_errnop) : ENOSYS;
}

struct hostent* uvpn_hook_gethostbyaddr(const void* addr, socklen_t len, int type) noexcept {
  NodeName n;
  AddrResult k = ForAddr(addr, len, type, &n);
  if (k == AddrResult::kFound) return Answer(n, type);
  if (k == AddrResult::kNoNode) {
    h_errno = HOST_NOT_FOUND;
    return nullptr;
  }
  auto real = UVPN_REAL(gethostbyaddr);
  return real != nullptr ? real(addr, len, type) : nullptr;
}

int uvpn_hook_gethostbyaddr_r(const void* addr, socklen_t len, int type, struct hostent* ret, char* buf,
                              size_t buflen, struct hostent** result, int* h_errnop) noexcept {
  NodeName n;
  AddrResult k = ForAddr(addr, len, type, &n);
  if (k == AddrResult::kFound) return ReentrantAnswer(n, type, ret, buf, buflen, result, h_errnop);
  if (k == AddrResult::kNoNode) {
    *result = nullptr;
    *h_errnop = h_errno = HOST_NOT_FOUND;  // glibc sets both; Python reads h_errno
    return 0;
  }
  auto real = UVPN_REAL(gethostbyaddr_r);
  return real != nullptr ? real(addr, len, type, ret, buf, buflen, result, h_errnop) : ENOSYS;
}

int uvpn_hook_uname(struct utsname* buf) noexcept {
  auto real = UVPN_REAL(uname);
  int r = real != nullptr ? real(buf) : static_cast<int>(syscall(SYS_uname, buf));
  if (r != 0) return r;
  NodeName self;
  if (SelfName(GetConfig(), &self)) {
    static_assert(sizeof buf->nodename > uvpn::proto::kMaxName);
    memcpy(buf->nodename, self.name, self.len + 1u);
  }
  return 0;
}

int uvpn_hook_gethostname(char* name, size_t len) noexcept {
  NodeName self;
  if (!SelfName(GetConfig(), &self)) {
    auto real = UVPN_REAL(gethostname);
    if (real != nullptr) return real(name, len);
    errno = ENOSYS;
    return -1;
  }
  // glibc's rule (sysdeps/unix/sysv/linux/gethostname.c): copy what fits, then fail if it did not all fit.
  size_t need = self.len + 1u;
  memcpy(name, self.name, len < need ? len : need);
  if (need > len) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}
