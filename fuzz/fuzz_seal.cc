// libFuzzer target for the security layer (docs/protocol.md section 11): the codecs of src/proto/wire.h for
// LINK_INIT, LINK_RESP, LEG_OPEN and UDP_SEALED, and the parts of src/crypto that see attacker bytes before any
// authentication (record framing, the responder's first handshake read, AEAD open, the replay window).
//
// Theory of operation: every input goes through all of the following.
// - Decoders: the answer must agree with PeekPrefix (kBad for a bad prefix or another type, kNeedMore exactly when
//   the bytes are a strict prefix of the declared length, kOk only with used == declared length <= size); what
//   decodes re-encodes to the same bytes, does not fit one byte less, and every strict prefix is kNeedMore.
//   UDP_SEALED decodes its 24-byte header only (the sealed part follows in the same datagram).
// - RecordCipherLen of the first two bytes: 0 or the big-endian value, which must lie in [16, 16400].
// - Handshake: a responder with a fixed psk reads the last 49 bytes as the first handshake message, with the rest
//   as prologue (or, when the input decodes as LINK_INIT, exactly the prologue and body the router would use).
//   It must refuse (forging the MAC is out of reach) and never crash. The seed corpus was sealed with another psk.
// - AEAD: with a fixed key, Open/OpenAt of the input (the first up to 24 bytes as associated data) must fail for
//   each supported suite, in place or not, without moving the counter; Seal then Open of the input round-trips.
// - ReplayWindow<64> and <4096>, fed a sequence of counters decoded from the input (3 bytes per step: a mode and
//   a 16-bit value, relative to the current top or absolute), must agree with a std::set model at every step.
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "crypto/aead.h"
#include "crypto/noise.h"
#include "fuzz_check.h"
#include "fuzz_decode.h"
#include "proto/wire.h"

namespace {

using namespace uvpn::proto;
namespace crypto = uvpn::crypto;
using uvpn::proto::fuzz::CheckDecoder;
using uvpn::proto::fuzz::Peek;

void CheckUdpSealed(const uint8_t* data, size_t size, const Peek& peek) {
  UdpSealedHeader m;
  size_t used = 0;
  Parse p = Decode(data, size, &m, &used);
  if (peek.result == Parse::kBad || (peek.result == Parse::kOk && peek.type != MsgType::kUdpSealed)) {
    FUZZ_CHECK(p == Parse::kBad);
    return;
  }
  if (size < kUdpSealedHeader) {
    FUZZ_CHECK(p != Parse::kOk);
    return;
  }
  FUZZ_CHECK(p == Parse::kOk);  // the prefix is all there is to check
  FUZZ_CHECK(used == kUdpSealedHeader);
  FUZZ_CHECK(m.sealed_len + kUdpSealedHeader == peek.total);
  FUZZ_CHECK(m.sealed_len >= 16 + kUdpHeaderSize && peek.total <= kUdpMaxDatagram);
  uint8_t out[kUdpSealedHeader];
  FUZZ_CHECK(Encode(m, out, sizeof out) == kUdpSealedHeader);
  FUZZ_CHECK(std::memcmp(out, data, kUdpSealedHeader) == 0);
  FUZZ_CHECK(Encode(m, out, kUdpSealedHeader - 1) == 0);
  for (size_t k = 0; k < kUdpSealedHeader; ++k) {
    UdpSealedHeader part;
    size_t u;
    FUZZ_CHECK(Decode(data, k, &part, &u) == Parse::kNeedMore);
  }
}

void CheckRecordLen(const uint8_t* data, size_t size) {
  if (size < crypto::kRecordHeader) return;
  size_t declared = (static_cast<size_t>(data[0]) << 8) | data[1];
  size_t n = crypto::RecordCipherLen(data);
  if (declared >= crypto::kTagSize && declared <= crypto::kMaxRecordPlain + crypto::kTagSize) {
    FUZZ_CHECK(n == declared);
  } else {
    FUZZ_CHECK(n == 0);
  }
}

// Fixed psk of this target. fuzz/make_corpus.py seals its LINK_INIT seeds with another one (all 0x5a).
constexpr uint8_t kPsk[crypto::kPskLen] = {0x66, 0x75, 0x7a, 0x7a, 0x5f, 0x73, 0x65, 0x61, 0x6c};

void CheckHandshake(const uint8_t* data, size_t size) {
  if (size < crypto::kHandshakeBody) return;
  const uint8_t* prologue = data;
  size_t plen = size - crypto::kHandshakeBody;
  const uint8_t* body = data + plen;
  LinkInitMsg m;
  size_t used = 0;
  if (Decode(data, size, &m, &used) == Parse::kOk) {  // as the router: prologue and body from the message
    plen = used - crypto::kHandshakeBody;
    body = data + plen;
  }
  crypto::Handshake r(false, kPsk, prologue, plen);
  uint8_t payload = 0;
  FUZZ_CHECK(!r.ReadFirst(body, &payload));
  // The wrong role refuses without looking.
  crypto::Handshake i(true, kPsk, prologue, plen);
  FUZZ_CHECK(!i.ReadFirst(body, &payload));
}

void CheckAead(const uint8_t* data, size_t size) {
  static const uint8_t kKey[crypto::kKeySize] = {1, 2, 3, 4, 5, 6, 7, 8};
  size_t ad_len = size < 24 ? size : 24;
  const uint8_t* ct = data + ad_len;
  size_t n = size - ad_len;
  std::vector<uint8_t> out(n + crypto::kTagSize), inplace(ct, ct + n);
  uint8_t suites = crypto::SupportedSuites();
  for (crypto::Suite s : {crypto::Suite::kChaCha20Poly1305, crypto::Suite::kAes256Gcm}) {
    if (!(suites & static_cast<uint8_t>(s))) continue;
    crypto::Cipher c;
    c.SetKey(s, kKey, 0);
    FUZZ_CHECK(!c.Open(data, ad_len, ct, n, out.data()));
    FUZZ_CHECK(!c.Open(data, ad_len, inplace.data(), inplace.size(), inplace.data()));
    FUZZ_CHECK(c.counter() == 0);
    uint64_t counter = 0;
    for (size_t k = 0; k < 8 && k < ad_len; ++k) counter = (counter << 8) | data[k];
    FUZZ_CHECK(!c.OpenAt(counter, data, ad_len, ct, n, out.data()));
    // A genuine seal of the same bytes opens, in place, exactly once.
    c.SealAt(counter, data, ad_len, ct, n, out.data());
    FUZZ_CHECK(c.OpenAt(counter, data, ad_len, out.data(), out.size(), out.data()));
    FUZZ_CHECK(n == 0 || std::memcmp(out.data(), ct, n) == 0);
  }
}

template <size_t kBits>
struct WindowModel {
  uvpn::crypto::ReplayWindow<kBits> w;
  std::set<uint64_t> seen;
  uint64_t top = 0;
  void Step(uint64_t n) {
    bool want = n != 0 && seen.count(n) == 0 && (n > top || top - n < kBits);
    FUZZ_CHECK(w.Check(n) == want);
    if (want) {
      seen.insert(n);
      if (n > top) top = n;
    }
  }
};

void CheckReplay(const uint8_t* data, size_t size) {
  WindowModel<64> a;
  WindowModel<4096> b;
  for (size_t i = 0; i + 3 <= size; i += 3) {
    uint64_t v = (static_cast<uint64_t>(data[i + 1]) << 8) | data[i + 2];
    for (int which = 0; which < 2; ++which) {
      uint64_t top = which == 0 ? a.top : b.top, n;
      switch (data[i] % 5) {
        case 0: n = top + v % 256; break;                     // forward
        case 1: n = top >= v ? top - v : v % 3; break;        // back (reordered, replayed, too old)
        case 2: n = top + v * 61; break;                      // jumps, some past the window
        case 3: n = v; break;                                 // absolute
        default: n = ~uint64_t{0} - v; break;                 // the top of the counter space
      }
      if (which == 0) {
        a.Step(n);
      } else {
        b.Step(n);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool inited = crypto::Init();
  FUZZ_CHECK(inited);

  Peek peek{Parse::kBad, MsgType::kConnHeader, 0};
  peek.result = PeekPrefix(data, size, &peek.type, &peek.total);
  CheckDecoder<LinkInitMsg>(data, size, peek, MsgType::kLinkInit);
  CheckDecoder<LinkRespMsg>(data, size, peek, MsgType::kLinkResp);
  CheckDecoder<LegOpenMsg>(data, size, peek, MsgType::kLegOpen);
  CheckUdpSealed(data, size, peek);
  CheckRecordLen(data, size);
  CheckHandshake(data, size);
  CheckAead(data, size);
  CheckReplay(data, size);
  return 0;
}
