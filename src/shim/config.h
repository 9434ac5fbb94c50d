// Shim configuration: one line in UVPN_SHIM_CONFIG, prepared by `uvpn run` (docs/shim.md), plus
// UVPN_SHIM_LOG.
//
// Theory of operation: the variable is parsed on the first hook call. There is no lock and nobody waits: a
// thread that finds the configuration unpublished parses a private copy (pure function of the environment),
// uses it, and tries to publish it with a compare-and-swap on a state word; the winner copies it into static
// storage and marks it ready. So a child forked while another thread was parsing cannot hang, and nothing
// allocates.
#pragma once

#include <cstdint>

namespace uvpn::shim {

// Endpoint in host byte order (the shim keeps its own tiny type: it must not pull in libstdc++ headers).
struct Ep {
  uint32_t ip = 0;
  uint16_t port = 0;
};
inline bool operator==(const Ep& a, const Ep& b) {
  return a.ip == b.ip && a.port == b.port;
}
inline uint64_t PackEp(const Ep& e) {
  return (static_cast<uint64_t>(e.ip) << 16) | e.port;
}
inline Ep UnpackEp(uint64_t v) {
  return Ep{static_cast<uint32_t>(v >> 16), static_cast<uint16_t>(v & 0xffff)};
}

enum class LogLevel : uint8_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Config {
  bool valid = false;  // false: every hook is a pass-through
  uint32_t net = 0;
  uint32_t net_mask = 0;
  Ep router;
  uint32_t vip = 0;
  uint32_t real = 0;
  int timeout_ms = 20000;
  LogLevel level = LogLevel::kWarn;
  // Optional `name=`: the node's overlay host name (not NUL-terminated; name_len 0 = none). See names.cc.
  uint8_t name_len = 0;
  char name[63] = {};
  // Optional `key=` (64 hex digits): the lease key; headers are then signed and checked (docs/security.md).
  bool has_key = false;
  uint8_t key[32] = {};
  const uint8_t* Key() const { return has_key ? key : nullptr; }
  bool InNet(uint32_t ip) const { return valid && (ip & net_mask) == net; }
};

// Parses `text` (may be null). Pure; exposed for tests. Returns false (and cfg->valid = false) if malformed.
bool ParseConfig(const char* text, Config* cfg);

// The process's configuration (parsed once, see above), by value (about 100 bytes). Thread-safe; no
// allocation.
Config GetConfig();

}  // namespace uvpn::shim
