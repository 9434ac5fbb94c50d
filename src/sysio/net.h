// Socket helpers returning Result: the syscall boundary of the router and the CLI.
#pragma once

#include <netinet/in.h>

#include "common/addr.h"
#include "common/result.h"
#include "sysio/fd.h"

namespace uvpn::sysio {

sockaddr_in ToSockaddr(const Endpoint& ep);
Endpoint FromSockaddr(const sockaddr_in& sa);

// Non-blocking, CLOEXEC TCP listener with SO_REUSEADDR, bound to `ep`.
Result<Fd> ListenTcp(const Endpoint& ep, int backlog = 4096);
// Non-blocking, CLOEXEC UDP socket bound to `ep`.
Result<Fd> BindUdp(const Endpoint& ep);
// Non-blocking, CLOEXEC TCP socket with connect() started. `*in_progress` tells whether it is still connecting.
Result<Fd> ConnectTcpNonBlocking(const Endpoint& ep, bool* in_progress);
// Blocking connect with a timeout in milliseconds (the CLI's registration).
Result<Fd> ConnectTcpBlocking(const Endpoint& ep, int timeout_ms);
// Reads SO_ERROR.
int SocketError(int fd);
Result<Endpoint> LocalEndpoint(int fd);
Result<Endpoint> PeerEndpoint(int fd);
// Writes all of buf on a blocking socket; EINTR retried.
Status WriteAll(int fd, const void* buf, size_t len);

}  // namespace uvpn::sysio
