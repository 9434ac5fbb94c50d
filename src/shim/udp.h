// UDP through the overlay in the preload library (docs/shim.md, "UDP"; wire format docs/protocol.md section
// 9). The hooks themselves (send*, recv*, read, write, close) live in udp.cc; these two entry points serve
// the `connect` hook of hooks.cc. Thread-safe, async-signal-safe, no allocation.
#pragma once

#include "shim/config.h"

namespace uvpn::shim {

// SO_TYPE of fd, or -1.
int SocketType(int fd);

// connect() of a SOCK_DGRAM socket to virtual `dst`: connects the real socket to the router's node endpoint
// (v4-mapped if v6) and records `dst` as the fd's virtual peer. Returns what connect returns.
int UdpConnect(const Config& cfg, int fd, const Ep& dst, bool v6);

// The virtual peer of a connected overlay UDP socket (getpeername).
bool UdpPeer(int fd, Ep* ep);

// connect() of fd to anything that is not virtual: forget a recorded virtual peer (one branch if none).
void UdpForgetPeer(int fd);

// Descriptor bookkeeping (fdtrack.cc): `fd` now names a new open file (socket(), accept(), a dup onto it):
// forget whatever was recorded for the number. One branch when nothing was.
void UdpFdReplaced(int fd);
// `newfd` is a duplicate of `oldfd` (dup*, F_DUPFD*): it shares oldfd's socket, so it shares its marks.
void UdpFdDuplicated(int oldfd, int newfd);

}  // namespace uvpn::shim
