// Logging for the preload library: one write(2) to fd 2 per line, formatted into a stack buffer, no stdio, no
// allocation, no locks, so it is safe in any thread, after fork, and from signal handlers.
// Line format: "uvpn-shim[PID] LEVEL: text". The threshold is UVPN_SHIM_LOG (default warn).
#pragma once

#include <cstddef>
#include <cstdint>

#include "shim/config.h"

namespace uvpn::shim {

// True if a line at `level` would be written.
bool LogOn(LogLevel level);

// Builds one line; silently truncates at 200 bytes.
class Line {
 public:
  explicit Line(LogLevel level);
  Line& S(const char* s);
  Line& U(uint64_t v);
  Line& I(int64_t v);
  Line& Ip(uint32_t ip);
  Line& E(const Ep& ep);  // "a.b.c.d:port"
  void Emit();            // writes if the level is on

 private:
  char buf_[224];
  size_t n_ = 0;
  LogLevel level_;
};

void Log(LogLevel level, const char* text);

}  // namespace uvpn::shim
