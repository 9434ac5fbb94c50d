// Test helper (not a product binary): runs one side of the router-link handshake (src/crypto/noise.h) over
// stdin/stdout so that tests/unit/noise_interop_test.py can play the other side with the independent Python
// implementation (tests/unit/noise_ref.py).
//
// Usage: uvpn_noise_peer init|resp [--psk HEX32] [--prologue HEX] [--payload HEX1] [--ephemeral HEX32]
//
// Theory of operation: one hex string per line each way. Lines written are "<tag> <hex>".
//   init: writes "msg1 <49 bytes>", reads msg2, writes "payload <1 byte>"      (or "error ReadSecond", exit 1)
//   resp: reads msg1, writes "payload <1 byte>" (or "error ReadFirst", exit 1), writes "msg2 <49 bytes>"
// then both: "link_id <16 hex digits>", "exporter <64 bytes>", "sealed <record>" -- kProbe sealed with the
// session's tx cipher (counter 0) and kProbeAd as associated data, so the peer can prove it holds the same key --
// then read one line (a record the peer sealed with its tx key, same AD) and write "opened <plaintext>" or
// "error Open" (exit 1). --ephemeral fixes the ephemeral private key (byte-exact comparison with the reference):
// it installs a libsodium randombytes implementation that returns those 32 bytes, which is only possible because
// this is a separate test process; the product code is unchanged. Default psk and prologue are fixed constants.
#include <sodium.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "crypto/aead.h"
#include "crypto/noise.h"

namespace {

using namespace uvpn::crypto;

constexpr char kProbe[] = "uvpn interop probe";
constexpr char kProbeAd[] = "probe-ad";

std::vector<uint8_t> g_fixed;  // the fixed ephemeral key, when set
size_t g_fixed_off = 0;

void FixedBuf(void* const buf, const size_t size) {
  auto* p = static_cast<uint8_t*>(buf);
  for (size_t i = 0; i < size; ++i) p[i] = g_fixed[(g_fixed_off + i) % g_fixed.size()];
  g_fixed_off += size;
}
uint32_t FixedRandom() {
  uint32_t v;
  FixedBuf(&v, sizeof v);
  return v;
}
const char* FixedName() { return "uvpn-test-fixed"; }
randombytes_implementation g_fixed_impl = {FixedName, FixedRandom, nullptr, nullptr, FixedBuf, nullptr};

bool FromHex(const std::string& s, std::vector<uint8_t>* out) {
  out->assign(s.size() / 2, 0);
  size_t bin_len = 0;
  if (s.size() % 2 != 0 ||
      sodium_hex2bin(out->data(), out->size(), s.data(), s.size(), nullptr, &bin_len, nullptr) != 0 ||
      bin_len != out->size())
    return false;
  return true;
}

std::string ToHex(const uint8_t* p, size_t n) {
  std::string s(n * 2 + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), p, n);
  s.pop_back();
  return s;
}

void Say(const char* tag, const uint8_t* p, size_t n) {
  std::cout << tag << ' ' << ToHex(p, n) << std::endl;  // flushed: the peer waits for each line
}

bool ReadHexLine(std::vector<uint8_t>* out) {
  std::string line;
  if (!std::getline(std::cin, line)) return false;
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return FromHex(line, out);
}

int Fail(const char* what) {
  std::cout << "error " << what << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (strcmp(argv[1], "init") != 0 && strcmp(argv[1], "resp") != 0)) {
    std::fprintf(stderr, "usage: %s init|resp [--psk HEX] [--prologue HEX] [--payload HEX] [--ephemeral HEX]\n",
                 argv[0]);
    return 2;
  }
  bool initiator = strcmp(argv[1], "init") == 0;
  std::vector<uint8_t> psk(kPskLen, 0x42), prologue = {'u', 'v', 'p', 'n'}, payload = {0x01};
  for (int i = 2; i + 1 < argc; i += 2) {
    std::vector<uint8_t>* dst = nullptr;
    std::string opt = argv[i];
    if (opt == "--psk") dst = &psk;
    if (opt == "--prologue") dst = &prologue;
    if (opt == "--payload") dst = &payload;
    if (opt == "--ephemeral") dst = &g_fixed;
    if (!dst || !FromHex(argv[i + 1], dst)) {
      std::fprintf(stderr, "bad option %s\n", argv[i]);
      return 2;
    }
  }
  if (psk.size() != kPskLen || payload.size() != 1 || (!g_fixed.empty() && g_fixed.size() != kDhLen)) {
    std::fprintf(stderr, "psk must be 32 bytes, payload 1 byte, ephemeral 32 bytes\n");
    return 2;
  }
  if (!g_fixed.empty()) randombytes_set_implementation(&g_fixed_impl);  // before Init (sodium_init)
  if (!Init()) return Fail("Init");
  g_fixed_off = 0;  // sodium_init drew a canary from it: the handshake's first draw is the key itself

  Handshake hs(initiator, psk.data(), prologue.data(), prologue.size());
  uint8_t msg[kHandshakeBody];
  uint8_t got = 0;
  std::vector<uint8_t> in;
  if (initiator) {
    if (!hs.WriteFirst(payload[0], msg)) return Fail("WriteFirst");
    Say("msg1", msg, sizeof msg);
    if (!ReadHexLine(&in) || in.size() != kHandshakeBody) return Fail("input");
    if (!hs.ReadSecond(in.data(), &got)) return Fail("ReadSecond");
    Say("payload", &got, 1);
  } else {
    if (!ReadHexLine(&in) || in.size() != kHandshakeBody) return Fail("input");
    if (!hs.ReadFirst(in.data(), &got)) return Fail("ReadFirst");
    Say("payload", &got, 1);
    if (!hs.WriteSecond(payload[0], msg)) return Fail("WriteSecond");
    Say("msg2", msg, sizeof msg);
  }
  LinkSession s;
  hs.Finish(&s);
  uint8_t id[8];
  for (int i = 0; i < 8; ++i) id[i] = static_cast<uint8_t>(s.link_id >> (56 - 8 * i));
  Say("link_id", id, sizeof id);
  Say("exporter", s.exporter, sizeof s.exporter);

  const auto* ad = reinterpret_cast<const uint8_t*>(kProbeAd);
  const size_t ad_len = sizeof kProbeAd - 1;
  uint8_t sealed[sizeof kProbe - 1 + kTagSize];
  s.tx.Seal(ad, ad_len, reinterpret_cast<const uint8_t*>(kProbe), sizeof kProbe - 1, sealed);
  Say("sealed", sealed, sizeof sealed);
  if (!ReadHexLine(&in) || in.size() < kTagSize) return Fail("input");
  std::vector<uint8_t> plain(in.size() - kTagSize);
  if (!s.rx.Open(ad, ad_len, in.data(), in.size(), plain.data())) return Fail("Open");
  Say("opened", plain.data(), plain.size());
  return 0;
}
