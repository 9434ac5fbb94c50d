// Unit tests for src/routes (docs/route-table.md): the example file, every check with the line it names, the
// Format/Parse round trip, hostile inputs, Validate, Save/Load and the default control path.
#include "routes/routes.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace uvpn::routes {
namespace {

const char kGood[] =
    "# uvpn route table\n"
    "uvpn-route 1\n"
    "session 3f9c2a7e\n"
    "network 100.97.0.0/16\n"
    "site alpha subnet=100.97.1.0/24 peer=10.91.0.1:7700 node=10.91.1.1:7701\n"
    "site beta  subnet=100.97.2.0/24 peer=10.91.0.2:7700 node=10.91.2.1:7701\n";

bool Same(const RouteTable& a, const RouteTable& b) {
  if (a.session != b.session || !(a.network == b.network) || a.sites.size() != b.sites.size()) return false;
  for (size_t i = 0; i < a.sites.size(); ++i) {
    const Site &x = a.sites[i], &y = b.sites[i];
    if (x.name != y.name || !(x.subnet == y.subnet) || !(x.peer == y.peer) || !(x.node == y.node)) return false;
  }
  return true;
}

// Parses `text` as file "f" and returns the error message ("" on success).
std::string ErrorOf(std::string_view text) {
  auto r = Parse(text, "f");
  return r ? std::string() : r.error().message();
}

// The header of a valid file (3 lines); sites follow from line 4.
const std::string kHead = "uvpn-route 1\nsession s1\nnetwork 100.97.0.0/16\n";
const std::string kSiteA = "site a subnet=100.97.1.0/24 peer=10.0.0.1:1 node=10.1.0.1:2\n";

TEST(Routes, ParsesTheDocumentedExample) {
  auto r = Parse(kGood, ".uvpn_route_3f9c2a7e");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->session, "3f9c2a7e");
  EXPECT_EQ(FormatCidr(r->network), "100.97.0.0/16");
  ASSERT_EQ(r->sites.size(), 2u);
  EXPECT_EQ(r->sites[0].name, "alpha");
  EXPECT_EQ(FormatCidr(r->sites[0].subnet), "100.97.1.0/24");
  EXPECT_EQ(FormatEndpoint(r->sites[0].peer), "10.91.0.1:7700");
  EXPECT_EQ(FormatEndpoint(r->sites[0].node), "10.91.1.1:7701");
  EXPECT_EQ(r->sites[1].name, "beta");
  EXPECT_EQ(FormatEndpoint(r->sites[1].node), "10.91.2.1:7701");

  EXPECT_EQ(r->FindSite("beta"), &r->sites[1]);
  EXPECT_EQ(r->FindSite("gamma"), nullptr);
  EXPECT_EQ(r->FindSite(""), nullptr);
  EXPECT_EQ(r->SiteFor(*ParseIp4("100.97.1.77")), &r->sites[0]);
  EXPECT_EQ(r->SiteFor(*ParseIp4("100.97.2.0")), &r->sites[1]);
  EXPECT_EQ(r->SiteFor(*ParseIp4("100.97.3.1")), nullptr);
  EXPECT_EQ(r->SiteFor(*ParseIp4("10.91.1.1")), nullptr);
  EXPECT_TRUE(Validate(*r).ok());
}

TEST(Routes, SyntaxVariantsThatAreAccepted) {
  std::string text =
      "\n   \n# comment only\r\n"
      "\tuvpn-route\t1   # version\r\n"
      "network 100.97.0.0/16\n"  // network before session is fine
      "session a_B-9\n"
      "site x node=10.1.0.1:2 peer=10.0.0.1:1 subnet=100.97.8.0/21#trailing comment\n"  // fields in any order
      "site y subnet=100.97.0.4/30 peer=10.0.0.1:65535 node=10.0.0.1:65535";  // no final newline; peer == node
  auto r = Parse(text, "f");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->session, "a_B-9");
  ASSERT_EQ(r->sites.size(), 2u);
  EXPECT_EQ(FormatCidr(r->sites[0].subnet), "100.97.8.0/21");
  EXPECT_EQ(r->sites[1].peer, r->sites[1].node);
  // Site before network: the subnet check waits for the end of the file.
  EXPECT_EQ(ErrorOf("uvpn-route 1\nsession s\n" + kSiteA + "network 100.97.0.0/16\n"), "");
}

struct BadCase {
  const char* what;
  std::string text;
  const char* expect;  // the whole message, "f:<line>: ..." or a prefix of it ending in "..."
};

TEST(Routes, EveryCheckNamesItsLine) {
  const std::string site_b = "site b subnet=100.97.2.0/24 peer=10.0.0.2:1 node=10.1.0.2:2\n";
  BadCase cases[] = {
      {"empty file", "", "f:1: missing 'uvpn-route 1' directive"},
      {"only comments", "# x\n\n", "f:2: missing 'uvpn-route 1' directive"},
      {"version not first", "session s\nuvpn-route 1\n", "f:1: expected 'uvpn-route 1' as the first directive..."},
      {"version 2", "# c\nuvpn-route 2\n", "f:2: unsupported format version '2'..."},
      {"version args", "uvpn-route 1 1\n", "f:1: 'uvpn-route' takes exactly one argument..."},
      {"version repeated", "uvpn-route 1\nuvpn-route 1\n", "f:2: repeated 'uvpn-route' directive"},
      {"unknown directive", kHead + "route x\n", "f:4: unknown directive 'route'"},
      {"directive case", kHead + "Site a\n", "f:4: unknown directive 'Site'"},
      {"missing session", "uvpn-route 1\nnetwork 100.97.0.0/16\n" + kSiteA, "f:3: missing 'session' directive"},
      {"missing network", "uvpn-route 1\nsession s\n" + kSiteA, "f:3: missing 'network' directive"},
      {"no site", kHead, "f:3: no 'site' directive"},
      {"session repeated", kHead + "session t\n", "f:4: repeated 'session' directive"},
      {"session empty", "uvpn-route 1\nsession\n", "f:2: 'session' takes exactly one argument"},
      {"session bad char", "uvpn-route 1\nsession a.b\n", "f:2: bad session id 'a.b'..."},
      {"session too long", "uvpn-route 1\nsession " + std::string(65, 'x') + "\n", "f:2: bad session id..."},
      {"network repeated", kHead + "network 100.97.0.0/16\n", "f:4: repeated 'network' directive"},
      {"network two args", "uvpn-route 1\nnetwork 100.97.0.0/16 x\n", "f:2: 'network' takes exactly one..."},
      {"network host bits", "uvpn-route 1\nnetwork 100.97.0.1/16\n", "f:2: network: host bits set..."},
      {"network /7", "uvpn-route 1\nnetwork 100.0.0.0/7\n", "f:2: network: prefix /7 out of range [8, 30]..."},
      {"network /31", "uvpn-route 1\nnetwork 100.97.0.0/31\n", "f:2: network: prefix /31 out of range..."},
      {"network bad ip", "uvpn-route 1\nnetwork 100.97.0/16\n", "f:2: network: bad IPv4 address..."},
      {"site no name", kHead + "site\n", "f:4: 'site' needs a name..."},
      {"site bad name", kHead + "site a.b subnet=100.97.1.0/24 peer=1.1.1.1:1 node=1.1.1.1:1\n",
       "f:4: bad site name 'a.b'..."},
      {"site name too long", kHead + "site " + std::string(33, 'n') + " subnet=100.97.1.0/24\n",
       "f:4: bad site name..."},
      {"site missing subnet", kHead + "site a peer=1.1.1.1:1 node=1.1.1.1:1\n", "f:4: site 'a': missing key 'subnet'"},
      {"site missing peer", kHead + "site a subnet=100.97.1.0/24 node=1.1.1.1:1\n",
       "f:4: site 'a': missing key 'peer'"},
      {"site missing node", kHead + "site a subnet=100.97.1.0/24 peer=1.1.1.1:1\n",
       "f:4: site 'a': missing key 'node'"},
      {"site repeated key", kHead + "site a subnet=100.97.1.0/24 subnet=100.97.2.0/24 peer=1.1.1.1:1\n",
       "f:4: site 'a': repeated key 'subnet'"},
      {"site repeated peer", kHead + "site a peer=1.1.1.1:1 peer=1.1.1.1:1 node=1.1.1.1:1\n",
       "f:4: site 'a': repeated key 'peer'"},
      {"site unknown key", kHead + "site a subnet=100.97.1.0/24 port=1.1.1.1:1 node=1.1.1.1:1\n",
       "f:4: site 'a': unknown key 'port'"},
      {"site not key=value", kHead + "site a subnet\n", "f:4: site 'a': expected key=value, got 'subnet'"},
      {"site too many fields", kHead + "site a subnet=100.97.1.0/24 peer=1.1.1.1:1 node=1.1.1.1:1 x=y\n",
       "f:4: too many fields for 'site'..."},
      {"port 0", kHead + "site a subnet=100.97.1.0/24 peer=1.1.1.1:0 node=1.1.1.1:1\n",
       "f:4: site 'a': peer: port out of range..."},
      {"port 65536", kHead + "site a subnet=100.97.1.0/24 peer=1.1.1.1:1 node=1.1.1.1:65536\n",
       "f:4: site 'a': node: port out of range..."},
      {"endpoint no port", kHead + "site a subnet=100.97.1.0/24 peer=1.1.1.1 node=1.1.1.1:1\n",
       "f:4: site 'a': peer: bad address..."},
      {"endpoint bad ip", kHead + "site a subnet=100.97.1.0/24 peer=1.1.1.256:1 node=1.1.1.1:1\n",
       "f:4: site 'a': peer: bad IPv4 address..."},
      {"subnet host bits", kHead + "site a subnet=100.97.1.1/24 peer=1.1.1.1:1 node=1.1.1.1:1\n",
       "f:4: site 'a': subnet: host bits set..."},
      {"subnet /31", kHead + "site a subnet=100.97.1.0/31 peer=1.1.1.1:1 node=1.1.1.1:1\n",
       "f:4: site 'a': subnet: prefix /31 out of range..."},
      {"subnet outside network", kHead + "\n" + kSiteA + "site beta subnet=100.98.2.0/24 peer=1.1.1.1:1 node=1.1.1.1:1\n",
       "f:6: site 'beta': subnet 100.98.2.0/24 is not inside network 100.97.0.0/16"},
      {"subnet larger than network", kHead + "site a subnet=100.96.0.0/15 peer=1.1.1.1:1 node=1.1.1.1:1\n",
       "f:4: site 'a': subnet 100.96.0.0/15 is not inside network 100.97.0.0/16"},
      {"overlapping subnets", kHead + kSiteA + "# gap\nsite b subnet=100.97.0.0/23 peer=1.1.1.1:1 node=1.1.1.1:1\n",
       "f:6: site 'b': subnet 100.97.0.0/23 overlaps subnet 100.97.1.0/24 of site 'a'"},
      {"identical subnets", kHead + kSiteA + "site b subnet=100.97.1.0/24 peer=1.1.1.1:1 node=1.1.1.1:1\n",
       "f:5: site 'b': subnet 100.97.1.0/24 overlaps..."},
      {"duplicate site", kHead + kSiteA + site_b + "site a subnet=100.97.3.0/24 peer=1.1.1.1:1 node=1.1.1.1:1\n",
       "f:6: site 'a': duplicate site name (first on line 4)"},
      {"NUL byte", kHead + std::string("site a\0 x\n", 10), "f:4: NUL byte in line"},
      {"NUL in comment", kHead + std::string("# \0\n", 4), "f:4: NUL byte in line"},
      {"long line", kHead + "#" + std::string(1024, 'x') + "\n", "f:4: line longer than 1024 bytes"},
      {"CR in token", kHead + "site a\rb\n", "f:4: bad site name 'a\\x0db'..."},
  };
  for (const BadCase& c : cases) {
    std::string got = ErrorOf(c.text);
    std::string want = c.expect;
    if (want.size() > 3 && want.compare(want.size() - 3, 3, "...") == 0) {
      want.resize(want.size() - 3);
      EXPECT_EQ(got.substr(0, want.size()), want) << c.what << ": got '" << got << "'";
    } else {
      EXPECT_EQ(got, want) << c.what;
    }
  }
}

TEST(Routes, ErrorsUseTheFileNameAndEinval) {
  auto r = Parse("uvpn-route 1\nsession s\nnetwork 100.97.0.0/16\nsite beta subnet=100.98.2.0/24 "
                 "peer=1.1.1.1:1 node=1.1.1.1:1\n",
                 ".uvpn_route_x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), 22);
  EXPECT_EQ(r.error().message(),
            ".uvpn_route_x:4: site 'beta': subnet 100.98.2.0/24 is not inside network 100.97.0.0/16");
}

TEST(Routes, FormatParseRoundTrip) {
  auto r = Parse(kGood, "f");
  ASSERT_TRUE(r);
  std::string text = Format(*r);
  EXPECT_EQ(text,
            "# uvpn route table\n"
            "uvpn-route 1\n"
            "session 3f9c2a7e\n"
            "network 100.97.0.0/16\n"
            "site alpha subnet=100.97.1.0/24 peer=10.91.0.1:7700 node=10.91.1.1:7701\n"
            "site beta subnet=100.97.2.0/24 peer=10.91.0.2:7700 node=10.91.2.1:7701\n");
  auto again = Parse(text, "f");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE(Same(*r, *again));
  EXPECT_EQ(Format(*again), text);

  // A table built in memory, with the largest counts the format allows in a /16.
  RouteTable t;
  t.session = std::string(64, 'z');
  t.network = *ParseCidr("10.200.0.0/16");
  for (int i = 0; i < 256; ++i) {
    Site s;
    s.name = "s" + std::to_string(i);
    s.subnet = Cidr{t.network.base | (static_cast<Ip4>(i) << 8), 24};
    s.peer = {0x0A000001u + static_cast<Ip4>(i), static_cast<uint16_t>(1 + i)};
    s.node = {0xC0A80001u, 65535};
    t.sites.push_back(s);
  }
  ASSERT_TRUE(Validate(t).ok()) << Validate(t).message();
  auto back = Parse(Format(t), "mem");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_TRUE(Same(t, *back));
}

TEST(Routes, HostileInputs) {
  // 2000 lines: stops at line 1025, whatever they hold.
  std::string many = kHead + kSiteA;
  for (int i = 0; i < 2000; ++i) many += "# filler\n";
  EXPECT_EQ(ErrorOf(many), "f:1025: more than 1024 lines");
  // Exactly 1024 lines is fine.
  std::string max = kHead + kSiteA;
  for (int i = 0; i < 1024 - 4; ++i) max += "\n";
  EXPECT_EQ(ErrorOf(max), "");
  // A line of exactly 1024 bytes is fine (its \r does not count), 1025 is not.
  std::string line1024 = "#" + std::string(1023, 'y');
  EXPECT_EQ(ErrorOf(kHead + line1024 + "\r\n" + kSiteA), "");
  EXPECT_EQ(ErrorOf(kHead + line1024 + "y\n" + kSiteA), "f:4: line longer than 1024 bytes");
  // One huge line, no newline at all.
  std::string huge(8 << 20, 'A');
  EXPECT_EQ(ErrorOf(huge), "f:1: line longer than 1024 bytes");
  // Millions of newlines.
  EXPECT_EQ(ErrorOf(std::string(4 << 20, '\n')), "f:1025: more than 1024 lines");
  // Binary garbage on the first line.
  std::string bin;
  for (int i = 1; i < 256; ++i) bin += static_cast<char>(i == '\n' ? 'n' : i);
  EXPECT_EQ(ErrorOf(bin).substr(0, 4), "f:1:");
  // Many tokens on one line.
  std::string toks = kHead + "site";
  for (int i = 0; i < 400; ++i) toks += " a";
  EXPECT_EQ(ErrorOf(toks), "f:4: too many fields for 'site' (expected name subnet= peer= node=)");
  // Error text quotes user input escaped and cut short.
  std::string junk = kHead + "\x01\x7f" + std::string(200, 'q') + "\n";
  std::string e = ErrorOf(junk);
  EXPECT_EQ(e.rfind("f:4: unknown directive '\\x01\\x7fqqq", 0), 0u) << e;
  EXPECT_LT(e.size(), 120u);
  // 255 sites, then one that overlaps all of them: reported against the first.
  std::string sites = kHead;
  for (int i = 0; i < 255; ++i)
    sites += "site n" + std::to_string(i) + " subnet=100.97." + std::to_string(i) + ".0/24 peer=1.1.1.1:1 node=1.1.1.1:1\n";
  EXPECT_EQ(ErrorOf(sites), "");
  sites += "site last subnet=100.97.0.0/16 peer=1.1.1.1:1 node=1.1.1.1:1\n";
  EXPECT_EQ(ErrorOf(sites), "f:259: site 'last': subnet 100.97.0.0/16 overlaps subnet 100.97.0.0/24 of site 'n0'");
}

TEST(Routes, ValidateInMemoryTables) {
  auto good = Parse(kGood, "f");
  ASSERT_TRUE(good);
  RouteTable t = *good;
  EXPECT_TRUE(Validate(t).ok());

  auto with = [&](auto mutate) {
    RouteTable c = *good;
    mutate(c);
    return Validate(c);
  };
  EXPECT_FALSE(with([](RouteTable& c) { c.session = ""; }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.session = "a b"; }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.network.prefix = 7; }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.network.prefix = 31; }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.network.base |= 1; }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.sites.clear(); }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.sites[1].name = "alpha"; }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.sites[1].name = "x y"; }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.sites[1].subnet = c.sites[0].subnet; }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.sites[1].subnet = *ParseCidr("100.98.0.0/24"); }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.sites[1].subnet.prefix = 31; }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.sites[1].subnet.base |= 1; }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.sites[0].peer.port = 0; }).ok());
  EXPECT_FALSE(with([](RouteTable& c) { c.sites[0].node.port = 0; }).ok());
  Status dup = with([](RouteTable& c) { c.sites[1].name = "alpha"; });
  EXPECT_EQ(dup.message(), "site 'alpha': duplicate site name");
  Status out = with([](RouteTable& c) { c.sites[1].subnet = *ParseCidr("100.98.2.0/24"); });
  EXPECT_EQ(out.message(), "site 'beta': subnet 100.98.2.0/24 is not inside network 100.97.0.0/16");
}

// The route seeds of the fuzz corpus: err_* must be rejected, the others accepted.
TEST(Routes, CorpusSeeds) {
  size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(UVPN_SOURCE_DIR "/fuzz/corpus/fuzz_routes")) {
    std::string name = entry.path().filename().string();
    auto r = Load(entry.path().string());
    if (name.rfind("err_", 0) == 0) {
      EXPECT_FALSE(r) << name;
    } else {
      EXPECT_TRUE(r) << name << ": " << r.error().message();
    }
    ++seen;
  }
  EXPECT_GE(seen, 3u);
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvpn_routes_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(TempDir, SaveIsAtomicAndLoadReadsBack) {
  auto t = Parse(kGood, "f");
  ASSERT_TRUE(t);
  std::string path = dir_ + "/" + FileName(t->session);
  EXPECT_EQ(FileName("3f9c2a7e"), ".uvpn_route_3f9c2a7e");
  mode_t old = umask(077);
  Status st = Save(*t, path);
  umask(old);
  ASSERT_TRUE(st.ok()) << st.message();
  struct stat sb;
  ASSERT_EQ(stat(path.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0644u);
  auto back = Load(path);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_TRUE(Same(*t, *back));
  // Overwrite in place; no temporary left behind.
  t->sites.pop_back();
  ASSERT_TRUE(Save(*t, path).ok());
  EXPECT_EQ(Load(path)->sites.size(), 1u);
  size_t entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1u);
  // An invalid table is not written.
  RouteTable bad = *t;
  bad.sites.clear();
  EXPECT_FALSE(Save(bad, path).ok());
  EXPECT_EQ(Load(path)->sites.size(), 1u);
  // Missing directory: an errno error, nothing created.
  Status missing = Save(*t, dir_ + "/no/such/file");
  EXPECT_EQ(missing.code(), ENOENT);
}

TEST_F(TempDir, LoadErrors) {
  auto r = Load(dir_ + "/absent");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ENOENT);
  std::string path = dir_ + "/.uvpn_route_x";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  std::string body = kHead + "site beta subnet=100.98.2.0/24 peer=1.1.1.1:1 node=1.1.1.1:1\n";
  ASSERT_EQ(write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
  close(fd);
  r = Load(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message().rfind(path + ":4: site 'beta'", 0), 0u) << r.error().message();
  // Too large: refused before parsing.
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(kMaxLines * kMaxLineLength + 1)), 0);
  r = Load(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("larger than"), std::string::npos);
  // A directory is not a route file.
  EXPECT_FALSE(Load(dir_));
}

TEST(Routes, DefaultControlPath) {
  const char* saved = getenv("XDG_RUNTIME_DIR");
  std::string keep = saved ? saved : "";
  setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
  EXPECT_EQ(DefaultControlPath("3f9c", "alpha"), "/run/user/1234/uvpn/3f9c-alpha.sock");
  unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(DefaultControlPath("3f9c", "alpha"), "/tmp/uvpn-" + std::to_string(getuid()) + "/3f9c-alpha.sock");
  setenv("XDG_RUNTIME_DIR", "", 1);
  EXPECT_EQ(DefaultControlPath("s", "b"), "/tmp/uvpn-" + std::to_string(getuid()) + "/s-b.sock");
  if (saved) setenv("XDG_RUNTIME_DIR", keep.c_str(), 1);
  else unsetenv("XDG_RUNTIME_DIR");
}

}  // namespace
}  // namespace uvpn::routes
