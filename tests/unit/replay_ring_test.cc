// Unit tests of ReplayRing (src/router/replay_ring.h, docs/outage.md): spans across the wrap, Commit/MarkSent,
// Ack kOk/kStale/kBad, Rewind bounds, Grow keeping the held bytes across a wrap, capacity limits. The randomized
// check of the whole resume protocol over cut points is resume_sim_test.cc.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "router/replay_ring.h"

namespace uvpn::router {
namespace {

uint8_t ByteAt(uint64_t off) { return static_cast<uint8_t>((off * 131u + (off >> 8) * 7u + 3u) & 0xff); }

// Writes n bytes (the stream's bytes at offsets [end, end+n)) through FreeSpans/Commit.
size_t Fill(ReplayRing& r, size_t n) {
  iovec sp[2];
  int k = r.FreeSpans(sp);
  size_t done = 0;
  uint64_t off = r.end();
  for (int i = 0; i < k && done < n; ++i) {
    size_t take = std::min(sp[i].iov_len, n - done);
    auto* p = static_cast<uint8_t*>(sp[i].iov_base);
    for (size_t j = 0; j < take; ++j) p[j] = ByteAt(off + done + j);
    done += take;
  }
  r.Commit(done);
  return done;
}

// Reads (without consuming) the unsent bytes; checks they are the stream's bytes from sent().
void ExpectUnsentIsStream(const ReplayRing& r) {
  iovec sp[2];
  int k = r.UnsentSpans(sp);
  uint64_t off = r.sent();
  size_t total = 0;
  for (int i = 0; i < k; ++i) {
    const auto* p = static_cast<const uint8_t*>(sp[i].iov_base);
    for (size_t j = 0; j < sp[i].iov_len; ++j) ASSERT_EQ(p[j], ByteAt(off + total + j)) << "offset " << off + total + j;
    total += sp[i].iov_len;
  }
  EXPECT_EQ(total, r.unsent());
}

TEST(ReplayRing, InitRejectsNonPowerOfTwoAndStartsEmpty) {
  ReplayRing r;
  EXPECT_FALSE(r.valid());
  EXPECT_FALSE(r.Init(0));
  EXPECT_FALSE(r.Init(100));
  ASSERT_TRUE(r.Init(64));
  EXPECT_TRUE(r.valid());
  EXPECT_EQ(r.capacity(), 64u);
  EXPECT_EQ(r.held(), 0u);
  EXPECT_EQ(r.free_space(), 64u);
  iovec sp[2];
  EXPECT_EQ(r.UnsentSpans(sp), 0);
  ASSERT_EQ(r.FreeSpans(sp), 1);
  EXPECT_EQ(sp[0].iov_len, 64u);
}

TEST(ReplayRing, UninitialisedRingHasNoSpans) {
  ReplayRing r;
  iovec sp[2];
  EXPECT_EQ(r.FreeSpans(sp), 0);
  EXPECT_EQ(r.UnsentSpans(sp), 0);
  EXPECT_FALSE(r.Grow(1 << 20));
}

TEST(ReplayRing, CommitMarkSentAckMoveTheThreeCounters) {
  ReplayRing r;
  ASSERT_TRUE(r.Init(16));
  EXPECT_EQ(Fill(r, 10), 10u);
  EXPECT_EQ(r.end(), 10u);
  EXPECT_EQ(r.unsent(), 10u);
  r.MarkSent(6);
  EXPECT_EQ(r.sent(), 6u);
  EXPECT_EQ(r.unacked(), 6u);
  EXPECT_EQ(r.unsent(), 4u);
  EXPECT_EQ(r.free_space(), 6u);
  EXPECT_EQ(r.Ack(4), ReplayRing::AckResult::kOk);
  EXPECT_EQ(r.acked(), 4u);
  EXPECT_EQ(r.held(), 6u);
  EXPECT_EQ(r.free_space(), 10u);
  ExpectUnsentIsStream(r);
}

TEST(ReplayRing, SpansSplitAtTheWrap) {
  ReplayRing r;
  ASSERT_TRUE(r.Init(16));
  ASSERT_EQ(Fill(r, 12), 12u);
  r.MarkSent(12);
  ASSERT_EQ(r.Ack(12), ReplayRing::AckResult::kOk);
  // end = 12: free space is [12, 16) then [0, 12).
  iovec sp[2];
  ASSERT_EQ(r.FreeSpans(sp), 2);
  EXPECT_EQ(sp[0].iov_len, 4u);
  EXPECT_EQ(sp[1].iov_len, 12u);
  ASSERT_EQ(Fill(r, 10), 10u);  // offsets 12..21 -> indexes 12..15, 0..5
  ASSERT_EQ(r.UnsentSpans(sp), 2);
  EXPECT_EQ(sp[0].iov_len, 4u);
  EXPECT_EQ(sp[1].iov_len, 6u);
  ExpectUnsentIsStream(r);
  // Free space after the wrap is one span [6, 12).
  ASSERT_EQ(r.FreeSpans(sp), 1);
  EXPECT_EQ(sp[0].iov_len, 6u);
  // A full ring has no free span.
  ASSERT_EQ(Fill(r, 6), 6u);
  EXPECT_EQ(r.free_space(), 0u);
  EXPECT_EQ(r.FreeSpans(sp), 0);
  EXPECT_EQ(Fill(r, 1), 0u);
}

TEST(ReplayRing, AckOkStaleBad) {
  ReplayRing r;
  ASSERT_TRUE(r.Init(32));
  Fill(r, 20);
  r.MarkSent(15);
  EXPECT_EQ(r.Ack(10), ReplayRing::AckResult::kOk);
  EXPECT_EQ(r.Ack(10), ReplayRing::AckResult::kOk);  // the same value again: no change
  EXPECT_EQ(r.Ack(9), ReplayRing::AckResult::kStale);
  EXPECT_EQ(r.acked(), 10u);
  EXPECT_EQ(r.Ack(16), ReplayRing::AckResult::kBad);  // beyond sent (even though within end)
  EXPECT_EQ(r.acked(), 10u);
  EXPECT_EQ(r.Ack(15), ReplayRing::AckResult::kOk);
  EXPECT_EQ(r.unacked(), 0u);
}

TEST(ReplayRing, RewindBounds) {
  ReplayRing r;
  ASSERT_TRUE(r.Init(32));
  Fill(r, 20);
  r.MarkSent(15);
  ASSERT_EQ(r.Ack(5), ReplayRing::AckResult::kOk);
  EXPECT_FALSE(r.Rewind(4));   // below acked
  EXPECT_FALSE(r.Rewind(16));  // above sent
  EXPECT_EQ(r.acked(), 5u);
  EXPECT_EQ(r.sent(), 15u);
  ASSERT_TRUE(r.Rewind(8));
  EXPECT_EQ(r.acked(), 8u);
  EXPECT_EQ(r.sent(), 8u);
  EXPECT_EQ(r.end(), 20u);
  ExpectUnsentIsStream(r);  // [8, 20) is sent again, bytes intact
  EXPECT_TRUE(r.Rewind(8));  // idempotent at the boundary
  r.MarkSent(12);
  EXPECT_TRUE(r.Rewind(20));  // the peer had everything
  EXPECT_EQ(r.unsent(), 0u);
  EXPECT_EQ(r.held(), 0u);
}

TEST(ReplayRing, GrowKeepsHeldBytesAcrossTheWrap) {
  ReplayRing r;
  ASSERT_TRUE(r.Init(16));
  Fill(r, 13);
  r.MarkSent(13);
  ASSERT_EQ(r.Ack(11), ReplayRing::AckResult::kOk);
  Fill(r, 14);  // held [11, 27): wraps in a 16-byte ring
  r.MarkSent(3);
  ASSERT_EQ(r.free_space(), 0u);
  ASSERT_TRUE(r.Grow(64));
  EXPECT_EQ(r.capacity(), 32u);
  EXPECT_EQ(r.acked(), 11u);
  EXPECT_EQ(r.sent(), 16u);
  EXPECT_EQ(r.end(), 27u);
  EXPECT_EQ(r.free_space(), 16u);
  ExpectUnsentIsStream(r);
  // The unacked part must be intact too: rewind to acked and look again.
  ASSERT_TRUE(r.Rewind(11));
  ExpectUnsentIsStream(r);
  Fill(r, 16);
  ExpectUnsentIsStream(r);
  ASSERT_TRUE(r.Grow(64));
  EXPECT_EQ(r.capacity(), 64u);
  ExpectUnsentIsStream(r);
  EXPECT_FALSE(r.Grow(64));  // at the limit
  EXPECT_FALSE(r.Grow(100));  // 128 > 100
  EXPECT_EQ(r.capacity(), 64u);
}

TEST(ReplayRing, InitRefusedWhileHoldingBytesReleaseKeepsOffsets) {
  ReplayRing r;
  ASSERT_TRUE(r.Init(16));
  Fill(r, 5);
  EXPECT_FALSE(r.Init(32));
  r.MarkSent(5);
  ASSERT_EQ(r.Ack(5), ReplayRing::AckResult::kOk);
  r.Release();
  EXPECT_FALSE(r.valid());
  EXPECT_EQ(r.end(), 5u);
  ASSERT_TRUE(r.Init(32));
  EXPECT_EQ(Fill(r, 32), 32u);
  ExpectUnsentIsStream(r);
}

TEST(ReplayRing, MoveTransfersBufferAndCounters) {
  ReplayRing a;
  ASSERT_TRUE(a.Init(16));
  Fill(a, 7);
  a.MarkSent(2);
  ReplayRing b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified (no buffer)
  EXPECT_EQ(b.capacity(), 16u);
  EXPECT_EQ(b.end(), 7u);
  EXPECT_EQ(b.sent(), 2u);
  ExpectUnsentIsStream(b);
  ReplayRing c;
  c = std::move(b);
  ExpectUnsentIsStream(c);
}

// Random operations against a plain model: the ring must always hand out exactly the stream's bytes.
TEST(ReplayRing, RandomOperationsMatchModel) {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    ReplayRing r;
    ASSERT_TRUE(r.Init(size_t{1} << (rng() % 5 + 2)));
    const size_t max_cap = r.capacity() << (rng() % 4);
    for (int step = 0; step < 2000; ++step) {
      switch (rng() % 6) {
        case 0: Fill(r, rng() % (r.capacity() + 1)); break;
        case 1: r.MarkSent(r.unsent() ? rng() % (r.unsent() + 1) : 0); break;
        case 2: {
          uint64_t a = r.acked() + (r.unacked() ? rng() % (r.unacked() + 1) : 0);
          ASSERT_EQ(r.Ack(a), ReplayRing::AckResult::kOk);
          break;
        }
        case 3: {
          uint64_t a = r.acked() + (r.unacked() ? rng() % (r.unacked() + 1) : 0);
          ASSERT_TRUE(r.Rewind(a));
          break;
        }
        case 4: r.Grow(max_cap); break;
        default: ExpectUnsentIsStream(r); break;
      }
      ASSERT_LE(r.acked(), r.sent());
      ASSERT_LE(r.sent(), r.end());
      ASSERT_LE(r.held(), r.capacity());
      ASSERT_LE(r.capacity(), max_cap);
      if (HasFatalFailure()) return;
    }
    ASSERT_TRUE(r.Rewind(r.acked()));
    ExpectUnsentIsStream(r);
  }
}

}  // namespace
}  // namespace uvpn::router
