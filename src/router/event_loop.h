// The router's event loop primitives: one level-triggered epoll set whose events carry a tagged epoll_data
// (kind:8 | index:24 | generation:32), a 100 ms timerfd tick, and a signalfd for SIGTERM/SIGINT.
//
// Theory of operation: every fd the router watches is registered with a Tag naming what it is (a listener,
// one side of a relay slot, a registration, a link...) plus the generation of the slot it belongs to. Slots
// bump their generation when freed, so an event that was already queued for a freed slot is recognised as
// stale and dropped, even if the slot was reused meanwhile. Not thread-safe: owned by the one router thread.
#pragma once

#include <signal.h>
#include <sys/epoll.h>

#include <cstdint>
#include <vector>

#include "common/result.h"
#include "sysio/fd.h"

namespace uvpn::router {

enum class Kind : uint8_t {
  kNone = 0,
  kNodeListen,  // TCP, site's node endpoint (REGISTER, CONN_HEADER hop 0)
  kWanListen,   // TCP, site's peer endpoint (HELLO, CONN_HEADER hop 1)
  kBothListen,  // TCP, node and peer endpoints are equal: all of the above
  kUdp,         // LOOKUP datagrams on the node endpoint
  kTimer,
  kSignal,
  kStatusListen,  // Unix status socket
  kStatusConn,
  kRelay0,  // relay slot, side 0 (the accepted connection)
  kRelay1,  // relay slot, side 1 (the connection the router dialled)
  kReg,     // registration connection
  kLink,    // router link (index = link number)
};

struct Tag {
  Kind kind = Kind::kNone;
  uint32_t index = 0;  // < 2^24
  uint32_t gen = 0;
};

inline uint64_t Pack(Kind k, uint32_t index, uint32_t gen) {
  return (static_cast<uint64_t>(k) << 56) | (static_cast<uint64_t>(index & 0xffffff) << 32) | gen;
}
inline Tag Unpack(uint64_t v) {
  return Tag{static_cast<Kind>(v >> 56), static_cast<uint32_t>(v >> 32) & 0xffffff, static_cast<uint32_t>(v)};
}
inline constexpr uint32_t kMaxSlots = 1u << 24;

// Slot table with a free list and per-slot generations (the generation survives reuse and is bumped on Free).
// T is reset to T{} on Alloc. Growth allocates; Free and Alloc from the free list do not.
template <typename T>
class Slots {
 public:
  // Returns the index of a fresh slot, or kMaxSlots if the table is full.
  uint32_t Alloc() {
    uint32_t i;
    if (!free_.empty()) {
      i = free_.back();
      free_.pop_back();
      items_[i] = T{};
    } else {
      if (items_.size() >= kMaxSlots) return kMaxSlots;
      i = static_cast<uint32_t>(items_.size());
      items_.emplace_back();
      gens_.push_back(1);
      used_.push_back(false);
    }
    used_[i] = true;
    return i;
  }
  void Free(uint32_t i) {
    used_[i] = false;
    ++gens_[i];
    free_.push_back(i);
  }
  bool Live(uint32_t i, uint32_t gen) const { return i < items_.size() && used_[i] && gens_[i] == gen; }
  bool InUse(uint32_t i) const { return used_[i]; }
  uint32_t Gen(uint32_t i) const { return gens_[i]; }
  T& operator[](uint32_t i) { return items_[i]; }
  const T& operator[](uint32_t i) const { return items_[i]; }
  uint32_t end() const { return static_cast<uint32_t>(items_.size()); }  // iterate 0..end() with InUse()
  size_t live() const { return items_.size() - free_.size(); }

 private:
  std::vector<T> items_;
  std::vector<uint32_t> gens_;
  std::vector<bool> used_;
  std::vector<uint32_t> free_;
};

class EventLoop {
 public:
  // Creates the epoll set, the tick timer (period tick_ms) and a signalfd for SIGTERM and SIGINT (which are
  // blocked in this thread; the previous mask is restored by the destructor). SIGPIPE is ignored process-wide
  // (splice into a reset socket raises it).
  Status Init(int tick_ms);
  ~EventLoop();

  // Return false (errno set) on failure.
  bool Add(int fd, uint32_t events, uint64_t tag);
  bool Mod(int fd, uint32_t events, uint64_t tag);
  void Del(int fd);
  // epoll_wait; EINTR reported as 0 events.
  int Wait(epoll_event* out, int max, int timeout_ms);

  // Reads the timer (number of expirations, 0 if none) and the signal (0 if none).
  uint64_t ReadTimer();
  int ReadSignal();

 private:
  sysio::Fd ep_, timer_, sig_;
  sigset_t old_mask_{};
  bool mask_set_ = false;
};

// Milliseconds of CLOCK_MONOTONIC.
int64_t NowMs();

}  // namespace uvpn::router
