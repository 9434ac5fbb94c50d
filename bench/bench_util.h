// Shared pieces of the benchmark tools (rtt, connrate): a tiny flag parser, a monotonic clock, latency
// statistics, a bounded blocking TCP client socket and the echo server both tools run on the far side.
//
// Theory of operation: the tools are ordinary programs so that `uvpn run` can preload the shim into them; they
// use only plain libc socket calls (socket, connect, read, write, accept4, epoll) that any application would use,
// so what they measure is what an unmodified program would see. Every loop is bounded by a count and by a
// deadline; every blocking call has a timeout (SO_RCVTIMEO / SO_SNDTIMEO, poll) so a broken path ends the run
// with an error instead of hanging the benchmark.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/addr.h"
#include "common/result.h"

namespace uvpn::bench {

// Nanoseconds from CLOCK_MONOTONIC.
int64_t NowNs();

// "--name value" flags. Unknown flags are an error; a flag given twice keeps the last value.
class Flags {
 public:
  // argv[first..argc) are parsed. `known` lists the accepted names (without "--"); names ending in '!' are
  // boolean switches that take no value (listed as "name!").
  static Result<Flags> Parse(int argc, char** argv, int first, const std::vector<std::string>& known);
  bool Has(const std::string& name) const;
  std::string Str(const std::string& name, const std::string& def) const;
  // Parses an integer in [lo, hi]; a malformed or out-of-range value is an error.
  Result<int64_t> Int(const std::string& name, int64_t def, int64_t lo, int64_t hi) const;

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

// Summary of a set of samples in nanoseconds, reported in microseconds.
struct LatencyStats {
  size_t n = 0;
  double mean_us = 0, p50_us = 0, p99_us = 0, min_us = 0, max_us = 0;
};
// Sorts `samples_ns` in place. Percentiles by nearest rank.
LatencyStats Summarize(std::vector<int64_t>& samples_ns);
// `"n": 10, "mean_us": 1.234, ...` (no braces) for embedding in a JSON object.
std::string StatsJsonFields(const LatencyStats& s);

// Blocking TCP connect to `ep` with TCP_NODELAY and send/receive timeouts of `io_timeout_ms`. The connect
// itself is bounded by the same timeout (SO_SNDTIMEO bounds a blocking connect on Linux). CLOEXEC.
Result<int> ConnectBlocking(const Endpoint& ep, int io_timeout_ms);
// Reads exactly len bytes (blocking socket). EOF before len is an error (ECONNRESET-style message).
Status ReadExact(int fd, void* buf, size_t len);
Status WriteExact(int fd, const void* buf, size_t len);

// Prints {"tool": TOOL, "ok": false, "error": MSG} (MSG escaped) on stdout and returns 1 (the exit code).
int FailJson(const char* tool, const std::string& msg);

// The "server" subcommand both tools share: --listen IP:PORT [--blocking] [--max-seconds N]; an echo server
// (below) with at most `max_conns` connections at once (0 = the server's default). Returns an exit code.
int EchoServerMain(const char* tool, int argc, char** argv, int max_conns);

// Echo server: accepts TCP connections on `listen` (any address, including 0.0.0.0) and writes back every byte it
// reads, closing a connection at EOF. `epoll` selects an epoll loop over non-blocking sockets (accept4 with
// SOCK_NONBLOCK until EAGAIN, as redis does); otherwise a blocking accept loop serves one connection at a time.
// Stops after `max_seconds` or at SIGTERM/SIGINT (exit 0). Prints one line "listening IP:PORT" to stdout (flushed)
// once the listener is ready. Returns a process exit code.
struct EchoServerOptions {
  Endpoint listen;
  bool epoll = true;
  int max_seconds = 3600;
  int max_conns = 64;  // simultaneous connections (epoll mode); extra ones are closed at once
};
int RunEchoServer(const EchoServerOptions& options);

}  // namespace uvpn::bench
