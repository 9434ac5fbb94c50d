// The subnet router (docs/architecture.md "Router internals", docs/protocol.md).
#pragma once

#include <optional>
#include <string>

#include "routes/routes.h"
#include "routes/secret.h"

namespace uvpn::router {

struct Options {
  routes::RouteTable table;
  std::string site;          // this router's site (must be in table)
  std::string control_path;  // Unix status socket; empty = routes::DefaultControlPath
  int connect_timeout_ms = 20000;
  int header_timeout_ms = 5000;
  int heartbeat_s = 5;       // node registration heartbeat interval announced in REGISTER_OK
  // After an epoll batch in which a relay direction in bulk mode moved data (4 reads in a row, the other way
  // silent), sleep this long before looking for more events, so that each wakeup and splice moves more bytes
  // (docs/performance.md). 0 disables. Request/response traffic never enters bulk mode.
  int coalesce_us = 200;

  // WAN outage tolerance (docs/outage.md, "Configuration").
  bool resume = true;                 // ask peers to keep cross-site relays across leg-1 outages
  int link_timeout_ms = 4000;         // a router link silent this long is down (heartbeat every quarter)
  int redial_max_ms = 1000;           // cap of the link redial backoff (first retry after 50 ms)
  int outage_deadline_s = 900;        // a relay suspended this long is reset
  size_t replay_window = 1u << 20;    // per relay direction, bytes kept until acknowledged
  size_t replay_memory = 256u << 20;  // all replay rings together, beyond kRingMin each
  std::string spill_dir;              // empty: "spill" beside the status socket
  uint64_t spill_quota = 1ull << 30;  // all spill files together

  // Security (docs/security.md, docs/protocol.md section 11). With a secret, router links run the Noise handshake,
  // legs 1 and router-to-router datagrams are sealed, and plaintext first messages on the WAN are refused. Without
  // one (`uvpn router --insecure-plaintext`, test drivers) the WAN speaks plaintext as in protocol version 1.
  std::optional<routes::Secret> secret;
  int max_unidentified_per_source = 64;  // connections without a complete first message, per source address
  int leg_pool = 2;  // legs 1 per link dialled ahead of need (docs/performance.md "Leg pool"); 0: off
};

// Runs the router until SIGTERM/SIGINT. Returns the process exit code (0 on a clean stop); start-up errors are
// logged and returned as non-zero. Blocks the calling thread; installs its own signal handling (signalfd).
int Run(const Options& options);

}  // namespace uvpn::router
