// The session secret file (see secret.h for the contract and the theory of operation).
#include "routes/secret.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace uvpn::routes {
namespace {

constexpr std::string_view kRoutePrefix = ".uvpn_route_";
constexpr std::string_view kSecretPrefix = ".uvpn_secret_";
constexpr size_t kHexLen = 2 * kSecretSize;

// Best-effort wipe that the compiler keeps (see proto::Wipe; duplicated to keep routes independent of proto).
void WipeBytes(void* p, size_t n) {
  memset(p, 0, n);
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status FillRandom(uint8_t* out, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::getrandom(out + got, len - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Errno(errno, "getrandom");
    got += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WriteAll(int fd, const char* data, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t w = ::write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Status::Errno(errno, "write");
    off += static_cast<size_t>(w);
  }
  return Status::Ok();
}

std::string Octal(unsigned mode) {
  char b[8];
  snprintf(b, sizeof b, "%04o", mode & 07777);
  return b;
}

}  // namespace

std::string SecretFileName(std::string_view session) { return std::string(kSecretPrefix) + std::string(session); }

std::string SecretPath(std::string_view route_file_path) {
  size_t slash = route_file_path.rfind('/');
  std::string_view dir = slash == std::string_view::npos ? std::string_view() : route_file_path.substr(0, slash + 1);
  std::string_view base = slash == std::string_view::npos ? route_file_path : route_file_path.substr(slash + 1);
  if (base.size() > kRoutePrefix.size() && base.substr(0, kRoutePrefix.size()) == kRoutePrefix)
    base.remove_prefix(kRoutePrefix.size());
  return std::string(dir) + SecretFileName(base);
}

Status CreateSecret(const std::string& path) {
  uint8_t raw[kSecretSize];
  if (Status st = FillRandom(raw, sizeof raw); !st.ok()) return Status(st.code(), path + ": " + st.message());
  char text[kHexLen + 1];
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < kSecretSize; ++i) {
    text[2 * i] = kDigits[raw[i] >> 4];
    text[2 * i + 1] = kDigits[raw[i] & 15];
  }
  text[kHexLen] = '\n';
  WipeBytes(raw, sizeof raw);

  // Written complete under a private name, then linked into place: link(2) never replaces an existing name.
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    int err = errno;
    WipeBytes(text, sizeof text);
    return Status::Errno(err, "cannot create " + tmp);
  }
  Status st;
  if (::fchmod(fd, 0600) != 0) st = Status::Errno(errno, "chmod");  // exact mode, whatever the umask
  if (st.ok()) st = WriteAll(fd, text, sizeof text);
  WipeBytes(text, sizeof text);
  if (st.ok() && ::fsync(fd) != 0) st = Status::Errno(errno, "fsync");
  if (::close(fd) != 0 && st.ok()) st = Status::Errno(errno, "close");
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return Status(st.code(), tmp + ": " + st.message());
  }
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST) return Status(EEXIST, path + ": already exists (not replaced)");
    return Status::Errno(err, "cannot create " + path);
  }
  ::unlink(tmp.c_str());
  return Status::Ok();
}

Result<Secret> LoadSecret(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP) return Status(EACCES, path + ": is a symlink (the session secret must be a regular file)");
    return Status::Errno(err, path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::Errno(err, path);
  }
  std::string refuse;
  if (!S_ISREG(st.st_mode)) {
    refuse = "not a regular file";
  } else if (st.st_uid != ::geteuid()) {
    refuse = "owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " +
             std::to_string(::geteuid()) + ")";
  } else if ((st.st_mode & 077) != 0) {
    refuse = "mode " + Octal(st.st_mode) + " gives group/others access; the session secret must be 0600 (chmod 600)";
  }
  if (!refuse.empty()) {
    ::close(fd);
    return Status(EACCES, path + ": " + refuse);
  }

  char buf[kHexLen + 2];  // 64 digits, '\n', and one byte to detect a longer file
  size_t n = 0;
  while (n < sizeof buf) {
    ssize_t r = ::read(fd, buf + n, sizeof buf - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      ::close(fd);
      WipeBytes(buf, sizeof buf);
      return Status::Errno(err, "cannot read " + path);
    }
    if (r == 0) break;
    n += static_cast<size_t>(r);
  }
  ::close(fd);

  Secret secret{};
  bool ok = n == kHexLen || (n == kHexLen + 1 && buf[kHexLen] == '\n');
  for (size_t i = 0; ok && i < kSecretSize; ++i) {
    int hi = HexValue(buf[2 * i]), lo = HexValue(buf[2 * i + 1]);
    if (hi < 0 || lo < 0) ok = false;
    else secret[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  WipeBytes(buf, sizeof buf);
  if (!ok) {
    WipeBytes(secret.data(), secret.size());
    // The content is never quoted: it may be a secret with a typo.
    return Status::Invalid(path + ": not a session secret (want exactly 64 hex digits and a newline, " +
                           (n > kHexLen + 1 ? std::string("file is longer") : std::to_string(n) + " bytes read") +
                           ")");
  }
  return secret;
}

}  // namespace uvpn::routes
