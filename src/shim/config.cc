// Parser of UVPN_SHIM_CONFIG; see config.h for the once-without-waiting scheme and docs/shim.md for the
// format.
#include "shim/config.h"

#include "proto/auth.h"

#include <atomic>
#include <cstdlib>

#include "shim/slog.h"

namespace uvpn::shim {
namespace {

// 0 unparsed, 1 being published by one thread, 2 ready.
std::atomic<int> g_state{0};
Config g_config;

bool ParseU32(const char*& p, const char* end, uint32_t max, uint32_t* out) {
  if (p == end || *p < '0' || *p > '9') return false;
  uint64_t v = 0;
  while (p != end && *p >= '0' && *p <= '9') {
    v = v * 10 + static_cast<uint64_t>(*p - '0');
    if (v > max) return false;
    ++p;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

bool ParseIp(const char*& p, const char* end, uint32_t* out) {
  uint32_t ip = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return false;
      ++p;
    }
    uint32_t octet;
    if (!ParseU32(p, end, 255, &octet)) return false;
    ip = (ip << 8) | octet;
  }
  *out = ip;
  return true;
}

bool KeyIs(const char* tok, const char* eq, const char* key) {
  const char* k = key;
  for (const char* t = tok; t != eq; ++t, ++k)
    if (*k == '\0' || *k != *t) return false;
  return *k == '\0';
}

// Parses one "key=value" token [tok, end). Returns false on anything unknown or malformed.
bool ParseToken(const char* tok, const char* end, Config* c, unsigned* seen) {
  const char* eq = tok;
  while (eq != end && *eq != '=') ++eq;
  if (eq == end) return false;
  const char* p = eq + 1;
  bool ok = false;
  if (KeyIs(tok, eq, "net")) {
    uint32_t prefix;
    ok = ParseIp(p, end, &c->net) && p != end && *p++ == '/' && ParseU32(p, end, 32, &prefix);
    if (ok) {
      c->net_mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
      ok = (c->net & ~c->net_mask) == 0;
      *seen |= 1;
    }
  } else if (KeyIs(tok, eq, "router")) {
    uint32_t port;
    ok = ParseIp(p, end, &c->router.ip) && p != end && *p++ == ':' && ParseU32(p, end, 65535, &port) &&
         port != 0;
    if (ok) c->router.port = static_cast<uint16_t>(port), *seen |= 2;
  } else if (KeyIs(tok, eq, "vip")) {
    ok = ParseIp(p, end, &c->vip);
    *seen |= 4;
  } else if (KeyIs(tok, eq, "real")) {
    ok = ParseIp(p, end, &c->real);
    *seen |= 8;
  } else if (KeyIs(tok, eq, "name")) {
    // Host name: 1..63 bytes of [A-Za-z0-9._-] (the REGISTER_OK rule, docs/protocol.md section 4).
    size_t n = static_cast<size_t>(end - p);
    ok = n >= 1 && n <= sizeof c->name;
    for (const char* q = p; ok && q != end; ++q)
      ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '.' ||
           *q == '-' || *q == '_';
    if (ok) {
      for (size_t i = 0; i < n; ++i) c->name[i] = p[i];
      c->name_len = static_cast<uint8_t>(n);
      p = end;
    }
  } else if (KeyIs(tok, eq, "key")) {
    ok = proto::KeyFromHex(p, static_cast<size_t>(end - p), c->key);
    if (ok) c->has_key = true, p = end;
  } else if (KeyIs(tok, eq, "timeout_ms")) {
    uint32_t t;
    ok = ParseU32(p, end, 600000, &t) && t > 0;
    if (ok) c->timeout_ms = static_cast<int>(t);
  }
  return ok && p == end;
}

LogLevel ParseLevel(const char* s) {
  if (s == nullptr) return LogLevel::kWarn;
  auto eq = [s](const char* w) {
    const char* a = s;
    while (*a && *w && *a == *w) ++a, ++w;
    return *a == '\0' && *w == '\0';
  };
  if (eq("debug")) return LogLevel::kDebug;
  if (eq("info")) return LogLevel::kInfo;
  if (eq("error")) return LogLevel::kError;
  return LogLevel::kWarn;
}

}  // namespace

bool ParseConfig(const char* text, Config* cfg) {
  Config c;
  c.level = cfg->level;
  *cfg = c;
  if (text == nullptr) return false;
  const char* p = text;
  unsigned seen = 0;
  bool first = true;
  while (true) {
    while (*p == ' ' || *p == '\t') ++p;
    if (*p == '\0') break;
    const char* tok = p;
    while (*p != '\0' && *p != ' ' && *p != '\t') ++p;
    if (first) {
      if (p - tok != 2 || tok[0] != 'v' || tok[1] != '1') return false;
      first = false;
      continue;
    }
    if (!ParseToken(tok, p, &c, &seen)) return false;
  }
  if (first || seen != 15 || c.vip == 0 || c.router.ip == 0) return false;
  c.valid = true;
  *cfg = c;
  return true;
}

Config GetConfig() {
  if (g_state.load(std::memory_order_acquire) == 2) return g_config;
  Config local;
  local.level = ParseLevel(getenv("UVPN_SHIM_LOG"));
  const char* text = getenv("UVPN_SHIM_CONFIG");
  bool ok = ParseConfig(text, &local);
  int expected = 0;
  if (g_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    g_config = local;
    g_state.store(2, std::memory_order_release);
    if (!ok && text != nullptr)
      Log(LogLevel::kWarn, "UVPN_SHIM_CONFIG malformed, interposition disabled");
    else if (ok)
      Log(LogLevel::kDebug, "configured");
    return g_config;
  }
  return local;
}

}  // namespace uvpn::shim
