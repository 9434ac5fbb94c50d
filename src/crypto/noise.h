// The router-link handshake: Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b (Noise Protocol Framework, revision 34),
// `-> psk, e` / `<- e, ee`, with one-byte payloads (docs/protocol.md section 11).
//
// Theory of operation: a Handshake follows the spec's HandshakeState literally (h, ck, k, n; MixHash, MixKey,
// MixKeyAndHash, EncryptAndHash, DecryptAndHash, Split) with BLAKE2b (HASHLEN 64) and HKDF over HMAC-BLAKE2b. The
// initiator calls WriteFirst then ReadSecond, the responder ReadFirst then WriteSecond; after the second message
// both call Finish. The ephemeral private key and every intermediate secret are wiped when the object dies.
// Not thread-safe; no allocation. Requires crypto::Init() first.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crypto/aead.h"

namespace uvpn::crypto {

inline constexpr size_t kHashLen = 64;
inline constexpr size_t kDhLen = 32;
inline constexpr size_t kPskLen = 32;
inline constexpr size_t kExporterLen = 64;
// A handshake message body: e (32) + one encrypted payload byte + tag.
inline constexpr size_t kHandshakeBody = kDhLen + 1 + kTagSize;

// What a completed handshake yields (docs/protocol.md section 11).
struct LinkSession {
  Cipher tx, rx;                     // ChaCha20-Poly1305 transport ciphers (c1/c2 by role)
  uint8_t exporter[kExporterLen];    // X = B(ck, "uvpn exporter", 64)
  uint64_t link_id = 0;              // first 8 bytes of the final h, big-endian
  bool initiator = false;
};

class Handshake {
 public:
  Handshake(bool initiator, const uint8_t psk[kPskLen], const uint8_t* prologue, size_t prologue_len);
  ~Handshake();
  Handshake(const Handshake&) = delete;
  Handshake& operator=(const Handshake&) = delete;

  // Initiator: writes kHandshakeBody bytes (e, encrypted payload).
  bool WriteFirst(uint8_t payload, uint8_t out[kHandshakeBody]);
  // Responder: false if the payload does not authenticate (wrong psk, altered prologue or message).
  bool ReadFirst(const uint8_t in[kHandshakeBody], uint8_t* payload);
  // Responder: writes its e and payload; false if the DH result is degenerate.
  bool WriteSecond(uint8_t payload, uint8_t out[kHandshakeBody]);
  // Initiator.
  bool ReadSecond(const uint8_t in[kHandshakeBody], uint8_t* payload);
  // Both, after the second message: the transport ciphers, exporter and link id.
  void Finish(LinkSession* out);

 private:
  bool initiator_;
  uint8_t h_[kHashLen];
  uint8_t ck_[kHashLen];
  uint8_t k_[kKeySize];
  bool has_k_ = false;
  uint64_t n_ = 0;
  uint8_t e_sk_[kDhLen], e_pk_[kDhLen], re_[kDhLen];

  void MixHash(const uint8_t* data, size_t len);
  void MixKey(const uint8_t* ikm, size_t len);
  void MixKeyAndHash(const uint8_t* ikm, size_t len);
  void EncryptAndHash(const uint8_t* pt, size_t len, uint8_t* out);
  bool DecryptAndHash(const uint8_t* ct, size_t len, uint8_t* out);
  void NewEphemeral();
  bool MixDh();  // ee
};

// HMAC-BLAKE2b (BLOCKLEN 128, HASHLEN 64) and the Noise HKDF, exposed for the tests.
void HmacBlake2b(const uint8_t* key, size_t key_len, const uint8_t* data, size_t data_len, uint8_t out[kHashLen]);
void Hkdf(const uint8_t ck[kHashLen], const uint8_t* ikm, size_t ikm_len, int outputs, uint8_t out1[kHashLen],
          uint8_t out2[kHashLen], uint8_t out3[kHashLen]);

}  // namespace uvpn::crypto
