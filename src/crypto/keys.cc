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
  std::string msg = "uvpn leg";
  msg.push_back('\0');
  msg.push_back(static_cast<char>(r));
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>(n >> (8 * i)));
  msg.push_back('d');
  Derive(exporter, kExporterLen, msg, kd);
  msg.back() = 'a';
  Derive(exporter, kExporterLen, msg, ka);
}

void UdpKey(const uint8_t exporter[kExporterLen], uint8_t r, uint8_t key[kKeySize]) {
  std::string msg = "uvpn udp";
  msg.push_back('\0');
  msg.push_back(static_cast<char>(r));
  Derive(exporter, kExporterLen, msg, key);
}

}  // namespace uvpn::crypto
