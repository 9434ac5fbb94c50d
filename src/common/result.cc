#include "common/result.h"

#include <cstring>

namespace uvpn {

Status Status::Errno(int err, const std::string& context) {
  return {err == 0 ? 5 /*EIO*/ : err, context + ": " + std::strerror(err)};
}

}  // namespace uvpn
