#include "sysio/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace uvpn::sysio {

sockaddr_in ToSockaddr(const Endpoint& ep) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(ep.port);
  sa.sin_addr.s_addr = htonl(ep.ip);
  return sa;
}

Endpoint FromSockaddr(const sockaddr_in& sa) { return {ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port)}; }

Result<Fd> ListenTcp(const Endpoint& ep, int backlog) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::Errno(errno, "socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa = ToSockaddr(ep);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return Status::Errno(errno, "bind " + FormatEndpoint(ep));
  if (::listen(fd.get(), backlog) != 0) return Status::Errno(errno, "listen " + FormatEndpoint(ep));
  return fd;
}

Result<Fd> BindUdp(const Endpoint& ep) {
  Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::Errno(errno, "socket");
  sockaddr_in sa = ToSockaddr(ep);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return Status::Errno(errno, "bind udp " + FormatEndpoint(ep));
  return fd;
}

Result<Fd> ConnectTcpNonBlocking(const Endpoint& ep, bool* in_progress) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::Errno(errno, "socket");
  sockaddr_in sa = ToSockaddr(ep);
  int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (rc == 0) {
    *in_progress = false;
  } else if (errno == EINPROGRESS) {
    *in_progress = true;
  } else {
    return Status::Errno(errno, "connect " + FormatEndpoint(ep));
  }
  return fd;
}

Result<Fd> ConnectTcpBlocking(const Endpoint& ep, int timeout_ms) {
  bool in_progress = false;
  auto fd = ConnectTcpNonBlocking(ep, &in_progress);
  if (!fd) return fd.error();
  if (in_progress) {
    pollfd p{fd->get(), POLLOUT, 0};
    int rc;
    do rc = ::poll(&p, 1, timeout_ms); while (rc < 0 && errno == EINTR);
    if (rc == 0) return Status::Errno(ETIMEDOUT, "connect " + FormatEndpoint(ep));
    int err = SocketError(fd->get());
    if (err != 0) return Status::Errno(err, "connect " + FormatEndpoint(ep));
  }
  int flags = ::fcntl(fd->get(), F_GETFL);
  ::fcntl(fd->get(), F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

Result<Endpoint> LocalEndpoint(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return Status::Errno(errno, "getsockname");
  return FromSockaddr(sa);
}

Result<Endpoint> PeerEndpoint(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return Status::Errno(errno, "getpeername");
  return FromSockaddr(sa);
}

Status WriteAll(int fd, const void* buf, size_t len) {
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Errno(errno, "write");
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace uvpn::sysio
