// libFuzzer target for src/routes (docs/route-table.md). Theory of operation: the input is a route file. A
// rejection must name the file and a line ("fuzz:<line>: ..."). An accepted table must pass Validate, its canonical
// text (Format) must parse back to the same table and format to the same text, and its lookups must agree with it.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "routes/routes.h"

namespace {

using namespace uvpn::routes;

bool Same(const RouteTable& a, const RouteTable& b) {
  if (a.session != b.session || !(a.network == b.network) || a.sites.size() != b.sites.size()) return false;
  for (size_t i = 0; i < a.sites.size(); ++i) {
    const Site &x = a.sites[i], &y = b.sites[i];
    if (x.name != y.name || !(x.subnet == y.subnet) || !(x.peer == y.peer) || !(x.node == y.node)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = Parse(text, "fuzz");
  if (!r) {
    const std::string& msg = r.error().message();
    FUZZ_CHECK(msg.rfind("fuzz:", 0) == 0);
    size_t i = 5;
    while (i < msg.size() && msg[i] >= '0' && msg[i] <= '9') ++i;
    FUZZ_CHECK(i > 5 && msg.compare(i, 2, ": ") == 0);
    return 0;
  }
  const RouteTable& t = *r;
  FUZZ_CHECK(Validate(t).ok());
  FUZZ_CHECK(!t.sites.empty());
  std::string canon = Format(t);
  auto again = Parse(canon, "fuzz");
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(Same(t, *again));
  FUZZ_CHECK(Format(*again) == canon);
  for (const Site& s : t.sites) {
    FUZZ_CHECK(t.FindSite(s.name) == &s);
    FUZZ_CHECK(t.SiteFor(s.subnet.first()) == &s);
    FUZZ_CHECK(t.SiteFor(s.subnet.last()) == &s);
    FUZZ_CHECK(t.network.contains(s.subnet));
  }
  return 0;
}
