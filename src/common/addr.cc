#include "common/addr.h"

#include <cstdio>

namespace uvpn {

Result<Ip4> ParseIp4(std::string_view text) {
  Ip4 ip = 0;
  size_t i = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (i >= text.size() || text[i] != '.') return Status::Invalid("bad IPv4 address '" + std::string(text) + "'");
      ++i;
    }
    size_t start = i;
    unsigned v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 3) {
      v = v * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
    }
    size_t len = i - start;
    if (len == 0 || v > 255 || (len > 1 && text[start] == '0'))
      return Status::Invalid("bad IPv4 address '" + std::string(text) + "'");
    ip = (ip << 8) | v;
  }
  if (i != text.size()) return Status::Invalid("bad IPv4 address '" + std::string(text) + "'");
  return ip;
}

Result<Endpoint> ParseEndpoint(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return Status::Invalid("bad address '" + std::string(text) + "': expected IPv4:port");
  auto ip = ParseIp4(text.substr(0, colon));
  if (!ip) return ip.error();
  std::string_view p = text.substr(colon + 1);
  unsigned port = 0;
  if (p.empty() || p.size() > 5) return Status::Invalid("bad port in '" + std::string(text) + "'");
  for (char c : p) {
    if (c < '0' || c > '9') return Status::Invalid("bad port in '" + std::string(text) + "'");
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port == 0 || port > 65535) return Status::Invalid("port out of range in '" + std::string(text) + "'");
  return Endpoint{*ip, static_cast<uint16_t>(port)};
}

Result<Cidr> ParseCidr(std::string_view text, int min_prefix, int max_prefix) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return Status::Invalid("bad network '" + std::string(text) + "': expected A.B.C.D/P");
  auto ip = ParseIp4(text.substr(0, slash));
  if (!ip) return ip.error();
  std::string_view p = text.substr(slash + 1);
  int prefix = 0;
  if (p.empty() || p.size() > 2) return Status::Invalid("bad prefix in '" + std::string(text) + "'");
  for (char c : p) {
    if (c < '0' || c > '9') return Status::Invalid("bad prefix in '" + std::string(text) + "'");
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix < min_prefix || prefix > max_prefix)
    return Status::Invalid("prefix /" + std::to_string(prefix) + " out of range [" + std::to_string(min_prefix) + ", " +
                           std::to_string(max_prefix) + "] in '" + std::string(text) + "'");
  Cidr c{*ip, static_cast<uint8_t>(prefix)};
  if ((c.base & ~c.mask()) != 0) return Status::Invalid("host bits set in '" + std::string(text) + "'");
  return c;
}

std::string FormatIp4(Ip4 ip) {
  char b[16];
  snprintf(b, sizeof b, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
  return b;
}
std::string FormatEndpoint(const Endpoint& ep) { return FormatIp4(ep.ip) + ":" + std::to_string(ep.port); }
std::string FormatCidr(const Cidr& c) { return FormatIp4(c.base) + "/" + std::to_string(c.prefix); }

}  // namespace uvpn
