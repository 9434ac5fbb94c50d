// uvpn-bench-connrate: TCP connection setup rate.
//
//   uvpn-bench-connrate server --listen IP:PORT [--blocking] [--max-seconds S]
//   uvpn-bench-connrate client --connect IP:PORT [--count N] [--max-seconds S] [--timeout-ms T]
//                              [--max-errors E] [--linger0]
//
// Theory of operation: one client thread repeats, back to back, the life of a short connection: socket, blocking
// connect, write 1 byte, read the echo, close. The echo makes the whole path count (through the overlay a
// connection is only usable once both routers have connected the far end), not only the first hop's handshake.
// The loop ends after N connections or at the deadline, or after E failed connections. Output is one JSON object:
//   {"tool": "connrate", "ok": true, "conns": N, "errors": E, "seconds": S, "conns_per_s": R,
//    "n": N, "mean_us": ..., "p50_us": ..., "p99_us": ..., ...}     (latency of one whole connection)
// The client closes first, so TIME_WAIT is on the client side (and on each router's outgoing leg); a run that
// makes more connections than the ephemeral port range in a minute needs net.ipv4.tcp_tw_reuse=1, or --linger0
// (close with a reset: no TIME_WAIT, but through the overlay the reset then travels to the server).
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.h"

namespace uvpn::bench {
namespace {

int Fail(const std::string& msg) { return FailJson("connrate", msg); }

int Server(int argc, char** argv) { return EchoServerMain("connrate", argc, argv, 1024); }

int Client(int argc, char** argv) {
  auto flags =
      Flags::Parse(argc, argv, 2, {"connect", "count", "max-seconds", "timeout-ms", "max-errors", "linger0!"});
  if (!flags) return Fail(flags.error().message());
  auto ep = ParseEndpoint(flags->Str("connect", ""));
  if (!ep) return Fail("--connect: " + ep.error().message());
  auto count = flags->Int("count", 5000, 1, 10000000);
  auto secs = flags->Int("max-seconds", 3, 1, 3600);
  auto timeout = flags->Int("timeout-ms", 5000, 1, 600000);
  auto max_errors = flags->Int("max-errors", 10, 0, 1000000);
  for (const auto* r : {&count, &secs, &timeout, &max_errors})
    if (!*r) return Fail(r->error().message());
  bool linger0 = flags->Has("linger0");

  std::vector<int64_t> samples;
  samples.reserve(static_cast<size_t>(*count));
  int64_t start = NowNs();
  int64_t deadline = start + *secs * 1000000000;
  int64_t errors = 0;
  std::string first_error;
  char byte = 'c';
  for (int64_t i = 0; i < *count; ++i) {
    int64_t t0 = NowNs();
    if (t0 >= deadline) break;
    auto fd = ConnectBlocking(*ep, static_cast<int>(*timeout));
    Status st = fd ? WriteExact(*fd, &byte, 1) : fd.error();
    if (st.ok()) st = ReadExact(*fd, &byte, 1);
    if (fd) {
      if (linger0) {
        linger lg{1, 0};
        ::setsockopt(*fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      }
      ::close(*fd);
    }
    if (!st.ok()) {
      if (first_error.empty()) first_error = st.message();
      if (++errors > *max_errors) return Fail("too many errors (" + std::to_string(errors) + "), first: " + first_error);
      continue;
    }
    samples.push_back(NowNs() - t0);
  }
  double seconds = static_cast<double>(NowNs() - start) / 1e9;
  if (samples.empty()) return Fail("no connection completed" + (first_error.empty() ? "" : ": " + first_error));
  size_t conns = samples.size();
  LatencyStats s = Summarize(samples);
  std::printf("{\"tool\": \"connrate\", \"ok\": true, \"conns\": %zu, \"errors\": %lld, \"seconds\": %.3f, "
              "\"conns_per_s\": %.1f, %s}\n",
              conns, static_cast<long long>(errors), seconds, static_cast<double>(conns) / seconds,
              StatsJsonFields(s).c_str());
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
               "       %s client --connect IP:PORT [--count N] [--max-seconds S] [--timeout-ms T] "
               "[--max-errors E] [--linger0]\n",
               argv[0], argv[0]);
  return 2;
}
