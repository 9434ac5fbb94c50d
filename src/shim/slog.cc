// See slog.h.
#include "shim/slog.h"

#include <unistd.h>

#include <cerrno>

namespace uvpn::shim {

bool LogOn(LogLevel level) {
  return static_cast<int>(level) >= static_cast<int>(GetConfig().level);
}

Line::Line(LogLevel level) : level_(level) {
  static const char* const kNames[] = {"debug", "info", "warn", "error"};
  S("uvpn-shim[").U(static_cast<uint64_t>(getpid())).S("] ").S(kNames[static_cast<int>(level)]).S(": ");
}

Line& Line::S(const char* s) {
  while (*s != '\0' && n_ < 200) buf_[n_++] = *s++;
  return *this;
}

Line& Line::U(uint64_t v) {
  char tmp[24];
  int k = 0;
  do {
    tmp[k++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (k > 0 && n_ < 200) buf_[n_++] = tmp[--k];
  return *this;
}

Line& Line::I(int64_t v) {
  if (v < 0) {
    S("-");
    return U(static_cast<uint64_t>(-(v + 1)) + 1);
  }
  return U(static_cast<uint64_t>(v));
}

Line& Line::Ip(uint32_t ip) {
  return U(ip >> 24).S(".").U((ip >> 16) & 255).S(".").U((ip >> 8) & 255).S(".").U(ip & 255);
}

Line& Line::E(const Ep& ep) {
  return Ip(ep.ip).S(":").U(ep.port);
}

void Line::Emit() {
  if (!LogOn(level_)) return;
  int saved = errno;
  buf_[n_++] = '\n';
  ssize_t r = write(2, buf_, n_);
  (void)r;
  errno = saved;
}

void Log(LogLevel level, const char* text) {
  Line(level).S(text).Emit();
}

}  // namespace uvpn::shim
