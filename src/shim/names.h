// Overlay host names for the preload library (docs/shim.md "Host names", docs/protocol.md section 8): which
// names and addresses belong to the overlay, and what they resolve to, asked of the home router (RESOLVE /
// RESOLVE_ADDR) and cached briefly. The resolver hooks (name_hooks.cc) are built on these two calls.
//
// Thread-safe, lock-free, no allocation; safe after fork. Each call preserves errno.
#pragma once

#include <cstddef>
#include <cstdint>

#include "shim/config.h"

namespace uvpn::shim {

struct NodeName {
  uint32_t vip = 0;    // host byte order
  uint8_t len = 0;     // 1..63
  char name[64] = {};  // NUL-terminated, as registered (what gethostname() returns on that node)
};

// True if `name` is an overlay node's name: a valid host name (one trailing '.' ignored), not numeric, not
// localhost, and known to the router (or this node's own configured name). Sets *out. False otherwise, also
// when the router does not answer (the caller then falls through to the system resolver). Requires cfg.valid.
bool ResolveName(const Config& cfg, const char* name, NodeName* out);

// Reverse lookup of `vip` (host order). kFound sets *out. kNoNode: the address lies in the session network
// but the router says no node holds it, or does not answer -- the overlay is the only authority for its own
// addresses (the site's DNS cannot know them), so the caller answers "not found" without asking DNS.
// kNotOurs: outside the session network.
enum class AddrResult : uint8_t { kNotOurs, kFound, kNoNode };
AddrResult ResolveAddr(const Config& cfg, uint32_t vip, NodeName* out);

// This node's own name (from the configuration) into *out; false if the configuration carries none.
bool SelfName(const Config& cfg, NodeName* out);

}  // namespace uvpn::shim
