// Client side of leg 0; see client.h for the contract.
#include "proto/client.h"

#include "proto/auth.h"

#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace uvpn::proto {

size_t EncodeClientHeader(uint32_t vip, uint16_t local_port, uint32_t dst_vip, uint16_t dst_port, bool nonblocking,
                          const uint8_t* key, uint8_t* out) {
  ConnHeader h;
  h.flags = nonblocking ? 0 : kFlagWantStatus;
  h.src_vip = vip;
  h.src_port = local_port;
  h.dst_vip = dst_vip;
  h.dst_port = dst_port;
  h.hop = Hop::kNodeToHome;
  if (key != nullptr) return EncodeSignedHeader(h, key, out);
  return Encode(h, out, kConnHeaderSize);
}

Parse DecodeHopTwo(const uint8_t* buf, size_t len, const uint8_t* key, ConnHeader* h, size_t* used) {
  Parse p = Decode(buf, len, h, used);
  if (p != Parse::kOk) return p;
  if (h->hop != Hop::kRouterToDest) return Parse::kBad;
  if (key == nullptr) return Parse::kOk;
  if (!(h->flags & kFlagAuth) || !CheckHeaderTag(key, buf) || !Fresh(RealtimeMs(), h->ts_ms, kHeaderWindowMs))
    return Parse::kBad;
  return Parse::kOk;
}

int HomeRouterErrno(int err) {
  switch (err) {
    case ECONNREFUSED:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ETIMEDOUT:
    case ENETDOWN:
    case EHOSTDOWN:
      return ENETUNREACH;
    default:
      return err;
  }
}

bool SockaddrToV4(const sockaddr* sa, socklen_t len, uint32_t* ip, uint16_t* port, bool* v6) {
  if (sa == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t))) return false;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in;
    memcpy(&in, sa, sizeof in);
    *ip = ntohl(in.sin_addr.s_addr);
    *port = ntohs(in.sin_port);
    *v6 = false;
    return true;
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6;
    memcpy(&in6, sa, sizeof in6);
    const uint8_t* b = in6.sin6_addr.s6_addr;
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(b, kMapped, sizeof kMapped) != 0) return false;
    *ip = static_cast<uint32_t>(b[12]) << 24 | static_cast<uint32_t>(b[13]) << 16 |
          static_cast<uint32_t>(b[14]) << 8 | b[15];
    *port = ntohs(in6.sin6_port);
    *v6 = true;
    return true;
  }
  return false;
}

socklen_t V4ToSockaddr(uint32_t ip, uint16_t port, bool v6, sockaddr_storage* out) {
  memset(out, 0, sizeof *out);
  if (!v6) {
    auto* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(ip);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  uint8_t* b = in6->sin6_addr.s6_addr;
  b[10] = b[11] = 0xff;
  b[12] = static_cast<uint8_t>(ip >> 24);
  b[13] = static_cast<uint8_t>(ip >> 16);
  b[14] = static_cast<uint8_t>(ip >> 8);
  b[15] = static_cast<uint8_t>(ip);
  return sizeof(sockaddr_in6);
}

}  // namespace uvpn::proto
