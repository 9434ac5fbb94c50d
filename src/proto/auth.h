// Node-side authentication (docs/security.md "Node side", docs/protocol.md section 12): keys derived from the
// session secret with HMAC-SHA256, and the trailers of REGISTER, REGISTER_OK and CONN_HEADER (hops 0 and 2).
//
// Theory of operation: `uvpn run` holds the node key nk = HMAC(S, "uvpn node key"); REGISTER carries a timestamp,
// a random nonce and HMAC(nk, message without its mac). The router answers REGISTER_OK with
// HMAC(nk, REGISTER nonce || message without its mac), binding the answer to the request. Both sides then know the
// lease key lk = HMAC(nk, "uvpn lease" || vip || real), which the shim and the ptrace monitor get in their
// configuration line (never the secret); it is the same for every registration of the lease and survives a
// re-registration, so running programs keep their key. Every CONN_HEADER a node sends (hop 0) and every one a router sends to
// a node (hop 2) carries a timestamp, a nonce and a 16-byte tag: HMAC(lk, the 48 bytes before it) truncated.
// Receivers check the tag in constant time and the timestamp against their clock (kHeaderWindowMs); routers also
// refuse a (timestamp, nonce) seen before (their replay caches).
//
// Freestanding like wire.h (the preload library links it): no allocation, libc for the clock and getpid only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "proto/wire.h"

namespace uvpn::proto {

inline constexpr size_t kAuthKeySize = 32;
inline constexpr int64_t kHeaderWindowMs = 30000;    // CONN_HEADER timestamps: |receiver clock - ts| limit
inline constexpr int64_t kRegisterWindowMs = 60000;  // REGISTER timestamps

void DeriveNodeKey(const uint8_t secret[32], uint8_t nk[kAuthKeySize]);
void DeriveLeaseKey(const uint8_t nk[kAuthKeySize], uint32_t vip, uint32_t real, uint8_t lk[kAuthKeySize]);

// Wall clock in ms since the epoch; a process-unique 64-bit nonce (pid in the top 24 bits, a counter below).
int64_t RealtimeMs();
uint64_t NextNonce();

// CONN_HEADER with kFlagAuth, encoded (kConnHeaderAuthSize bytes): writes / checks the tag at bytes 48..63.
void SignHeader(const uint8_t lk[kAuthKeySize], uint8_t msg[kConnHeaderAuthSize]);
bool CheckHeaderTag(const uint8_t lk[kAuthKeySize], const uint8_t msg[kConnHeaderAuthSize]);
// Encodes `h` with kFlagAuth, the current time and a fresh nonce, signed with `lk`; returns kConnHeaderAuthSize.
size_t EncodeSignedHeader(ConnHeader h, const uint8_t lk[kAuthKeySize], uint8_t out[kConnHeaderAuthSize]);
// True if |now_ms - ts_ms| <= window_ms.
bool Fresh(int64_t now_ms, uint64_t ts_ms, int64_t window_ms);

// UDP_DATA hop 0 with kFlagAuth: the 24-byte trailer after the payload, ts u64 and the first 16 bytes of
// HMAC(lk, header || ts). The payload is not covered: forging needs lk, and replaying a captured datagram a capture
// on the private network (root); the timestamp bounds that to kHeaderWindowMs.
void SignUdp(const uint8_t lk[kAuthKeySize], const uint8_t hdr[kUdpHeaderSize], uint8_t trailer[kUdpAuthTrailer]);
bool CheckUdp(const uint8_t lk[kAuthKeySize], const uint8_t hdr[kUdpHeaderSize], const uint8_t trailer[kUdpAuthTrailer],
              int64_t now_ms);
// The same trailer over any `n` covered bytes (LOOKUP: its 20 bytes).
void SignTrailer(const uint8_t lk[kAuthKeySize], const uint8_t* covered, size_t n, uint8_t trailer[kUdpAuthTrailer]);
bool CheckTrailer(const uint8_t lk[kAuthKeySize], const uint8_t* covered, size_t n,
                  const uint8_t trailer[kUdpAuthTrailer], int64_t now_ms);

// REGISTER (encoded, `total` bytes, kFlagAuth): the mac in the last 32 bytes.
void SignRegister(const uint8_t nk[kAuthKeySize], uint8_t* msg, size_t total);
bool CheckRegister(const uint8_t nk[kAuthKeySize], const uint8_t* msg, size_t total);
// REGISTER_OK (encoded, kFlagAuth), bound to the REGISTER's nonce.
void SignRegisterOk(const uint8_t nk[kAuthKeySize], const uint8_t reg_nonce[16], uint8_t* msg, size_t total);
bool CheckRegisterOk(const uint8_t nk[kAuthKeySize], const uint8_t reg_nonce[16], const uint8_t* msg, size_t total);

// Hex of a key (64 digits) for configuration lines, and back (false unless exactly 64 hex digits).
void KeyToHex(const uint8_t key[kAuthKeySize], char out[2 * kAuthKeySize]);
bool KeyFromHex(const char* s, size_t len, uint8_t key[kAuthKeySize]);

}  // namespace uvpn::proto
