#include "router/replay_ring.h"

#include <cstdlib>
#include <cstring>
#include <utility>

namespace uvpn::router {

ReplayRing::ReplayRing(ReplayRing&& o) noexcept { *this = std::move(o); }

ReplayRing& ReplayRing::operator=(ReplayRing&& o) noexcept {
  if (this != &o) {
    free(buf_);
    buf_ = std::exchange(o.buf_, nullptr);
    cap_ = std::exchange(o.cap_, 0);
    acked_ = o.acked_;
    sent_ = o.sent_;
    max_sent_ = o.max_sent_;
    end_ = o.end_;
  }
  return *this;
}

ReplayRing::~ReplayRing() { free(buf_); }

bool ReplayRing::Init(size_t cap) {
  if (cap == 0 || (cap & (cap - 1)) != 0 || held() != 0) return false;
  free(buf_);
  buf_ = static_cast<uint8_t*>(malloc(cap));
  cap_ = buf_ ? cap : 0;
  return buf_ != nullptr;
}

void ReplayRing::Release() {
  free(buf_);
  buf_ = nullptr;
  cap_ = 0;
}

int ReplayRing::Spans(uint64_t from, size_t n, iovec out[2]) const {
  if (n == 0) return 0;
  size_t at = static_cast<size_t>(from & (cap_ - 1));
  size_t first = cap_ - at < n ? cap_ - at : n;
  out[0] = {buf_ + at, first};
  if (first == n) return 1;
  out[1] = {buf_, n - first};
  return 2;
}

int ReplayRing::FreeSpans(iovec out[2]) const { return buf_ ? Spans(end_, free_space(), out) : 0; }

void ReplayRing::Commit(size_t n) { end_ += n; }

int ReplayRing::UnsentSpans(iovec out[2]) const { return buf_ ? Spans(sent_, unsent(), out) : 0; }

void ReplayRing::MarkSent(size_t n) {
  sent_ += n;
  if (sent_ > max_sent_) max_sent_ = sent_;
}

ReplayRing::AckResult ReplayRing::Ack(uint64_t r) {
  if (r > max_sent_) return AckResult::kBad;
  if (r < acked_) return AckResult::kStale;
  acked_ = r;
  if (sent_ < r) sent_ = r;  // the peer already has [sent, r): do not send it again
  return AckResult::kOk;
}

bool ReplayRing::Rewind(uint64_t r) {
  if (r < acked_ || r > max_sent_) return false;
  acked_ = sent_ = r;
  return true;
}

bool ReplayRing::Grow(size_t max_cap) {
  if (cap_ == 0 || cap_ * 2 > max_cap) return false;
  size_t ncap = cap_ * 2;
  auto* nb = static_cast<uint8_t*>(malloc(ncap));
  if (!nb) return false;
  // Copy [acked, end) to its place in the new buffer (indexes are offset & (ncap - 1)).
  iovec sp[2];
  int k = Spans(acked_, held(), sp);
  uint64_t off = acked_;
  for (int i = 0; i < k; ++i) {
    const auto* src = static_cast<const uint8_t*>(sp[i].iov_base);
    size_t left = sp[i].iov_len;
    while (left > 0) {
      size_t at = static_cast<size_t>(off & (ncap - 1));
      size_t chunk = ncap - at < left ? ncap - at : left;
      memcpy(nb + at, src, chunk);
      src += chunk;
      off += chunk;
      left -= chunk;
    }
  }
  free(buf_);
  buf_ = nb;
  cap_ = ncap;
  return true;
}

}  // namespace uvpn::router
