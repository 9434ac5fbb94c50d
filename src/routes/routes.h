// The route table file (docs/route-table.md): parser, writer and lookups.
// Parsing is pure (text in, table or error out); errors name "<file>:<line>: ...".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/addr.h"
#include "common/result.h"

namespace uvpn::routes {

struct Site {
  std::string name;
  Cidr subnet;
  Endpoint peer;  // WAN address: other routers reach this site's router here
  Endpoint node;  // private address: this site's own nodes reach its router here
};

struct RouteTable {
  std::string session;
  Cidr network;
  std::vector<Site> sites;  // in file order

  // nullptr if absent.
  const Site* FindSite(std::string_view name) const;
  // The site whose subnet contains `vip`, or nullptr.
  const Site* SiteFor(Ip4 vip) const;
};

inline constexpr size_t kMaxLines = 1024;
inline constexpr size_t kMaxLineLength = 1024;

// Parses the text of a route file. `filename` only labels error messages.
Result<RouteTable> Parse(std::string_view text, std::string_view filename);
// Reads and parses a file (at most kMaxLines * kMaxLineLength bytes).
Result<RouteTable> Load(const std::string& path);
// Canonical text of a table; Parse(Format(t)) == t.
std::string Format(const RouteTable& table);
// Writes atomically (temporary file + rename), mode 0644.
Status Save(const RouteTable& table, const std::string& path);
// Validates a table built in memory (same checks as Parse, without line numbers).
Status Validate(const RouteTable& table);

// ".uvpn_route_<id>"
std::string FileName(std::string_view session);
// $XDG_RUNTIME_DIR/uvpn/<session>-<site>.sock, else /tmp/uvpn-<uid>/<session>-<site>.sock
std::string DefaultControlPath(std::string_view session, std::string_view site);

}  // namespace uvpn::routes
