// The session secret (docs/security.md, "Choices"): 32 random bytes that every key of a session is derived from,
// kept beside the route file as `.uvpn_secret_<id>`. The file holds exactly 64 hex digits and a newline, mode 0600,
// owned by the user. `uvpn session new` creates it; routers and `uvpn run` load it and refuse a file that others
// could read or change.
//
// Theory of operation: CreateSecret writes the file under a temporary name (O_EXCL, 0600) and link(2)s it into
// place, so the secret appears complete or not at all and an existing secret is never replaced. LoadSecret opens
// without following a symlink, checks the open file (regular, owned by the effective uid, no group/other
// permission bits) before reading a byte, then parses strictly. Errors name the file and the reason; no error
// message, log line or return value other than LoadSecret's contains the secret or any part of it.
// Not thread-safe with respect to concurrent writers of the same path (CreateSecret then fails with EEXIST).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace uvpn::routes {

inline constexpr size_t kSecretSize = 32;
using Secret = std::array<uint8_t, kSecretSize>;

// ".uvpn_secret_<id>"
std::string SecretFileName(std::string_view session);
// The secret's path beside a route file: "DIR/.uvpn_route_ID" -> "DIR/.uvpn_secret_ID". A route file named
// otherwise, "DIR/NAME", maps to "DIR/.uvpn_secret_NAME"; a path without '/' maps to a name in the current directory.
std::string SecretPath(std::string_view route_file_path);

// Creates a new secret at `path` (32 bytes from getrandom(2), written as 64 lowercase hex digits and '\n', mode
// 0600). Fails with EEXIST if `path` exists (of any kind, including a dangling symlink); never replaces a file.
Status CreateSecret(const std::string& path);

// Reads the secret at `path`. Refuses (EACCES) a file that is not a regular file, is a symlink, is not owned by the
// effective uid, or has any group/other permission bit set; refuses (EINVAL) content other than exactly 64 hex
// digits (either case) optionally followed by one '\n'. Errors read "<path>: <reason>".
Result<Secret> LoadSecret(const std::string& path);

}  // namespace uvpn::routes
