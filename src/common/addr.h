// IPv4 addresses, endpoints and CIDR blocks in host byte order, with parsers that return errors as values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace uvpn {

// IPv4 address, host byte order (0x0A5B0101 is 10.91.1.1).
using Ip4 = uint32_t;

struct Endpoint {
  Ip4 ip = 0;
  uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

struct Cidr {
  Ip4 base = 0;     // host bits zero
  uint8_t prefix = 0;  // 0..32
  Ip4 mask() const { return prefix == 0 ? 0 : ~Ip4{0} << (32 - prefix); }
  bool contains(Ip4 ip) const { return (ip & mask()) == base; }
  bool contains(const Cidr& o) const { return o.prefix >= prefix && contains(o.base); }
  bool overlaps(const Cidr& o) const { return contains(o.base) || o.contains(base); }
  Ip4 first() const { return base; }
  Ip4 last() const { return base | ~mask(); }
  bool operator==(const Cidr&) const = default;
};

// "10.91.1.1" -> Ip4. Rejects leading zeros beyond "0", out-of-range octets, trailing bytes.
Result<Ip4> ParseIp4(std::string_view text);
// "10.91.1.1:7700" -> Endpoint; port 1..65535.
Result<Endpoint> ParseEndpoint(std::string_view text);
// "100.97.0.0/16"; host bits must be zero; prefix in [min_prefix, max_prefix].
Result<Cidr> ParseCidr(std::string_view text, int min_prefix = 0, int max_prefix = 32);

std::string FormatIp4(Ip4 ip);
std::string FormatEndpoint(const Endpoint& ep);
std::string FormatCidr(const Cidr& c);

}  // namespace uvpn
