// AEAD records (docs/protocol.md section 11): one key and a 64-bit message counter per direction, nonces of 4 zero
// bytes and the little-endian counter (the Noise convention), ChaCha20-Poly1305 (IETF) or AES-256-GCM.
//
// Theory of operation: a Cipher seals or opens one message at a time with the next counter value; the caller
// frames messages (records: a 2-byte length then the ciphertext, the length as associated data). A failed Open
// does not advance the counter, but callers treat it as fatal for the connection anyway (the stream is lost).
// Open may work in place (out == in). Thread-compatible; no allocation. Requires crypto::Init() first.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uvpn::crypto {

inline constexpr size_t kKeySize = 32;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kRecordHeader = 2;         // big-endian length of the ciphertext
inline constexpr size_t kMaxRecordPlain = 16384;   // record plaintext limit
inline constexpr size_t kMaxRecord = kRecordHeader + kMaxRecordPlain + kTagSize;

// Cipher identifiers as negotiated in the link handshake (bit values of the offer byte).
enum class Suite : uint8_t { kChaCha20Poly1305 = 1, kAes256Gcm = 2 };

// libsodium initialisation and the ciphers this CPU can run (AES-256-GCM needs AES-NI and PCLMUL). Returns false
// if libsodium cannot initialise (no entropy source): the router must not start.
bool Init();
uint8_t SupportedSuites();  // bit set of Suite values

class Cipher {
 public:
  Cipher() = default;
  void SetKey(Suite s, const uint8_t key[kKeySize], uint64_t first_counter = 0);
  void Clear();  // wipes the key
  bool valid() const { return valid_; }
  uint64_t counter() const { return n_; }
  Suite suite() const { return suite_; }

  // out gets n + kTagSize bytes (ciphertext then tag). `out` must not overlap `in` (unless equal).
  void Seal(const uint8_t* ad, size_t ad_len, const uint8_t* in, size_t n, uint8_t* out);
  // in: n >= kTagSize bytes; out gets n - kTagSize bytes. False if the tag does not verify (nothing advanced; with
  // AES-256-GCM libsodium then zeroes `out`, so a failed in-place Open destroys the record -- callers drop it).
  bool Open(const uint8_t* ad, size_t ad_len, const uint8_t* in, size_t n, uint8_t* out);
  // One-shot with an explicit counter (datagrams: the counter travels in the packet).
  void SealAt(uint64_t counter, const uint8_t* ad, size_t ad_len, const uint8_t* in, size_t n, uint8_t* out) const;
  bool OpenAt(uint64_t counter, const uint8_t* ad, size_t ad_len, const uint8_t* in, size_t n, uint8_t* out) const;

 private:
  uint8_t key_[kKeySize] = {};
  uint64_t n_ = 0;
  Suite suite_ = Suite::kChaCha20Poly1305;
  bool valid_ = false;
};

// Seals `n` <= kMaxRecordPlain bytes as one record (header + ciphertext + tag) at `out`; returns its size.
size_t SealRecord(Cipher& c, const uint8_t* in, size_t n, uint8_t* out);
// Record framing on input: the ciphertext length declared by a complete 2-byte header, or 0 if it is outside
// [kTagSize, kMaxRecordPlain + kTagSize] (a protocol violation).
size_t RecordCipherLen(const uint8_t hdr[kRecordHeader]);

// Sliding replay window over 64-bit counters (leg numbers, datagram counters): the highest seen and a bitmap of
// the kBits below it.
template <size_t kBits>
class ReplayWindow {
 public:
  // True (and records it) if `n` was not seen and is not older than the window; 0 is never accepted.
  bool Check(uint64_t n) {
    if (n == 0) return false;
    if (n > top_) {
      uint64_t shift = n - top_;
      if (shift >= kBits) {
        for (auto& w : bits_) w = 0;
      } else {
        for (uint64_t i = 0; i < shift; ++i) Clear(top_ + 1 + i);
      }
      top_ = n;
      Set(n);
      return true;
    }
    if (top_ - n >= kBits) return false;
    if (Get(n)) return false;
    Set(n);
    return true;
  }
  void Reset() {
    top_ = 0;
    for (auto& w : bits_) w = 0;
  }

 private:
  static_assert(kBits % 64 == 0);
  uint64_t bits_[kBits / 64] = {};
  uint64_t top_ = 0;
  void Set(uint64_t n) { bits_[(n / 64) % (kBits / 64)] |= 1ull << (n % 64); }
  void Clear(uint64_t n) { bits_[(n / 64) % (kBits / 64)] &= ~(1ull << (n % 64)); }
  bool Get(uint64_t n) const { return bits_[(n / 64) % (kBits / 64)] & (1ull << (n % 64)); }
};

}  // namespace uvpn::crypto
