// Per-process table of what the shim knows about sockets, keyed by socket inode (fstat st_ino).
//
// Theory of operation: 4096 slots, open addressing (hash of the inode, probe window of 8). Each slot is a
// seqlock: readers copy the words and retry if the sequence changed (lock-free, never block); a writer takes
// the slot by moving the sequence from even to odd with a compare-and-swap, writes, and releases with the
// next even value. A writer that finds a slot odd spins a bounded number of times and then gives up (the
// entry is lost, which only costs a LOOKUP later) -- so a child forked while a slot was being written can
// never hang. No allocation, no locks: safe after fork and in any thread. All words are atomics, so there are
// no data races.
//
// Invariant: entries are hints validated by the caller against the live socket's real endpoints, because
// inodes are recycled after close (which is not interposed).
#pragma once

#include <atomic>
#include <cstdint>

#include "shim/config.h"

namespace uvpn::shim {

enum class Kind : uint8_t {
  kNone = 0,
  kBoundVirtual = 1,  // bound to vip (really `real`); getsockname reports vip
  kClient = 2,        // connect() diverted to the router
  kAccepted = 3,      // accepted from the router, hop-2 header consumed
  kNotOverlay = 4,    // peer is the router's IP but the router does not know it / no header
};

// Client connection state (docs/shim.md, connect and SO_ERROR).
enum class CState : uint8_t {
  kNone = 0,
  kPending = 1,         // result not known yet
  kEstablished = 2,     // known good, connect() not yet returned 0 for it
  kConnected = 3,       // connect() returned 0: the next connect() is EISCONN
  kFailed = 4,          // known failed, errno not yet reported by SO_ERROR
  kFailedReported = 5,  // errno reported by SO_ERROR (connect() still returns it)
};

inline constexpr uint8_t kFlagStatusOwed = 1;  // WANT_STATUS sent; the STATUS is still in the stream

struct Entry {
  uint64_t ino = 0;
  Ep real_local, real_peer, virt_local, virt_peer;
  Kind kind = Kind::kNone;
  CState state = CState::kNone;
  uint8_t flags = 0;
  uint16_t err = 0;  // errno for kFailed*
};

// Copies the entry for `ino` into *out. Lock-free. False if absent (or the slot was busy for too long).
bool CacheFind(uint64_t ino, Entry* out);

// Inserts or replaces the entry for e.ino. Best effort (a busy slot drops it).
void CachePut(const Entry& e);

// Read-modify-write of the entry for `ino` under the slot's write side: `fn(entry, ctx)` returns true to
// store the modified entry. Returns false if there is no entry (fn not called) or fn returned false.
bool CacheUpdate(uint64_t ino, bool (*fn)(Entry*, void*), void* ctx);

// Number of entries in state kPending (a hint: never below the true count, may be above it). Zero lets the
// getsockopt hook skip fstat entirely.
int CachePendingHint();

}  // namespace uvpn::shim
