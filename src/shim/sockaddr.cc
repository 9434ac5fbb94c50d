// See sockaddr.h.
#include "shim/sockaddr.h"

#include "proto/client.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstring>

namespace uvpn::shim {

bool ToEp(const struct sockaddr* sa, socklen_t len, Ep* ep, bool* v6) {
  return proto::SockaddrToV4(sa, len, &ep->ip, &ep->port, v6);
}

socklen_t FromEp(const Ep& ep, bool v6, struct sockaddr_storage* out) {
  return proto::V4ToSockaddr(ep.ip, ep.port, v6, out);
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
