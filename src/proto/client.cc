// Client side of leg 0; see client.h for the contract.
#include "proto/client.h"

#include <cerrno>

namespace uvpn::proto {

size_t EncodeClientHeader(uint32_t vip, uint16_t local_port, uint32_t dst_vip, uint16_t dst_port, bool nonblocking,
                          uint8_t* out) {
  ConnHeader h;
  h.flags = nonblocking ? 0 : kFlagWantStatus;
  h.src_vip = vip;
  h.src_port = local_port;
  h.dst_vip = dst_vip;
  h.dst_port = dst_port;
  h.hop = Hop::kNodeToHome;
  return Encode(h, out, kConnHeaderSize);
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

}  // namespace uvpn::proto
