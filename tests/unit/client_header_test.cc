// The client side of leg 0 shared by the preload library and the ptrace monitor (src/proto/client.h).
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cerrno>

#include "proto/client.h"

namespace uvpn::proto {
namespace {

TEST(ClientHeader, BlockingAsksForStatusAndDecodesAsHopZero) {
  uint8_t buf[kConnHeaderSize];
  ASSERT_EQ(EncodeClientHeader(0x6461010a, 40000, 0x6461020b, 5201, /*nonblocking=*/false, nullptr, buf), kConnHeaderSize);
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
  EncodeClientHeader(1, 2, 3, 4, /*nonblocking=*/true, nullptr, buf);
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

// The sockaddr conversions the preload library and the ptrace monitor share (proto/client.h).
namespace uvpn::proto {
namespace {

TEST(ClientSockaddr, V4AndMappedV6RoundTrip) {
  for (bool v6 : {false, true}) {
    sockaddr_storage ss;
    socklen_t n = V4ToSockaddr(0x64610a0b, 5201, v6, &ss);
    EXPECT_EQ(n, v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    uint32_t ip = 0;
    uint16_t port = 0;
    bool got_v6 = !v6;
    ASSERT_TRUE(SockaddrToV4(reinterpret_cast<sockaddr*>(&ss), n, &ip, &port, &got_v6));
    EXPECT_EQ(ip, 0x64610a0bu);
    EXPECT_EQ(port, 5201);
    EXPECT_EQ(got_v6, v6);
    EXPECT_FALSE(SockaddrToV4(reinterpret_cast<sockaddr*>(&ss), n - 1, &ip, &port, &got_v6)) << "short length";
  }
}

TEST(ClientSockaddr, RejectsWhatIsNotTheOverlays) {
  uint32_t ip = 7;
  uint16_t port = 7;
  bool v6 = false;
  EXPECT_FALSE(SockaddrToV4(nullptr, sizeof(sockaddr_in), &ip, &port, &v6));
  sockaddr_in6 s6{};
  s6.sin6_family = AF_INET6;
  s6.sin6_addr.s6_addr[15] = 1;  // ::1, not v4-mapped
  EXPECT_FALSE(SockaddrToV4(reinterpret_cast<sockaddr*>(&s6), sizeof s6, &ip, &port, &v6));
  sockaddr un{};
  un.sa_family = AF_UNIX;
  EXPECT_FALSE(SockaddrToV4(&un, sizeof un, &ip, &port, &v6));
  EXPECT_EQ(ip, 7u);  // nothing written on failure
  EXPECT_EQ(port, 7);
}

}  // namespace
}  // namespace uvpn::proto
