// Conversations of the shim with its home router (docs/protocol.md sections 2, 3, 5):
// connecting the application's socket to the router, writing the hop-0 header, reading a STATUS out of the
// stream, reading the hop-2 header in accept, and LOOKUP over UDP.
//
// Every function here is bounded in time by an absolute deadline (NowMs() scale), allocates nothing, uses
// only the shim's real-function table for hooked calls, and leaves the application's fd flags untouched.
#pragma once

#include <cstdint>

#include "proto/wire.h"
#include "shim/config.h"

namespace uvpn::shim {

// Connects fd (an AF_INET or, if v6, AF_INET6 stream socket) to the router. Waits for the LAN handshake at
// most 1 s whatever the fd's blocking mode. Returns 0, ENETUNREACH if the router cannot be reached, or
// another errno of the real connect (EBADF, EISCONN, EADDRNOTAVAIL, ...).
int ConnectRouter(const Config& cfg, int fd, bool v6);

// Writes all `n` bytes (MSG_NOSIGNAL), polling if the socket is non-blocking, until `deadline`. 0 or errno.
int SendAll(int fd, const uint8_t* buf, size_t n, int64_t deadline);

// Reads exactly one 16-byte STATUS from fd (never more) until `deadline`.
// Returns 0 and sets *result to the connect result (0 or the errno of the wire code; ECONNRESET if the router
// closed first, EPROTO if the bytes are not a STATUS, ETIMEDOUT at the deadline). Returns EINTR (and *result
// untouched) only when `interruptible` and a signal arrived before any byte was read.
int AwaitStatus(int fd, int64_t deadline, bool interruptible, int* result);

// Reads the hop-2 CONN_HEADER at the start of an accepted connection: peeks until 32 bytes are there (at most
// until `deadline`), then consumes exactly 32. kHeader with *hdr on success; otherwise nothing is consumed:
// kNotHeader (bytes that are not a hop-2 header, or EOF), kSilent (deadline passed and not one byte arrived),
// kTimeout (deadline passed inside a valid header prefix).
enum class HeaderRead { kHeader, kNotHeader, kSilent, kTimeout };
HeaderRead ReadHopTwoHeader(int fd, int64_t deadline, proto::ConnHeader* hdr);

// Sends LOOKUP {node = local, router_port} to the router over UDP from a fresh CLOEXEC socket bound to
// local.ip, re-sending after 20 ms doubling to 200 ms. If `until_resolved`, replies in state unknown/pending
// keep it waiting; else the first reply ends it. Returns true with *reply, or false at the deadline.
bool Lookup(const Config& cfg, const Ep& local, uint16_t router_port, int64_t deadline, bool until_resolved,
            proto::LookupReplyMsg* reply);

}  // namespace uvpn::shim
