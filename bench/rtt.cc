// uvpn-bench-rtt: 1-byte TCP round-trip latency.
//
//   uvpn-bench-rtt server --listen IP:PORT [--blocking] [--max-seconds S]
//   uvpn-bench-rtt client --connect IP:PORT [--count N] [--warmup W] [--size B] [--max-seconds S]
//                         [--timeout-ms T]
//
// Theory of operation: the client opens one connection with TCP_NODELAY, then repeats "write B bytes, read B bytes
// back" (B = 1 by default). The first W round trips warm up caches, the path and the relay and are not recorded.
// Each measured round trip is timed with CLOCK_MONOTONIC around the write/read pair only, into a buffer sized
// before the loop (no allocation while measuring). The loop ends after N round trips or at the deadline,
// whichever comes first; the client prints one JSON object on stdout:
//   {"tool": "rtt", "ok": true, "size": 1, "n": N, "mean_us": ..., "p50_us": ..., "p99_us": ..., "min_us": ...,
//    "max_us": ..., "seconds": ...}
// On failure it prints {"tool": "rtt", "ok": false, "error": "..."} and exits 1. The server is the shared echo
// server (bench_util.h).
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.h"

namespace uvpn::bench {
namespace {

int Fail(const std::string& msg) { return FailJson("rtt", msg); }

int Server(int argc, char** argv) { return EchoServerMain("rtt", argc, argv, 0); }

int Client(int argc, char** argv) {
  auto flags = Flags::Parse(argc, argv, 2, {"connect", "count", "warmup", "size", "max-seconds", "timeout-ms"});
  if (!flags) return Fail(flags.error().message());
  auto ep = ParseEndpoint(flags->Str("connect", ""));
  if (!ep) return Fail("--connect: " + ep.error().message());
  auto count = flags->Int("count", 10000, 1, 10000000);
  auto warmup = flags->Int("warmup", 100, 0, 1000000);
  auto size = flags->Int("size", 1, 1, 65536);
  auto secs = flags->Int("max-seconds", 20, 1, 3600);
  auto timeout = flags->Int("timeout-ms", 5000, 1, 600000);
  for (const auto* r : {&count, &warmup, &size, &secs, &timeout})
    if (!*r) return Fail(r->error().message());

  int64_t start = NowNs();
  int64_t deadline = start + *secs * 1000000000;
  auto fd = ConnectBlocking(*ep, static_cast<int>(*timeout));
  if (!fd) return Fail(fd.error().message());
  std::vector<char> out(static_cast<size_t>(*size), 'x'), in(static_cast<size_t>(*size));
  std::vector<int64_t> samples;
  samples.reserve(static_cast<size_t>(*count));
  int64_t total = *warmup + *count;
  int64_t measure_start = 0;
  for (int64_t i = 0; i < total; ++i) {
    if (i == *warmup) measure_start = NowNs();
    int64_t t0 = NowNs();
    if (t0 >= deadline) break;
    Status st = WriteExact(*fd, out.data(), out.size());
    if (st.ok()) st = ReadExact(*fd, in.data(), in.size());
    if (!st.ok()) {
      ::close(*fd);
      return Fail("round trip " + std::to_string(i) + ": " + st.message());
    }
    if (i >= *warmup) samples.push_back(NowNs() - t0);
  }
  int64_t end = NowNs();
  ::close(*fd);
  if (samples.empty()) return Fail("deadline reached before any measured round trip");
  LatencyStats s = Summarize(samples);
  std::printf("{\"tool\": \"rtt\", \"ok\": true, \"size\": %lld, %s, \"seconds\": %.3f}\n",
              static_cast<long long>(*size), StatsJsonFields(s).c_str(),
              static_cast<double>(end - measure_start) / 1e9);
  return 0;
}

}  // namespace
}  // namespace uvpn::bench

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "server") return uvpn::bench::Server(argc, argv);
  if (mode == "client") return uvpn::bench::Client(argc, argv);
  std::fprintf(stderr,
               "usage: %s server --listen IP:PORT [--blocking] [--max-seconds S]\n"
               "       %s client --connect IP:PORT [--count N] [--warmup W] [--size B] [--max-seconds S] "
               "[--timeout-ms T]\n",
               argv[0], argv[0]);
  return 2;
}
