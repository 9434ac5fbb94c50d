// Unit tests for src/common/addr.h: IPv4, endpoint and CIDR parsing and formatting, edge cases first.
#include "common/addr.h"

#include <gtest/gtest.h>

namespace uvpn {
namespace {

TEST(ParseIp4, GoodAddressesInHostByteOrder) {
  EXPECT_EQ(*ParseIp4("10.91.1.1"), 0x0A5B0101u);
  EXPECT_EQ(*ParseIp4("0.0.0.0"), 0u);
  EXPECT_EQ(*ParseIp4("255.255.255.255"), 0xFFFFFFFFu);
  EXPECT_EQ(*ParseIp4("1.2.3.4"), 0x01020304u);
  EXPECT_EQ(*ParseIp4("100.97.0.0"), 0x64610000u);
}

TEST(ParseIp4, RejectsMalformed) {
  for (const char* bad : {"", ".", "1", "1.2", "1.2.3", "1.2.3.", "1.2.3.4.", "1.2.3.4.5", "256.0.0.1", "1.2.3.256",
                          "999.1.1.1", "1234.1.1.1", "01.2.3.4", "1.02.3.4", "1.2.3.00", "1..2.3", ".1.2.3.4",
                          " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "+1.2.3.4", "-1.2.3.4", "0x1.2.3.4", "a.b.c.d",
                          "1.2.3.4/24", "1.2.3.4:80", "1,2,3,4", "::1"}) {
    EXPECT_FALSE(ParseIp4(bad).has_value()) << "accepted '" << bad << "'";
  }
  auto r = ParseIp4("1.2.3");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), 22);
  EXPECT_NE(r.error().message().find("1.2.3"), std::string::npos);
}

TEST(ParseIp4, EmbeddedNulIsNotATerminator) {
  EXPECT_FALSE(ParseIp4(std::string_view("1.2.3.4\0", 8)).has_value());
  EXPECT_FALSE(ParseIp4(std::string_view("1.2\0.3.4", 8)).has_value());
}

TEST(ParseEndpoint, Good) {
  auto e = ParseEndpoint("10.91.0.1:7700");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->ip, 0x0A5B0001u);
  EXPECT_EQ(e->port, 7700);
  EXPECT_EQ(ParseEndpoint("0.0.0.0:1")->port, 1);
  EXPECT_EQ(ParseEndpoint("1.2.3.4:65535")->port, 65535);
}

TEST(ParseEndpoint, RejectsBadPortsAndShapes) {
  for (const char* bad : {"", ":", "1.2.3.4", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:00000", "1.2.3.4:65536",
                          "1.2.3.4:99999", "1.2.3.4:123456", "1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4: 80",
                          "1.2.3.4:80 ", "1.2.3.4:8a", "1.2.3:80", ":80", "1.2.3.4:80:80", "[::1]:80"}) {
    EXPECT_FALSE(ParseEndpoint(bad).has_value()) << "accepted '" << bad << "'";
  }
}

TEST(ParseCidr, Good) {
  auto c = ParseCidr("100.97.0.0/16");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->base, 0x64610000u);
  EXPECT_EQ(c->prefix, 16);
  EXPECT_EQ(ParseCidr("0.0.0.0/0")->prefix, 0);
  EXPECT_EQ(ParseCidr("1.2.3.4/32")->prefix, 32);
  EXPECT_EQ(ParseCidr("10.0.0.0/8", 8, 30)->prefix, 8);
  EXPECT_EQ(ParseCidr("10.0.0.4/30", 8, 30)->prefix, 30);
}

TEST(ParseCidr, RejectsHostBitsRangeAndShape) {
  EXPECT_FALSE(ParseCidr("100.97.0.1/16"));
  EXPECT_FALSE(ParseCidr("10.0.0.1/31"));
  EXPECT_FALSE(ParseCidr("10.0.0.0/33"));
  EXPECT_FALSE(ParseCidr("10.0.0.0/99"));
  EXPECT_FALSE(ParseCidr("10.0.0.0/100"));
  EXPECT_FALSE(ParseCidr("10.0.0.0/"));
  EXPECT_FALSE(ParseCidr("10.0.0.0"));
  EXPECT_FALSE(ParseCidr("/8"));
  EXPECT_FALSE(ParseCidr("10.0.0.0/-8"));
  EXPECT_FALSE(ParseCidr("10.0.0.0/8/8"));
  EXPECT_FALSE(ParseCidr("10.0.0.0/8 "));
  EXPECT_FALSE(ParseCidr("10.0.0.0/7", 8, 30));
  EXPECT_FALSE(ParseCidr("10.0.0.0/31", 8, 30));
  auto r = ParseCidr("100.97.0.1/16");
  EXPECT_NE(r.error().message().find("host bits"), std::string::npos);
}

TEST(Cidr, MaskContainsOverlaps) {
  Cidr all{0, 0};
  EXPECT_EQ(all.mask(), 0u);
  EXPECT_TRUE(all.contains(0xFFFFFFFFu));
  Cidr host{0x01020304, 32};
  EXPECT_EQ(host.mask(), 0xFFFFFFFFu);
  EXPECT_EQ(host.first(), host.last());

  Cidr net = *ParseCidr("100.97.0.0/16");
  Cidr a = *ParseCidr("100.97.1.0/24");
  Cidr b = *ParseCidr("100.97.2.0/24");
  Cidr big = *ParseCidr("100.97.0.0/22");
  Cidr outside = *ParseCidr("100.98.0.0/24");
  EXPECT_EQ(net.first(), 0x64610000u);
  EXPECT_EQ(net.last(), 0x6461FFFFu);
  EXPECT_TRUE(net.contains(a));
  EXPECT_FALSE(a.contains(net));
  EXPECT_TRUE(net.contains(net));
  EXPECT_FALSE(net.contains(outside));
  EXPECT_FALSE(a.overlaps(b));
  EXPECT_TRUE(a.overlaps(big));
  EXPECT_TRUE(big.overlaps(b));
  EXPECT_TRUE(a.overlaps(a));
  EXPECT_TRUE(a.contains(*ParseIp4("100.97.1.255")));
  EXPECT_FALSE(a.contains(*ParseIp4("100.97.2.0")));
}

TEST(Format, RoundTrips) {
  EXPECT_EQ(FormatIp4(0x0A5B0101u), "10.91.1.1");
  EXPECT_EQ(FormatIp4(0), "0.0.0.0");
  EXPECT_EQ(FormatIp4(0xFFFFFFFFu), "255.255.255.255");
  EXPECT_EQ(FormatEndpoint({0x0A5B0001u, 7700}), "10.91.0.1:7700");
  EXPECT_EQ(FormatCidr({0x64610000u, 16}), "100.97.0.0/16");
  for (const char* s : {"1.2.3.4", "10.0.0.0", "192.168.255.1"}) EXPECT_EQ(FormatIp4(*ParseIp4(s)), s);
  for (const char* s : {"1.2.3.4:1", "10.0.0.0:65535"}) EXPECT_EQ(FormatEndpoint(*ParseEndpoint(s)), s);
  for (const char* s : {"0.0.0.0/0", "10.0.0.0/8", "100.97.1.0/24", "1.2.3.4/32"})
    EXPECT_EQ(FormatCidr(*ParseCidr(s)), s);
  // Every 32-bit pattern with one bit set survives the round trip.
  for (int bit = 0; bit < 32; ++bit) {
    Ip4 ip = Ip4{1} << bit;
    EXPECT_EQ(*ParseIp4(FormatIp4(ip)), ip);
  }
}

}  // namespace
}  // namespace uvpn
