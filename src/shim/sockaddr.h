// Socket-address and small system helpers for the shim: conversions between sockaddr and Ep (IPv4 and
// v4-mapped IPv6), the kernel's address-truncation rule, a monotonic clock, and the socket inode. All pure or
// one syscall; async-signal-safe; errno is preserved by every helper that does not report through it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

#include "shim/config.h"

namespace uvpn::shim {

// AF_INET -> *ep, *v6 = false; AF_INET6 with a v4-mapped address -> *ep, *v6 = true. False for anything else,
// including a null pointer or a too-short length.
bool ToEp(const struct sockaddr* sa, socklen_t len, Ep* ep, bool* v6);

// Writes `ep` as sockaddr_in (or v4-mapped sockaddr_in6 if v6) into *out; returns its length.
socklen_t FromEp(const Ep& ep, bool v6, struct sockaddr_storage* out);

// Copies an address to the application the way the kernel does: min(*dstlen, srclen) bytes, then *dstlen =
// srclen. A null dst or dstlen copies nothing.
void CopyOut(const void* src, socklen_t srclen, struct sockaddr* dst, socklen_t* dstlen);

// Milliseconds of CLOCK_MONOTONIC.
int64_t NowMs();

// Socket inode of fd, or 0 if fstat fails.
uint64_t Inode(int fd);

}  // namespace uvpn::shim
