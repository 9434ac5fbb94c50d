// The router's status report: a snapshot of links, nodes and relays, formatted as text (for people) or JSON
// (for tools and tests). Answered on the Unix status socket: the client writes "text\n" or "json\n", the
// router writes the report and closes.
//
// Pure formatting: no I/O. JSON output is always valid (strings escaped per RFC 8259).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/addr.h"

namespace uvpn::router {

struct LinkInfo {
  std::string site;
  Endpoint endpoint;
  bool up = false;
  bool cut = false;    // `uvpn chaos cut` in force
  double since_s = 0;  // seconds since the link went up or down
  std::string security = "plaintext";
  uint64_t legs_pooled = 0;   // legs 1 taken from the leg pool (docs/performance.md "Leg pool")
  uint64_t legs_dialled = 0;  // legs 1 dialled on demand  // "noise+chacha20-poly1305", "noise+aes-256-gcm" (legs), or "plaintext"
};

struct NodeInfo {
  Ip4 vip = 0;
  Ip4 real = 0;  // 0: unknown (remote node)
  std::string name;
  std::string site;
  bool local = false;
  uint32_t refs = 0;  // registrations holding a local lease
};

struct RelayInfo {
  uint64_t id = 0;
  Endpoint src;  // virtual
  Endpoint dst;  // virtual
  std::string state;
  uint64_t bytes_fwd = 0;  // src -> dst
  uint64_t bytes_rev = 0;  // dst -> src
  double age_s = 0;
  bool resumable = false;
  bool suspended = false;  // leg 1 lost (suspended or resuming)
  uint64_t unacked = 0;    // sent into leg 1, not yet acknowledged
  uint64_t ring = 0;       // replay ring capacity
  uint64_t spilled = 0;    // pending in the spill file
  uint32_t suspensions = 0;
};

// Outage-tolerance counters (docs/outage.md), since start-up unless said otherwise.
struct RecoveryStats {
  bool enabled = false;
  uint64_t suspended = 0;        // relays suspended now (a snapshot)
  uint64_t suspensions = 0;
  uint64_t resumes = 0;          // successful RESUME handshakes (either role)
  uint64_t replayed_bytes = 0;   // bytes sent again after a rewind
  uint64_t deadline_resets = 0;  // relays reset at --outage-deadline
  uint64_t orphan_resets = 0;    // peer relays no RESUME reclaimed
  uint64_t resume_failures = 0;
  uint64_t ring_bytes = 0;       // replay ring capacity, all relays (a snapshot)
  uint64_t spill_bytes = 0;      // pending in spill files (a snapshot)
  uint64_t spill_files = 0;      // (a snapshot)
  uint64_t spilled_total = 0;    // bytes ever written to spill files
};

// Datagram counters (docs/protocol.md section 9), since start-up.
struct UdpStats {
  uint64_t rx = 0;  // datagrams read (node and WAN sockets)
  uint64_t tx = 0;  // datagrams sent on
  uint64_t drop_malformed = 0;
  uint64_t drop_no_lease = 0;  // sender or destination not leased
  uint64_t drop_no_route = 0;
  uint64_t drop_link_down = 0;
  uint64_t drop_send = 0;  // sendto failed (EAGAIN, ...)
  uint64_t drop_auth = 0;  // sealed datagram forged, replayed, of no current link session, or plaintext refused
};

struct Snapshot {
  std::string site;
  std::string session;
  std::vector<LinkInfo> links;
  std::vector<NodeInfo> nodes;
  std::vector<RelayInfo> relays;
  UdpStats udp;
  RecoveryStats recovery;
};

std::string FormatText(const Snapshot& s);
std::string FormatJson(const Snapshot& s);
// Appends `in` as a quoted JSON string.
void AppendJsonString(std::string* out, std::string_view in);

}  // namespace uvpn::router
