// Logging to stderr: one line per call, "2026-11-24T01:02:03.456Z uvpn[pid] LEVEL component: message".
// Thread-safe (one write(2) per line). Not async-signal-safe.
#pragma once

#include <cstdarg>

namespace uvpn::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLevel(Level level);
Level GetLevel();
// Parses "debug|info|warn|error"; returns false on anything else.
bool ParseLevel(const char* text, Level* out);
void SetTag(const char* tag);  // e.g. "router alpha"; copied

void Write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace uvpn::log

#define UVPN_LOG(level, ...)                                                          \
  do {                                                                                \
    if (static_cast<int>(level) >= static_cast<int>(::uvpn::log::GetLevel()))         \
      ::uvpn::log::Write(level, __VA_ARGS__);                                         \
  } while (0)
#define LOG_DEBUG(...) UVPN_LOG(::uvpn::log::Level::kDebug, __VA_ARGS__)
#define LOG_INFO(...) UVPN_LOG(::uvpn::log::Level::kInfo, __VA_ARGS__)
#define LOG_WARN(...) UVPN_LOG(::uvpn::log::Level::kWarn, __VA_ARGS__)
#define LOG_ERROR(...) UVPN_LOG(::uvpn::log::Level::kError, __VA_ARGS__)
