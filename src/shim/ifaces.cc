// The virtual interface `uvpn0` (docs/shim.md "Virtual interface"): getifaddrs/freeifaddrs and the interface
// ioctls show the node's virtual address next to the real interfaces, so programs that publish their own
// addresses (Open MPI's modex) can publish the virtual one.
//
// Theory of operation: the kernel's answers are kept and one entry is added. getifaddrs appends a single
// malloc'ed block (entry, name and addresses, with a marker) to glibc's list; freeifaddrs finds that block by
// its marker, frees glibc's list with the real freeifaddrs (which frees glibc's one block), then ours.
// SIOCGIFCONF appends one ifreq when the caller's buffer has room. The per-interface requests run the real
// ioctl first, so a bad fd or a real interface fails or answers as always; only a request about `uvpn0` that
// the kernel rejects with ENODEV is answered here. Every other ioctl is a tail call after one switch.
//
// Hooks are extern "C", noexcept, bound to the libc names with asm labels; errno is preserved on success.
// Thread-safe; no state beyond the configuration.
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "shim/config.h"

#define UVPN_IF_HOOK(ret, name, params) \
  extern "C" __attribute__((visibility("default"))) ret uvpn_hook_##name params noexcept __asm__(#name)
UVPN_IF_HOOK(int, getifaddrs, (struct ifaddrs * *ifap));
UVPN_IF_HOOK(void, freeifaddrs, (struct ifaddrs * ifa));
UVPN_IF_HOOK(int, ioctl, (int fd, unsigned long request, ...));

namespace uvpn::shim {
namespace {

constexpr char kIfName[] = "uvpn0";
constexpr int kIfIndex = 4095;
constexpr int kIfMtu = 65536;
constexpr unsigned kIfFlags = IFF_UP | IFF_RUNNING | IFF_BROADCAST | IFF_MULTICAST;
constexpr uint64_t kMarker = 0x75767066'69666130ull;  // "uvpnifa0"

std::atomic<void*> g_real_getifaddrs, g_real_freeifaddrs, g_real_ioctl;

void* Sym(std::atomic<void*>& slot, const char* name) {
  void* p = slot.load(std::memory_order_acquire);
  if (p == nullptr) {
    p = dlsym(RTLD_NEXT, name);
    slot.store(p, std::memory_order_release);
  }
  return p;
}

int RealIoctl(int fd, unsigned long request, void* arg) {
  auto f = reinterpret_cast<int (*)(int, unsigned long, ...)>(Sym(g_real_ioctl, "ioctl"));
  return f != nullptr ? f(fd, request, arg) : static_cast<int>(syscall(SYS_ioctl, fd, request, arg));
}

sockaddr_in In4(uint32_t ip) {
  sockaddr_in s;
  memset(&s, 0, sizeof s);
  s.sin_family = AF_INET;
  s.sin_addr.s_addr = htonl(ip);
  return s;
}

// Our getifaddrs entry: one block, recognised by ifa_name pointing into it and the marker.
struct VirtualIfa {
  struct ifaddrs ifa;
  uint64_t marker;
  char name[sizeof kIfName];
  sockaddr_in addr, netmask, broadaddr;
};

bool IsOurs(const struct ifaddrs* p) {
  auto* v = reinterpret_cast<const VirtualIfa*>(p);
  return p->ifa_name == v->name && v->marker == kMarker;
}

bool IsUvpn0(const struct ifreq* r) {
  return strncmp(r->ifr_name, kIfName, IFNAMSIZ) == 0;
}

// Answers a per-interface request about uvpn0. REQUIRES: cfg.valid.
bool Answer(const Config& cfg, unsigned long request, struct ifreq* r) {
  sockaddr_in s;
  switch (request) {
    case SIOCGIFADDR:
      s = In4(cfg.vip);
      memcpy(&r->ifr_addr, &s, sizeof s);
      return true;
    case SIOCGIFNETMASK:
      s = In4(cfg.net_mask);
      memcpy(&r->ifr_netmask, &s, sizeof s);
      return true;
    case SIOCGIFBRDADDR:
      s = In4(cfg.net | ~cfg.net_mask);
      memcpy(&r->ifr_broadaddr, &s, sizeof s);
      return true;
    case SIOCGIFFLAGS:
      r->ifr_flags = static_cast<short>(kIfFlags);
      return true;
    case SIOCGIFINDEX:
      r->ifr_ifindex = kIfIndex;
      return true;
    case SIOCGIFMTU:
      r->ifr_mtu = kIfMtu;
      return true;
    case SIOCGIFHWADDR:
      memset(&r->ifr_hwaddr, 0, sizeof r->ifr_hwaddr);
      r->ifr_hwaddr.sa_family = ARPHRD_NONE;
      return true;
    default:
      return false;
  }
}

int IfConf(const Config& cfg, int fd, struct ifconf* ifc) {
  int room = ifc != nullptr ? ifc->ifc_len : 0;
  int r = RealIoctl(fd, SIOCGIFCONF, ifc);
  if (r != 0 || !cfg.valid || ifc == nullptr) return r;
  constexpr int kSize = static_cast<int>(sizeof(struct ifreq));
  if (ifc->ifc_buf == nullptr) {  // a query of the length needed
    ifc->ifc_len += kSize;
    return r;
  }
  if (room - ifc->ifc_len < kSize) return r;  // no room: the caller sees a full buffer and grows it
  struct ifreq q;
  memset(&q, 0, sizeof q);
  memcpy(q.ifr_name, kIfName, sizeof kIfName);
  sockaddr_in s = In4(cfg.vip);
  memcpy(&q.ifr_addr, &s, sizeof s);
  memcpy(ifc->ifc_buf + ifc->ifc_len, &q, sizeof q);
  ifc->ifc_len += kSize;
  return r;
}

}  // namespace
}  // namespace uvpn::shim

using namespace uvpn::shim;  // NOLINT(google-build-using-namespace): hooks live in the global namespace

int uvpn_hook_ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);  // every ioctl takes at most one argument; glibc reads it the same way
  va_end(ap);
  switch (request) {
    case SIOCGIFCONF:
      return IfConf(GetConfig(), fd, static_cast<struct ifconf*>(arg));
    case SIOCGIFADDR:
    case SIOCGIFNETMASK:
    case SIOCGIFBRDADDR:
    case SIOCGIFFLAGS:
    case SIOCGIFINDEX:
    case SIOCGIFMTU:
    case SIOCGIFHWADDR:
    case SIOCGIFNAME:
      break;
    default:
      return RealIoctl(fd, request, arg);
  }
  int saved = errno;
  int r = RealIoctl(fd, request, arg);
  if (r == 0 || errno != ENODEV || arg == nullptr) return r;
  Config cfg = GetConfig();
  if (!cfg.valid) return r;
  auto* q = static_cast<struct ifreq*>(arg);
  if (request == SIOCGIFNAME) {
    if (q->ifr_ifindex != kIfIndex) return r;
    memset(q->ifr_name, 0, IFNAMSIZ);
    memcpy(q->ifr_name, kIfName, sizeof kIfName);
  } else if (!IsUvpn0(q) || !Answer(cfg, request, q)) {
    return r;
  }
  errno = saved;
  return 0;
}

int uvpn_hook_getifaddrs(struct ifaddrs** ifap) noexcept {
  auto real = reinterpret_cast<int (*)(struct ifaddrs**)>(Sym(g_real_getifaddrs, "getifaddrs"));
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  int r = real(ifap);
  if (r != 0) return r;
  Config cfg = GetConfig();
  if (!cfg.valid) return r;
  int saved = errno;
  auto* v = static_cast<VirtualIfa*>(malloc(sizeof(VirtualIfa)));
  if (v == nullptr) {  // the real list is still a correct answer
    errno = saved;
    return r;
  }
  memset(v, 0, sizeof *v);
  v->marker = kMarker;
  memcpy(v->name, kIfName, sizeof kIfName);
  v->addr = In4(cfg.vip);
  v->netmask = In4(cfg.net_mask);
  v->broadaddr = In4(cfg.net | ~cfg.net_mask);
  v->ifa.ifa_name = v->name;
  v->ifa.ifa_flags = kIfFlags;
  v->ifa.ifa_addr = reinterpret_cast<sockaddr*>(&v->addr);
  v->ifa.ifa_netmask = reinterpret_cast<sockaddr*>(&v->netmask);
  v->ifa.ifa_broadaddr = reinterpret_cast<sockaddr*>(&v->broadaddr);
  struct ifaddrs** tail = ifap;
  while (*tail != nullptr) tail = &(*tail)->ifa_next;
  *tail = &v->ifa;
  errno = saved;
  return 0;
}

void uvpn_hook_freeifaddrs(struct ifaddrs* ifa) noexcept {
  struct ifaddrs* ours = nullptr;
  for (struct ifaddrs* p = ifa; p != nullptr; p = p->ifa_next) {
    if (IsOurs(p)) {
      ours = p;
      break;
    }
  }
  if (ifa != nullptr && ifa != ours) {
    auto real = reinterpret_cast<void (*)(struct ifaddrs*)>(Sym(g_real_freeifaddrs, "freeifaddrs"));
    if (real != nullptr) real(ifa);
  }
  free(ours);  // ifaddrs is the first member: the block's address
}
