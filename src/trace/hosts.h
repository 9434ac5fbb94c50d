// Overlay names for programs that resolve names themselves (docs/trace.md "Names"): the session's name table
// fetched from the home router (HOSTS_LIST / HOSTS_REPLY, docs/protocol.md section 13), and the hosts file the
// monitor serves in place of /etc/hosts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/addr.h"
#include "common/result.h"
#include "proto/wire.h"

namespace uvpn::trace {

// Every node of the session the router at `router` (its node endpoint) knows, in increasing VIP order, fetched
// page by page over one UDP socket; each request is re-sent after 20 ms, doubling to 100 ms. Error if no page
// came back within `timeout_ms` in all (the whole fetch is bounded by it) or after 4096 pages. Blocking.
Result<std::vector<proto::HostEntry>> FetchHosts(const Endpoint& router, int timeout_ms);

// Hosts-file lines for `entries`: "VIP NAME", the HOME entries first (the router's own site wins a name that two
// sites registered, as with RESOLVE), then the others in VIP order. Pure.
std::string FormatHosts(const std::vector<proto::HostEntry>& entries);

// The file served in place of /etc/hosts: a private directory made on first use (mkdtemp under $TMPDIR or /tmp,
// mode 0755 so that a program that drops privileges can still read it), removed by the destructor. Single-
// threaded (the monitor's loop).
class HostsFile {
 public:
  HostsFile(const Endpoint& router, const Cidr& net) : router_(router), net_(net) {}
  ~HostsFile();
  HostsFile(const HostsFile&) = delete;
  HostsFile& operator=(const HostsFile&) = delete;

  // Path of a hosts file holding the overlay names (only VIPs inside the session network) followed by the
  // node's own /etc/hosts, rewritten (atomically: write then rename) when older than kRefreshMs at `now_ms`;
  // "" if it cannot be written or the router has never answered (the program then reads the real file). A
  // router that stops answering leaves the last good list in place. Blocks at most kFetchMs per refresh.
  const std::string& Path(int64_t now_ms);

  static constexpr int64_t kRefreshMs = 1000;
  static constexpr int kFetchMs = 300;

 private:
  bool Write(const std::string& text);

  Endpoint router_;
  Cidr net_;
  std::string dir_, path_;
  bool have_ = false;        // path_ holds a file with the overlay names
  int64_t written_ms_ = -1;  // when the last refresh was tried
};

}  // namespace uvpn::trace
