// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for the node side of docs/security.md: the preload library
// MACs what it sends with keys derived from the session secret and cannot link a crypto library (libc only).
// Theory of operation: Sha256 buffers input into 64-byte blocks and runs the compression function per full block;
// Final pads (0x80, zeros, 64-bit big-endian bit length) and writes the digest. HmacSha256 keeps two Sha256
// states, inner (key ^ ipad absorbed) and outer (key ^ opad absorbed); a key longer than the block is hashed
// first. Both offer one-shot (Hash / Mac) and incremental (Init, Update..., Final) use, with identical results
// for any split of the input.
//
// Freestanding: no allocation, no exceptions, no libstdc++ runtime, libc only for memcpy/memset; the objects are
// plain values (copyable, e.g. to reuse a keyed HmacSha256 for several messages). Not thread-safe per object;
// async-signal-safe. Lengths are in bytes; at most 2^61 - 1 bytes per message (the bit length is 64 bits).
// Not hardened against side channels beyond this: SHA-256 itself has no secret-dependent branches or table
// indexes, and TagsEqual takes the same time wherever the tags differ.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uvpn::proto {

inline constexpr size_t kSha256Size = 32;       // digest bytes
inline constexpr size_t kSha256BlockSize = 64;  // block bytes
inline constexpr size_t kHmacSha256Size = kSha256Size;

class Sha256 {
 public:
  Sha256() { Init(); }
  // Starts a new message (the constructor already did).
  void Init();
  // Absorbs `len` bytes (`data` may be null when len == 0).
  void Update(const uint8_t* data, size_t len);
  // Writes the digest of everything absorbed since Init to `out`, then re-initializes the object.
  void Final(uint8_t out[kSha256Size]);
  // One-shot digest.
  static void Hash(const uint8_t* data, size_t len, uint8_t out[kSha256Size]);

 private:
  void Block(const uint8_t* block);

  uint32_t h_[8];
  uint64_t total_;               // bytes absorbed
  uint8_t buf_[kSha256BlockSize];  // partial block, buf_len_ bytes
  size_t buf_len_;
};

class HmacSha256 {
 public:
  // Unkeyed until Init (Final on it yields HMAC with the empty key).
  HmacSha256() { Init(nullptr, 0); }
  HmacSha256(const uint8_t* key, size_t key_len) { Init(key, key_len); }
  // Starts a new MAC under `key` (any length; longer than 64 bytes is hashed first, as RFC 2104 says).
  void Init(const uint8_t* key, size_t key_len);
  void Update(const uint8_t* data, size_t len);
  // Writes the tag to `out`, then resets to the same key (ready for the next message).
  void Final(uint8_t out[kHmacSha256Size]);
  // One-shot MAC.
  static void Mac(const uint8_t* key, size_t key_len, const uint8_t* data, size_t len,
                  uint8_t out[kHmacSha256Size]);

 private:
  Sha256 inner_;      // running: key ^ ipad, then the message
  Sha256 inner_key_;  // key ^ ipad absorbed (to reset after Final)
  Sha256 outer_key_;  // key ^ opad absorbed
};

// Compares two tags (or any secrets) of `len` bytes in time that depends only on `len`. True if equal.
bool TagsEqual(const uint8_t* a, const uint8_t* b, size_t len);

// Best-effort wipe of secret material (a memset the compiler may not remove).
void Wipe(void* p, size_t len);

}  // namespace uvpn::proto
