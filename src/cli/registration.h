// Client side of node registration (docs/protocol.md section 4): one TCP connection to the home router that stays
// open for the lease. Blocking I/O with timeouts; used only by `uvpn run`'s supervising process.
#pragma once

#include <string>

#include "common/addr.h"
#include "common/result.h"
#include "proto/wire.h"
#include "sysio/fd.h"

namespace uvpn::cli {

struct Lease {
  sysio::Fd conn;  // the registration connection; closing it ends the lease
  Ip4 vip = 0;
  Ip4 real_ip = 0;
  Cidr network;
  int heartbeat_s = 5;
  std::string name;
  bool keyed = false;    // authenticated registration: `key` is the lease key (proto/auth.h)
  uint8_t key[32] = {};
};

// Connects to `router`, sends REGISTER and waits for the answer (at most timeout_ms in all).
// REGISTER_ERR becomes an error Status carrying the router's text. With a node key `nk` (docs/security.md) the
// REGISTER is signed and the REGISTER_OK must be too; the lease key is then derived into Lease::key.
Result<Lease> Register(const Endpoint& router, Ip4 want_vip, const std::string& name, int timeout_ms,
                       const uint8_t* nk = nullptr);

// Sends one HEARTBEAT. Non-blocking-safe: a full socket buffer is not an error.
Status SendHeartbeat(const Lease& lease, uint32_t seq);

// Reads whatever the router sent (heartbeat answers); returns an error when the connection closed or failed.
Status DrainRouter(const Lease& lease);

}  // namespace uvpn::cli
