// Shared by the wire-codec fuzz targets (fuzz_wire, fuzz_seal): the check every fixed-layout decoder must pass
// against PeekPrefix. Theory of operation: kBad whenever the prefix is bad or names another type, kNeedMore
// exactly when the bytes are a strict prefix of the declared length, kOk only with used == declared length <= size;
// what decodes re-encodes to the same bytes, does not fit one byte less, and every strict prefix is kNeedMore.
#pragma once

#include <cstdint>
#include <cstring>

#include "fuzz_check.h"
#include "proto/wire.h"

namespace uvpn::proto::fuzz {

struct Peek {
  Parse result;
  MsgType type;
  size_t total;
};

template <typename M>
inline void CheckDecoder(const uint8_t* data, size_t size, const Peek& peek, MsgType want) {
  M m;
  size_t used = ~size_t{0};
  Parse p = Decode(data, size, &m, &used);
  if (peek.result == Parse::kBad) {
    FUZZ_CHECK(p == Parse::kBad);
    return;
  }
  if (peek.result == Parse::kNeedMore) {  // fewer than 8 bytes, none of them wrong yet
    FUZZ_CHECK(size < kPrefixSize);
    FUZZ_CHECK(p == Parse::kNeedMore);
    return;
  }
  if (peek.type != want) {
    FUZZ_CHECK(p == Parse::kBad);
    return;
  }
  if (size < peek.total) {
    FUZZ_CHECK(p == Parse::kNeedMore);
    return;
  }
  if (p == Parse::kBad) return;
  FUZZ_CHECK(p == Parse::kOk);
  FUZZ_CHECK(used == peek.total);
  FUZZ_CHECK(used <= size);

  static_assert(kHostsReplyMax >= kMaxMessage && kHostsListSize >= kMaxMessage);
  uint8_t out[kHostsListSize + 16];  // the largest framed message that is not a datagram
  size_t n = Encode(m, out, sizeof out);
  FUZZ_CHECK(n == used);
  FUZZ_CHECK(std::memcmp(out, data, n) == 0);
  FUZZ_CHECK(Encode(m, out, n - 1) == 0);
  for (size_t k = 0; k < used; ++k) {
    M part;
    size_t u;
    FUZZ_CHECK(Decode(data, k, &part, &u) == Parse::kNeedMore);
  }
}

}  // namespace uvpn::proto::fuzz
