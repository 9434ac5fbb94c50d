// What the monitor knows about overlay sockets, keyed by socket inode (the same model as the preload library's
// cache, docs/shim.md "State"), plus the small socket-address helpers both the calls and the operations use.
//
// Theory of operation: an entry records a socket's real endpoints when the monitor last saw it (so a recycled
// inode is detected by comparing them with the live socket), its virtual endpoints, its kind and, for clients,
// the connection state. The monitor is one process for all tracees, so the table survives execve and is shared
// by every traced process (an inode names one socket system-wide). Bounded: past kMaxEntries the oldest entries
// are dropped (losing one costs a LOOKUP later). Single-threaded (the monitor's loop).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <unordered_map>

#include "common/addr.h"

namespace uvpn::trace {

// kUdpConnected: a UDP socket connected to a virtual address (kernel-connected to the router); kUdpOverlay: an
// unconnected UDP socket that has sent to a virtual address (its receives strip headers).
enum class Kind : uint8_t { kBoundVirtual, kClient, kAccepted, kNotOverlay, kUdpConnected, kUdpOverlay };
// Client states (docs/shim.md, connect): kEstablished = result fetched by SO_ERROR, next connect() returns 0.
enum class CState : uint8_t { kNone, kPending, kEstablished, kConnected, kFailed, kFailedReported };

struct Entry {
  uint64_t ino = 0;
  Endpoint real_local, real_peer;
  Endpoint virt_local, virt_peer;
  Kind kind = Kind::kNotOverlay;
  CState state = CState::kNone;
  int err = 0;               // errno of a failed client
  bool status_owed = false;  // a STATUS is still unread in the stream (blocking client)
};

class Cache {
 public:
  static constexpr size_t kMaxEntries = 65536;
  bool Find(uint64_t ino, Entry* out) const;
  void Put(const Entry& e);
  // Moves a client that is pending (or established) to `to` with `err`; no-op otherwise.
  void Transition(uint64_t ino, CState to, int err);
  // Number of clients in kPending (SO_ERROR costs nothing while it is 0).
  int pending() const { return pending_; }

 private:
  std::unordered_map<uint64_t, Entry> map_;
  std::deque<uint64_t> order_;  // insertion order, for eviction (may hold stale inodes)
  int pending_ = 0;
};

// AF_INET, or AF_INET6 with a v4-mapped address -> *ep (and *v6). False for anything else or a short length.
bool ToEp(const sockaddr_storage& ss, socklen_t len, Endpoint* ep, bool* v6);
// `ep` as sockaddr_in, or v4-mapped sockaddr_in6 if v6; returns the length.
socklen_t FromEp(const Endpoint& ep, bool v6, sockaddr_storage* out);
// getsockname / getpeername of a (monitor-side) fd as an endpoint. False on error or a non-IPv4 address.
bool LocalOf(int fd, Endpoint* ep, bool* v6 = nullptr);
bool PeerOf(int fd, Endpoint* ep, bool* v6 = nullptr);
uint64_t InodeOf(int fd);
bool IsStream(int fd);
// The local port of an AF_INET or AF_INET6 socket (any address, [::] included); false if it has none.
bool LocalPort(int fd, uint16_t* port);
// True if `ss` (len bytes) is the IPv6 wildcard [::]:port (a dual-stack bind); *port gets the port.
bool Any6(const sockaddr_storage& ss, socklen_t len, uint16_t* port);
bool IsNonBlocking(int fd);
// Milliseconds of CLOCK_MONOTONIC.
int64_t NowMs();

}  // namespace uvpn::trace
