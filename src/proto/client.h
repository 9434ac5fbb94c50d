// The client side of leg 0 (docs/protocol.md sections 2-3), shared by the preload library and the ptrace monitor:
// what a diverted connect() writes to the home router, and what a failure to reach the home router means to the
// application. Freestanding like wire.h: pure, thread- and async-signal-safe, no allocation.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "proto/wire.h"

namespace uvpn::proto {

// Encodes into `out` (kConnHeaderAuthSize bytes of room) the CONN_HEADER hop 0 of a client whose socket has real
// local port `local_port`, aimed at virtual dst_vip:dst_port. A blocking socket asks for an in-band STATUS
// (WANT_STATUS); a non-blocking one learns its result through LOOKUP. The router overwrites the source from its
// lease; `vip` is sent only for its logs. With the lease key `key` (non-null) the header is signed (proto/auth.h).
// Returns the bytes written (kConnHeaderSize, or kConnHeaderAuthSize when signed).
size_t EncodeClientHeader(uint32_t vip, uint16_t local_port, uint32_t dst_vip, uint16_t dst_port, bool nonblocking,
                          const uint8_t* key, uint8_t* out);

// Decodes the hop-2 header a router wrote at the start of a relayed connection. kOk only for hop 2 and, when `key`
// (this node's lease key) is given, only with a valid tag and a fresh timestamp; kNeedMore for a strict prefix.
// On kOk *used is the header's size (32 or 64): consume exactly that.
Parse DecodeHopTwo(const uint8_t* buf, size_t len, const uint8_t* key, ConnHeader* h, size_t* used);

// errno of the application's connect() when the LAN connect to its home router failed with `err`: every form of
// "the router is not there" becomes ENETUNREACH (the virtual network is unreachable from this node); anything
// else (EINTR, EMFILE, ...) is returned unchanged.
int HomeRouterErrno(int err);

// Socket addresses of the overlay: AF_INET, or AF_INET6 with a v4-mapped address (then *v6 = true). Reads
// through memcpy (no alignment assumed). False, with nothing written, for a null pointer, a too-short length, another
// family or a v6 address that is not v4-mapped. ip and port in host order.
bool SockaddrToV4(const sockaddr* sa, socklen_t len, uint32_t* ip, uint16_t* port, bool* v6);
// The reverse: a zeroed sockaddr_in, or a v4-mapped sockaddr_in6 if `v6`, in *out; returns its length.
socklen_t V4ToSockaddr(uint32_t ip, uint16_t port, bool v6, sockaddr_storage* out);

}  // namespace uvpn::proto
