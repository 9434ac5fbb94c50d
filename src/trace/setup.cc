// Start-up helpers of the monitor: the mode and configuration parsers and the static-binary test of `--mode auto`.
// Pure functions except FindExecutable (stat on PATH entries) and IsStaticElf (reads the file's headers).
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "proto/auth.h"
#include "sysio/fd.h"
#include "trace/trace.h"

namespace uvpn::trace {

Result<Mode> ParseMode(const std::string& text) {
  if (text == "ptrace") return Mode::kPtrace;
  if (text == "ptrace-all") return Mode::kPtraceAll;
  return Status::Invalid("unknown trace mode '" + text + "' (ptrace, ptrace-all)");
}

Result<Options> ParseConfigLine(const std::string& text) {
  Options o;
  bool have_net = false, have_router = false, have_vip = false, have_real = false;
  size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    std::string tok = text.substr(pos, end - pos);
    pos = end + 1;
    if (tok.empty()) continue;
    if (first) {
      if (tok != "v1") return Status::Invalid("configuration must start with v1");
      first = false;
      continue;
    }
    size_t eq = tok.find('=');
    if (eq == std::string::npos) return Status::Invalid("configuration token without '=': " + tok);
    std::string k = tok.substr(0, eq), v = tok.substr(eq + 1);
    if (k == "net") {
      auto c = ParseCidr(v);
      if (!c) return c.error();
      o.net = *c;
      have_net = true;
    } else if (k == "router") {
      auto e = ParseEndpoint(v);
      if (!e) return e.error();
      o.router = *e;
      have_router = true;
    } else if (k == "vip" || k == "real") {
      auto ip = ParseIp4(v);
      if (!ip) return ip.error();
      (k == "vip" ? o.vip : o.real) = *ip;
      (k == "vip" ? have_vip : have_real) = true;
    } else if (k == "timeout_ms") {
      char* e = nullptr;
      long t = strtol(v.c_str(), &e, 10);
      if (e == v.c_str() || *e != 0 || t < 1 || t > 600000) return Status::Invalid("bad timeout_ms: " + v);
      o.timeout_ms = static_cast<int>(t);
    } else if (k == "key") {
      if (!proto::KeyFromHex(v.data(), v.size(), o.key)) return Status::Invalid("bad key= (want 64 hex digits)");
      o.has_key = true;
    }  // other keys (name=...) belong to the preload library
  }
  if (first || !have_net || !have_router || !have_vip || !have_real)
    return Status::Invalid("configuration needs v1 net= router= vip= real=");
  return o;
}

std::string FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t end = p.find(':', pos);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(pos, end - pos);
    pos = end + 1;
    std::string cand = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st;
    if (stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(cand.c_str(), X_OK) == 0) return cand;
  }
  return "";
}

Result<Launch> ChooseLaunch(const std::string& mode_flag, const std::string& command, std::string* note) {
  note->clear();
  if (mode_flag == "preload") return Launch::kPreload;
  if (mode_flag == "ptrace") return Launch::kPtrace;
  if (mode_flag == "ptrace-all") return Launch::kPtraceAll;
  if (!mode_flag.empty() && mode_flag != "auto")
    return Status::Invalid("--mode: unknown mode '" + mode_flag + "' (auto, preload, ptrace, ptrace-all)");
  std::string path = FindExecutable(command);
  if (path.empty()) return Launch::kPreload;  // execvp will report it
  auto st = IsStaticElf(path);
  if (!st || !*st) return Launch::kPreload;
  *note = command + " is statically linked: using --mode ptrace";
  return Launch::kPtrace;
}

namespace {

template <typename Ehdr, typename Phdr>
Result<bool> ScanPhdrs(int fd, const std::string& path) {
  Ehdr eh;
  if (pread(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh)) return Status::Invalid(path + ": short ELF");
  if (eh.e_phentsize != sizeof(Phdr) || eh.e_phnum == 0 || eh.e_phnum > 4096)
    return Status::Invalid(path + ": bad program headers");
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Phdr ph;
    off_t off = static_cast<off_t>(eh.e_phoff + i * sizeof(Phdr));
    if (pread(fd, &ph, sizeof ph, off) != static_cast<ssize_t>(sizeof ph))
      return Status::Invalid(path + ": short program headers");
    if (ph.p_type == PT_INTERP) return false;
  }
  return true;
}

}  // namespace

Result<bool> IsStaticElf(const std::string& path) {
  sysio::Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::Errno(errno, "open " + path);
  unsigned char ident[EI_NIDENT];
  if (pread(fd.get(), ident, sizeof ident, 0) != static_cast<ssize_t>(sizeof ident) ||
      memcmp(ident, ELFMAG, SELFMAG) != 0)
    return Status::Invalid(path + ": not an ELF file");
  if (ident[EI_CLASS] == ELFCLASS64) return ScanPhdrs<Elf64_Ehdr, Elf64_Phdr>(fd.get(), path);
  if (ident[EI_CLASS] == ELFCLASS32) return ScanPhdrs<Elf32_Ehdr, Elf32_Phdr>(fd.get(), path);
  return Status::Invalid(path + ": unknown ELF class");
}

}  // namespace uvpn::trace
