// The replay ring of one relay direction (docs/outage.md): bytes sent into leg 1 are kept until the peer router
// acknowledges having read them, so that a lost leg 1 can be replayed from the peer's counter.
//
// Theory of operation: every byte of the direction has a 64-bit stream offset. The ring holds offsets
// [acked, end): [acked, sent) was sent into some leg 1 but not acknowledged, [sent, end) was read from the
// application but not sent yet. Storage is a power-of-two buffer indexed by offset & (cap - 1), so readv/writev
// spans are at most two iovecs. Grow() doubles the buffer (copying the held bytes); memory is allocated only by
// Init() and Grow(). Not thread-safe; owned by the router thread.
//
// Invariants: acked <= sent <= max_sent <= end, end - acked <= capacity. max_sent is the highest `sent` ever
// reached: after a rewind a peer may still (legitimately, from an older leg) report counters up to it.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace uvpn::router {

class ReplayRing {
 public:
  ReplayRing() = default;
  ReplayRing(const ReplayRing&) = delete;
  ReplayRing& operator=(const ReplayRing&) = delete;
  ReplayRing(ReplayRing&& o) noexcept;
  ReplayRing& operator=(ReplayRing&& o) noexcept;
  ~ReplayRing();

  // Allocates `cap` bytes (a power of two). Returns false if allocation failed. Offsets start at 0.
  bool Init(size_t cap);
  bool valid() const { return buf_ != nullptr; }
  void Release();  // frees the buffer; offsets are kept (a ring can be re-Init'ed only when empty)

  uint64_t acked() const { return acked_; }
  uint64_t sent() const { return sent_; }
  uint64_t end() const { return end_; }
  uint64_t max_sent() const { return max_sent_; }
  size_t capacity() const { return cap_; }
  size_t held() const { return static_cast<size_t>(end_ - acked_); }
  size_t unsent() const { return static_cast<size_t>(end_ - sent_); }
  size_t unacked() const { return static_cast<size_t>(sent_ - acked_); }
  size_t free_space() const { return cap_ - held(); }

  // Free space at the end as up to two spans (returns their count, 0 if full). Fill them, then Commit(n).
  int FreeSpans(iovec out[2]) const;
  void Commit(size_t n);  // end += n (n <= free_space())
  // Unsent bytes [sent, end) as up to two spans. Send them, then MarkSent(n).
  int UnsentSpans(iovec out[2]) const;
  void MarkSent(size_t n);  // sent += n (n <= unsent())

  enum class AckResult { kOk, kStale, kBad };
  // The peer has read `r` bytes in total: kOk (acked = r, may free space; sent moves up to r if a rewind had put
  // it below), kStale (r < acked: ignored), kBad (r > max_sent: the peer claims bytes never sent -- a protocol
  // violation).
  AckResult Ack(uint64_t r);
  // A new leg 1 starts at the peer's counter `r`: acked = sent = r, so [r, end) will be sent again. False (and
  // nothing changed) unless acked <= r <= max_sent.
  bool Rewind(uint64_t r);
  // Doubles the capacity up to `max_cap`, keeping the held bytes. False if already there or allocation failed.
  bool Grow(size_t max_cap);

 private:
  uint8_t* buf_ = nullptr;
  size_t cap_ = 0;
  uint64_t acked_ = 0, sent_ = 0, max_sent_ = 0, end_ = 0;
  int Spans(uint64_t from, size_t n, iovec out[2]) const;
};

}  // namespace uvpn::router
