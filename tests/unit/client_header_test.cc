// The client side of leg 0 shared by the preload library and the ptrace monitor (src/proto/client.h).
#include <gtest/gtest.h>

#include <cerrno>

#include "proto/client.h"

namespace uvpn::proto {
namespace {

TEST(ClientHeader, BlockingAsksForStatusAndDecodesAsHopZero) {
  uint8_t buf[kConnHeaderSize];
  ASSERT_EQ(EncodeClientHeader(0x6461010a, 40000, 0x6461020b, 5201, /*nonblocking=*/false, buf), kConnHeaderSize);
  ConnHeader h;
  size_t used = 0;
  ASSERT_EQ(Decode(buf, sizeof buf, &h, &used), Parse::kOk);
  EXPECT_EQ(used, kConnHeaderSize);
  EXPECT_EQ(h.flags, kFlagWantStatus);
  EXPECT_EQ(h.hop, Hop::kNodeToHome);
  EXPECT_EQ(h.src_vip, 0x6461010au);
  EXPECT_EQ(h.src_port, 40000);
  EXPECT_EQ(h.dst_vip, 0x6461020bu);
  EXPECT_EQ(h.dst_port, 5201);
  EXPECT_EQ(h.relay_id, 0u);
}

TEST(ClientHeader, NonBlockingLearnsItsResultByLookup) {
  uint8_t buf[kConnHeaderSize];
  EncodeClientHeader(1, 2, 3, 4, /*nonblocking=*/true, buf);
  ConnHeader h;
  size_t used = 0;
  ASSERT_EQ(Decode(buf, sizeof buf, &h, &used), Parse::kOk);
  EXPECT_EQ(h.flags, 0);
}

TEST(ClientHeader, HomeRouterUnreachableIsNetUnreach) {
  for (int e : {ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ETIMEDOUT, ENETDOWN, EHOSTDOWN})
    EXPECT_EQ(HomeRouterErrno(e), ENETUNREACH) << e;
  for (int e : {0, EINTR, EMFILE, EADDRNOTAVAIL}) EXPECT_EQ(HomeRouterErrno(e), e) << e;
}

}  // namespace
}  // namespace uvpn::proto
