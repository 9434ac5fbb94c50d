// uvpn-bench-seal-speed: what sealing costs per byte on this CPU, against memcpy measured in the same run.
//
//   uvpn-bench-seal-speed [--mib N]      (default 512 MiB per measurement)
//
// Theory of operation: one 128 KiB buffer (a router's record buffer) is processed repeatedly as 16 KiB records, the
// way src/router/seal.cc does: memcpy (the copy every relay path pays), Cipher::Seal and Cipher::Open in place for
// AES-256-GCM (when the CPU has it) and ChaCha20-Poly1305. Each figure is the best of 3 runs; the output is one JSON
// line with GB/s per operation and its ratio to memcpy (how many copies' worth of CPU one pass of the cipher costs).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "crypto/aead.h"

namespace {
using Clock = std::chrono::steady_clock;
constexpr size_t kBuf = 128 * 1024;
constexpr size_t kRec = 16 * 1024;

template <typename F>
double BestGbps(size_t total, F&& f) {
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    for (size_t done = 0; done < total; done += kBuf) f();
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, static_cast<double>(total) / s / 1e9);
  }
  return best;
}
}  // namespace

int main(int argc, char** argv) {
  size_t mib = 512;
  for (int i = 1; i + 1 < argc; i += 2)
    if (strcmp(argv[i], "--mib") == 0) mib = strtoul(argv[i + 1], nullptr, 10);
  if (!uvpn::crypto::Init()) return 1;
  size_t total = mib << 20;
  std::vector<uint8_t> a(kBuf, 0x5a), b(kBuf + kBuf / kRec * uvpn::crypto::kTagSize);
  double copy = BestGbps(total, [&] { memcpy(b.data(), a.data(), kBuf); asm volatile("" ::: "memory"); });
  printf("{\"tool\": \"seal-speed\", \"memcpy_gbps\": %.2f", copy);
  uint8_t key[uvpn::crypto::kKeySize] = {1};
  for (auto suite : {uvpn::crypto::Suite::kAes256Gcm, uvpn::crypto::Suite::kChaCha20Poly1305}) {
    if (!(uvpn::crypto::SupportedSuites() & static_cast<uint8_t>(suite))) continue;
    const char* name = suite == uvpn::crypto::Suite::kAes256Gcm ? "aes256gcm" : "chacha20poly1305";
    uvpn::crypto::Cipher tx, rx;
    tx.SetKey(suite, key);
    double seal = BestGbps(total, [&] {
      for (size_t off = 0, o = 0; off < kBuf; off += kRec, o += kRec + uvpn::crypto::kTagSize)
        tx.Seal(nullptr, 0, a.data() + off, kRec, b.data() + o);
    });
    // Open what was sealed last (counters re-aligned per buffer so every record verifies).
    double open = BestGbps(total, [&] {
      rx.SetKey(suite, key, tx.counter() - kBuf / kRec);
      for (size_t o = 0; o < b.size(); o += kRec + uvpn::crypto::kTagSize)
        if (!rx.Open(nullptr, 0, b.data() + o, kRec + uvpn::crypto::kTagSize, a.data())) abort();
    });
    printf(", \"%s_seal_gbps\": %.2f, \"%s_open_gbps\": %.2f, \"%s_seal_vs_memcpy\": %.3f", name, seal, name, open,
           name, seal / copy);
  }
  printf("}\n");
  return 0;
}
