// See sockaddr.h.
#include "shim/sockaddr.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstring>

namespace uvpn::shim {

bool ToEp(const struct sockaddr* sa, socklen_t len, Ep* ep, bool* v6) {
  if (sa == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t))) return false;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in;
    memcpy(&in, sa, sizeof in);
    *ep = Ep{ntohl(in.sin_addr.s_addr), ntohs(in.sin_port)};
    *v6 = false;
    return true;
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6;
    memcpy(&in6, sa, sizeof in6);
    const uint8_t* b = in6.sin6_addr.s6_addr;
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(b, kMapped, 12) != 0) return false;
    uint32_t ip = static_cast<uint32_t>(b[12]) << 24 | static_cast<uint32_t>(b[13]) << 16 |
                  static_cast<uint32_t>(b[14]) << 8 | b[15];
    *ep = Ep{ip, ntohs(in6.sin6_port)};
    *v6 = true;
    return true;
  }
  return false;
}

socklen_t FromEp(const Ep& ep, bool v6, struct sockaddr_storage* out) {
  memset(out, 0, sizeof *out);
  if (!v6) {
    auto* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    in->sin_port = htons(ep.port);
    in->sin_addr.s_addr = htonl(ep.ip);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(ep.port);
  uint8_t* b = in6->sin6_addr.s6_addr;
  b[10] = b[11] = 0xff;
  b[12] = static_cast<uint8_t>(ep.ip >> 24);
  b[13] = static_cast<uint8_t>(ep.ip >> 16);
  b[14] = static_cast<uint8_t>(ep.ip >> 8);
  b[15] = static_cast<uint8_t>(ep.ip);
  return sizeof(sockaddr_in6);
}

void CopyOut(const void* src, socklen_t srclen, struct sockaddr* dst, socklen_t* dstlen) {
  if (dst == nullptr || dstlen == nullptr) return;
  socklen_t n = *dstlen < srclen ? *dstlen : srclen;
  memcpy(dst, src, n);
  *dstlen = srclen;
}

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

uint64_t Inode(int fd) {
  int saved = errno;
  struct stat st;
  uint64_t ino = fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
  errno = saved;
  return ino;
}

}  // namespace uvpn::shim
