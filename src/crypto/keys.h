// Key derivation from the session secret and a link session's exporter (docs/protocol.md section 11). Pure
// functions of their inputs, keyed BLAKE2b; outputs are 32-byte keys. Requires crypto::Init() first.
#pragma once

#include <cstdint>
#include <string_view>

#include "crypto/aead.h"
#include "crypto/noise.h"

namespace uvpn::crypto {

// psk = B(S, "uvpn link psk" 0 a 0 b, 32) with a < b: the same key whichever of the two sites computes it.
void LinkPsk(const uint8_t secret[32], std::string_view site1, std::string_view site2, uint8_t psk[kPskLen]);

// Keys of leg `n` dialled by the link's initiator (r = 0) or responder (r = 1): dialer -> acceptor (kd) and
// acceptor -> dialer (ka).
void LegKeys(const uint8_t exporter[kExporterLen], uint8_t r, uint64_t n, uint8_t kd[kKeySize], uint8_t ka[kKeySize]);

// The datagram key of the link's initiator (r = 0) or responder (r = 1).
void UdpKey(const uint8_t exporter[kExporterLen], uint8_t r, uint8_t key[kKeySize]);

}  // namespace uvpn::crypto
