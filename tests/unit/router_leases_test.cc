// Unit tests of the router's pure parts: lease database, slot generations, status formatting.
#include <gtest/gtest.h>

#include "router/event_loop.h"
#include "router/leases.h"
#include "router/status.h"

namespace uvpn::router {
namespace {

Ip4 Ip(const char* s) {
  return *ParseIp4(s);
}

TEST(RouterLeases, AssignsFromSecondAddressAndDerivesNames) {
  LeaseDb db(*ParseCidr("100.97.1.0/24"), "alpha");
  bool created = false;
  auto a = db.Acquire(Ip("10.0.0.10"), 0, "", &created);
  ASSERT_TRUE(a);
  EXPECT_TRUE(created);
  EXPECT_EQ((*a)->vip, Ip("100.97.1.2"));
  EXPECT_EQ((*a)->name, "alpha-2");
  auto b = db.Acquire(Ip("10.0.0.11"), 0, "node-b", &created);
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)->vip, Ip("100.97.1.3"));
  EXPECT_EQ((*b)->name, "node-b");
  EXPECT_EQ(db.ByVip(Ip("100.97.1.3"))->real, Ip("10.0.0.11"));
  EXPECT_EQ(db.ByReal(Ip("10.0.0.10"))->vip, Ip("100.97.1.2"));
  EXPECT_EQ(db.ByVip(Ip("100.97.1.4")), nullptr);
}

TEST(RouterLeases, SharedLeaseIsRefcounted) {
  LeaseDb db(*ParseCidr("100.97.1.0/24"), "a");
  bool created = false;
  ASSERT_TRUE(db.Acquire(Ip("10.0.0.10"), 0, "", &created));
  auto again = db.Acquire(Ip("10.0.0.10"), 0, "other", &created);
  ASSERT_TRUE(again);
  EXPECT_FALSE(created);
  EXPECT_EQ((*again)->refs, 2u);
  EXPECT_EQ((*again)->name, "a-2");  // the first registration named it
  Ip4 vip = 0;
  EXPECT_FALSE(db.Release(Ip("10.0.0.10"), &vip));
  EXPECT_TRUE(db.Release(Ip("10.0.0.10"), &vip));
  EXPECT_EQ(vip, Ip("100.97.1.2"));
  EXPECT_EQ(db.size(), 0u);
  EXPECT_FALSE(db.Release(Ip("10.0.0.10"), &vip));  // unknown: no-op
}

TEST(RouterLeases, HostNamesAreUnique) {
  LeaseDb db(*ParseCidr("100.97.1.0/24"), "a");
  db.SetReservedSites({"a", "b"});
  bool created = false;
  ASSERT_TRUE(db.Acquire(Ip("10.0.0.10"), 0, "db", &created));
  EXPECT_FALSE(db.Acquire(Ip("10.0.0.11"), 0, "db", &created));   // taken here
  EXPECT_FALSE(db.Acquire(Ip("10.0.0.11"), 0, "DB", &created));   // names compare without case
  db.AddRemote(Ip("100.97.2.7"), "web", "b");
  EXPECT_FALSE(db.Acquire(Ip("10.0.0.11"), 0, "web", &created));  // taken at another site
  EXPECT_FALSE(db.Acquire(Ip("10.0.0.11"), 0, "b-2", &created));  // a derived-name form of site b
  EXPECT_FALSE(db.Acquire(Ip("10.0.0.11"), 0, "A-9", &created));  // ... and of our own site
  EXPECT_TRUE(db.Acquire(Ip("10.0.0.11"), 0, "b-2x", &created));  // not of that form
  auto d = db.Acquire(Ip("10.0.0.12"), 0, "", &created);          // derived names are always granted
  ASSERT_TRUE(d);
  EXPECT_EQ((*d)->name, "a-4");
  EXPECT_TRUE(db.Acquire(Ip("10.0.0.10"), 0, "db", &created));    // the holder itself shares its lease
}

TEST(RouterLeases, RequestedAddress) {
  LeaseDb db(*ParseCidr("100.97.1.0/24"), "a");
  bool created = false;
  auto a = db.Acquire(Ip("10.0.0.10"), Ip("100.97.1.50"), "", &created);
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)->vip, Ip("100.97.1.50"));
  EXPECT_FALSE(db.Acquire(Ip("10.0.0.11"), Ip("100.97.1.50"), "", &created));   // taken
  EXPECT_FALSE(db.Acquire(Ip("10.0.0.11"), Ip("100.97.1.1"), "", &created));    // router's
  EXPECT_FALSE(db.Acquire(Ip("10.0.0.11"), Ip("100.97.1.0"), "", &created));    // network
  EXPECT_FALSE(db.Acquire(Ip("10.0.0.11"), Ip("100.97.1.255"), "", &created));  // broadcast
  EXPECT_FALSE(db.Acquire(Ip("10.0.0.11"), Ip("100.97.2.5"), "", &created));    // other subnet
  EXPECT_FALSE(db.Acquire(Ip("10.0.0.10"), Ip("100.97.1.51"), "", &created));   // node holds another one
  EXPECT_TRUE(db.Acquire(Ip("10.0.0.10"), Ip("100.97.1.50"), "", &created));    // same one: shared
}

TEST(RouterLeases, FullSubnet) {
  LeaseDb db(*ParseCidr("100.97.1.0/30"), "a");  // .2 is the only node address
  bool created = false;
  ASSERT_TRUE(db.Acquire(Ip("10.0.0.10"), 0, "", &created));
  auto full = db.Acquire(Ip("10.0.0.11"), 0, "", &created);
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message().find("full"), std::string::npos);
}

TEST(RouterLeases, RemoteNodes) {
  LeaseDb db(*ParseCidr("100.97.1.0/24"), "a");
  db.AddRemote(Ip("100.97.2.2"), "b-2", "b");
  db.AddRemote(Ip("100.97.3.2"), "c-2", "c");
  db.DelRemote(Ip("100.97.3.2"), "b");  // wrong site: ignored
  EXPECT_EQ(db.remotes().size(), 2u);
  db.DropSite("b");
  ASSERT_EQ(db.remotes().size(), 1u);
  EXPECT_EQ(db.remotes().begin()->second.site, "c");
}

TEST(RouterSlots, GenerationMakesStaleTagsDead) {
  Slots<int> s;
  uint32_t a = s.Alloc();
  uint32_t gen = s.Gen(a);
  EXPECT_TRUE(s.Live(a, gen));
  s.Free(a);
  EXPECT_FALSE(s.Live(a, gen));
  uint32_t b = s.Alloc();
  EXPECT_EQ(a, b);  // reused
  EXPECT_FALSE(s.Live(b, gen));
  EXPECT_TRUE(s.Live(b, s.Gen(b)));
  Tag t = Unpack(Pack(Kind::kRelay1, 0xabcdef, 0xdeadbeef));
  EXPECT_EQ(t.kind, Kind::kRelay1);
  EXPECT_EQ(t.index, 0xabcdefu);
  EXPECT_EQ(t.gen, 0xdeadbeefu);
}

TEST(RouterStatus, JsonEscapesAndText) {
  std::string out;
  AppendJsonString(&out, std::string("a\"b\\c\n\x01", 7));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\"");
  Snapshot s;
  s.site = "a";
  s.session = "t\"1";
  s.links.push_back({"b", {Ip("10.0.0.2"), 7700}, true, false, 1.5});
  s.nodes.push_back({Ip("100.97.1.2"), Ip("10.0.0.10"), "a-2", "a", true, 1});
  s.nodes.push_back({Ip("100.97.2.2"), 0, "b-2", "b", false, 0});
  s.relays.push_back(
      {0x10000000000001, {Ip("100.97.1.2"), 40000}, {Ip("100.97.2.2"), 22}, "established", 10, 20, 3});
  std::string j = FormatJson(s);
  EXPECT_NE(j.find("\"session\":\"t\\\"1\""), std::string::npos);
  EXPECT_NE(j.find("\"real\":null"), std::string::npos);
  EXPECT_NE(j.find("\"src\":\"100.97.1.2:40000\""), std::string::npos);
  std::string t = FormatText(s);
  EXPECT_NE(t.find("100.97.2.2"), std::string::npos);
  EXPECT_NE(t.find("remote"), std::string::npos);
}

}  // namespace
}  // namespace uvpn::router
