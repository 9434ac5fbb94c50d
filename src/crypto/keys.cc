#include "crypto/keys.h"

#include <sodium.h>

#include <cstring>
#include <string>

namespace uvpn::crypto {
namespace {
void Derive(const uint8_t* key, size_t key_len, const std::string& msg, uint8_t out[kKeySize]) {
  crypto_generichash(out, kKeySize, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), key, key_len);
}
}  // namespace

void LinkPsk(const uint8_t secret[32], std::string_view site1, std::string_view site2, uint8_t psk[kPskLen]) {
  std::string_view a = site1 < site2 ? site1 : site2, b = site1 < site2 ? site2 : site1;
  std::string msg = "uvpn link psk";
  msg.push_back('\0');
  msg.append(a);
  msg.push_back('\0');
  msg.append(b);
  Derive(secret, 32, msg, psk);
}

void LegKeys(const uint8_t exporter[kExporterLen], uint8_t r, uint64_t n, uint8_t kd[kKeySize],
             uint8_t ka[kKeySize]) {
  // Once per leg 1 on both routers: a fixed buffer, no allocation. "uvpn leg" 0 R BE64(n) 'd'|'a'.
  uint8_t msg[8 + 1 + 1 + 8 + 1] = {'u', 'v', 'p', 'n', ' ', 'l', 'e', 'g', 0, r};
  for (int i = 0; i < 8; ++i) msg[10 + i] = static_cast<uint8_t>(n >> (56 - 8 * i));
  msg[18] = 'd';
  crypto_generichash(kd, kKeySize, msg, sizeof msg, exporter, kExporterLen);
  msg[18] = 'a';
  crypto_generichash(ka, kKeySize, msg, sizeof msg, exporter, kExporterLen);
}

void UdpKey(const uint8_t exporter[kExporterLen], uint8_t r, uint8_t key[kKeySize]) {
  std::string msg = "uvpn udp";
  msg.push_back('\0');
  msg.push_back(static_cast<char>(r));
  Derive(exporter, kExporterLen, msg, key);
}

}  // namespace uvpn::crypto
