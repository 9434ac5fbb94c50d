// Flag parsing, statistics and blocking socket helpers for the benchmark tools (see bench_util.h).
#include "bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace uvpn::bench {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Result<Flags> Flags::Parse(int argc, char** argv, int first, const std::vector<std::string>& known) {
  Flags f;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) return Status::Invalid("unexpected argument: " + arg);
    std::string name = arg.substr(2);
    bool is_switch = std::find(known.begin(), known.end(), name + "!") != known.end();
    bool is_value = std::find(known.begin(), known.end(), name) != known.end();
    if (is_switch) {
      f.kv_.emplace_back(name, "1");
    } else if (is_value) {
      if (i + 1 >= argc) return Status::Invalid("missing value for --" + name);
      f.kv_.emplace_back(name, argv[++i]);
    } else {
      return Status::Invalid("unknown flag: " + arg);
    }
  }
  return f;
}

bool Flags::Has(const std::string& name) const {
  for (const auto& [k, v] : kv_)
    if (k == name) return true;
  return false;
}

std::string Flags::Str(const std::string& name, const std::string& def) const {
  std::string out = def;
  for (const auto& [k, v] : kv_)
    if (k == name) out = v;
  return out;
}

Result<int64_t> Flags::Int(const std::string& name, int64_t def, int64_t lo, int64_t hi) const {
  if (!Has(name)) return def;
  std::string text = Str(name, "");
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || errno != 0 || *end != '\0' || v < lo || v > hi)
    return Status::Invalid("--" + name + " must be an integer in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "], got '" + text + "'");
  return static_cast<int64_t>(v);
}

LatencyStats Summarize(std::vector<int64_t>& samples_ns) {
  LatencyStats s;
  s.n = samples_ns.size();
  if (s.n == 0) return s;
  std::sort(samples_ns.begin(), samples_ns.end());
  double sum = 0;
  for (int64_t v : samples_ns) sum += static_cast<double>(v);
  auto rank = [&](double q) {
    // Nearest rank: the smallest sample with at least q of the samples at or below it.
    size_t idx = static_cast<size_t>(q * static_cast<double>(s.n) + 0.999999);
    idx = std::clamp<size_t>(idx, 1, s.n) - 1;
    return static_cast<double>(samples_ns[idx]) / 1000.0;
  };
  s.mean_us = sum / static_cast<double>(s.n) / 1000.0;
  s.p50_us = rank(0.50);
  s.p99_us = rank(0.99);
  s.min_us = static_cast<double>(samples_ns.front()) / 1000.0;
  s.max_us = static_cast<double>(samples_ns.back()) / 1000.0;
  return s;
}

std::string StatsJsonFields(const LatencyStats& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "\"n\": %zu, \"mean_us\": %.3f, \"p50_us\": %.3f, \"p99_us\": %.3f, \"min_us\": %.3f, "
                "\"max_us\": %.3f",
                s.n, s.mean_us, s.p50_us, s.p99_us, s.min_us, s.max_us);
  return buf;
}

Result<int> ConnectBlocking(const Endpoint& ep, int io_timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Errno(errno, "socket");
  timeval tv{io_timeout_ms / 1000, (io_timeout_ms % 1000) * 1000};
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    int err = errno;
    ::close(fd);
    return Status::Errno(err, "setsockopt");
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(ep.port);
  sa.sin_addr.s_addr = htonl(ep.ip);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int err = errno;
    ::close(fd);
    return Status::Errno(err, "connect " + FormatEndpoint(ep));
  }
  return fd;
}

Status ReadExact(int fd, void* buf, size_t len) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = ::read(fd, p, len);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
    } else if (n == 0) {
      return Status(ECONNRESET, "read: unexpected end of stream");
    } else if (errno != EINTR) {
      return Status::Errno(errno == EAGAIN ? ETIMEDOUT : errno, "read");
    }
  }
  return Status::Ok();
}

Status WriteExact(int fd, const void* buf, size_t len) {
  const auto* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n >= 0) {
      p += n;
      len -= static_cast<size_t>(n);
    } else if (errno != EINTR) {
      return Status::Errno(errno == EAGAIN ? ETIMEDOUT : errno, "write");
    }
  }
  return Status::Ok();
}

int FailJson(const char* tool, const std::string& msg) {
  std::string esc;
  for (char ch : msg) {
    if (ch == '"' || ch == '\\') esc += '\\';
    esc += ch;
  }
  std::printf("{\"tool\": \"%s\", \"ok\": false, \"error\": \"%s\"}\n", tool, esc.c_str());
  return 1;
}

int EchoServerMain(const char* tool, int argc, char** argv, int max_conns) {
  auto flags = Flags::Parse(argc, argv, 2, {"listen", "blocking!", "max-seconds"});
  if (!flags) return FailJson(tool, flags.error().message());
  auto ep = ParseEndpoint(flags->Str("listen", ""));
  auto secs = flags->Int("max-seconds", 3600, 1, 86400);
  if (!ep) return FailJson(tool, "--listen: " + ep.error().message());
  if (!secs) return FailJson(tool, secs.error().message());
  EchoServerOptions o;
  o.listen = *ep;
  o.epoll = !flags->Has("blocking");
  o.max_seconds = static_cast<int>(*secs);
  if (max_conns > 0) o.max_conns = max_conns;
  return RunEchoServer(o);
}

}  // namespace uvpn::bench
