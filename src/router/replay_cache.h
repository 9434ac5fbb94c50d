// Seen-before set for authenticated node messages (docs/security.md "Node side"): REGISTER nonces and hop-0
// header (timestamp, nonce) pairs are remembered for as long as their timestamps stay acceptable, so a message
// captured on the wire cannot be played again. Keys are 64-bit digests of the message's identity; a false alarm
// needs a 64-bit collision within one window.
//
// Theory of operation: a hash set plus a queue in insertion order of (expiry, key); Insert first drops what has
// expired (amortized O(1)). Memory is bounded by the acceptance rate times the window. Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_set>
#include <utility>

namespace uvpn::router {

class ReplayCache {
 public:
  // False if `key` is already held; else remembers it until `expire_ms`. `now_ms` must not go backwards.
  bool Insert(uint64_t key, int64_t now_ms, int64_t expire_ms) {
    while (!order_.empty() && order_.front().first <= now_ms) {
      seen_.erase(order_.front().second);
      order_.pop_front();
    }
    if (!seen_.insert(key).second) return false;
    order_.emplace_back(expire_ms, key);
    return true;
  }
  size_t size() const { return seen_.size(); }

 private:
  std::unordered_set<uint64_t> seen_;
  std::deque<std::pair<int64_t, uint64_t>> order_;
};

}  // namespace uvpn::router
