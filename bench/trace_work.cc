// uvpn-bench-tracework: the workloads of the execution-overhead benchmark (the paper's Fig 12).
//
//   uvpn-bench-tracework gen     --output FILE --bytes N
//   uvpn-bench-tracework fasta   --input FILE [--output PATH] [--chunk B] [--work K] [--max-seconds S]
//   uvpn-bench-tracework compute [--iterations N] [--max-seconds S]
//   uvpn-bench-tracework opens   --input FILE [--count N] [--max-seconds S]
//   uvpn-bench-tracework floor   -- COMMAND [ARGS...]
//
// Theory of operation: the trace benchmark (trace_bench.py) runs these natively and under each interposition mode
// (`uvpn run --mode preload|ptrace|ptrace-all`) and compares the run times. They make no network calls, so any
// difference is the cost of the mechanism itself: nothing for preload and seccomp-filtered ptrace (no trapped call
// is ever made), two ptrace stops per system call for ptrace-all.
//   - gen writes a FASTA-like file (60 bases per line) with large writes: the input of `fasta`.
//   - fasta is the syscall-heavy program, modelled on the paper's FASTA benchmark: it reads the input B bytes at a
//     time with read(2) (B = 100 by default), reverse-complements each chunk, mixes it into a checksum K times
//     (a little compute per chunk) and writes it with write(2) to PATH (/dev/null by default): about two system
//     calls per B bytes.
//   - compute is the compute-bound program: N rounds of an integer hash and a floating-point recurrence, no system
//     calls in the loop.
//   - opens is the price of serving names under ptrace (docs/trace.md "Names"): N times open(FILE, O_RDONLY),
//     read 1 byte, close. Every read-only open stops the seccomp-filtered monitor once (it is told apart from
//     /etc/hosts by its path), so this is the workload where that mode pays most.
//   - floor runs COMMAND under a one-instruction seccomp filter that allows everything (no tracer): the price
//     the kernel charges every system call of a process that has any seccomp filter at all. It is the floor
//     under `--mode ptrace` on syscall-heavy programs, whatever the monitor does (docs/trace.md "Costs").
// Each prints one JSON object on stdout with its own measured time of the work loop ("seconds", CLOCK_MONOTONIC),
// which leaves out process start-up and the supervisor of `uvpn run`:
//   {"tool": "tracework", "ok": true, "work": "fasta", "seconds": 0.41, "syscalls": 204802, "complete": true, ...}
// Every loop is bounded by its count and by --max-seconds (checked every few thousand iterations); stopping at the
// deadline reports "complete": false. Errors print {"tool": "tracework", "ok": false, "error": "..."} and exit 1.
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"

namespace uvpn::bench {
namespace {

int Fail(const std::string& msg) {
  std::string esc;
  for (char ch : msg) {
    if (ch == '"' || ch == '\\') esc += '\\';
    esc += ch;
  }
  std::printf("{\"tool\": \"tracework\", \"ok\": false, \"error\": \"%s\"}\n", esc.c_str());
  return 1;
}

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Writes all of buf or returns false (errno set).
bool WriteAll(int fd, const char* buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

int Gen(int argc, char** argv) {
  auto flags = Flags::Parse(argc, argv, 2, {"output", "bytes"});
  if (!flags) return Fail(flags.error().message());
  auto bytes = flags->Int("bytes", 10 << 20, 1, int64_t{1} << 32);
  if (!bytes) return Fail(bytes.error().message());
  std::string path = flags->Str("output", "");
  if (path.empty()) return Fail("gen needs --output FILE");
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(Errno("open"));
  static const char kBases[] = "ACGT";
  std::vector<char> block(1 << 16);
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  int64_t left = *bytes;
  while (left > 0) {
    size_t n = block.size() < static_cast<size_t>(left) ? block.size() : static_cast<size_t>(left);
    for (size_t i = 0; i < n; ++i) {
      if (i % 61 == 60) {
        block[i] = '\n';
        continue;
      }
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
      block[i] = kBases[x & 3];
    }
    if (!WriteAll(fd, block.data(), n)) {
      int e = errno;
      close(fd);
      errno = e;
      return Fail(Errno("write"));
    }
    left -= static_cast<int64_t>(n);
  }
  if (close(fd) != 0) return Fail(Errno("close"));
  std::printf("{\"tool\": \"tracework\", \"ok\": true, \"work\": \"gen\", \"bytes\": %lld}\n",
              static_cast<long long>(*bytes));
  return 0;
}

int Fasta(int argc, char** argv) {
  auto flags = Flags::Parse(argc, argv, 2, {"input", "output", "chunk", "work", "max-seconds"});
  if (!flags) return Fail(flags.error().message());
  auto chunk = flags->Int("chunk", 100, 1, 1 << 20);
  auto work = flags->Int("work", 4, 0, 10000);
  auto secs = flags->Int("max-seconds", 120, 1, 3600);
  if (!chunk) return Fail(chunk.error().message());
  if (!work) return Fail(work.error().message());
  if (!secs) return Fail(secs.error().message());
  std::string in_path = flags->Str("input", "");
  if (in_path.empty()) return Fail("fasta needs --input FILE");
  std::string out_path = flags->Str("output", "/dev/null");
  int in = open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Fail(Errno("open input"));
  int out = open(out_path.c_str(), O_WRONLY | O_CLOEXEC);
  if (out < 0) {
    close(in);
    return Fail(Errno("open output"));
  }
  std::vector<char> buf(static_cast<size_t>(*chunk));
  uint8_t comp[256];
  for (int i = 0; i < 256; ++i) comp[i] = static_cast<uint8_t>(i);
  comp['A'] = 'T', comp['T'] = 'A', comp['C'] = 'G', comp['G'] = 'C';
  uint64_t sum = 1469598103934665603ULL;  // FNV-1a
  int64_t syscalls = 0, bytes = 0, chunks = 0;
  bool complete = true;
  std::string error;
  const int64_t start = NowNs();
  const int64_t deadline = start + *secs * 1000000000LL;
  for (;;) {
    ssize_t n = read(in, buf.data(), buf.size());
    ++syscalls;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = Errno("read");
      break;
    }
    if (n == 0) break;
    // Reverse complement in place, then K passes of a checksum over the chunk: the "compute per chunk".
    for (ssize_t i = 0, j = n - 1; i < j; ++i, --j) {
      char t = static_cast<char>(comp[static_cast<uint8_t>(buf[i])]);
      buf[i] = static_cast<char>(comp[static_cast<uint8_t>(buf[j])]);
      buf[j] = t;
    }
    if (n % 2 == 1) buf[n / 2] = static_cast<char>(comp[static_cast<uint8_t>(buf[n / 2])]);
    for (int64_t k = 0; k < *work; ++k) {
      for (ssize_t i = 0; i < n; ++i) sum = (sum ^ static_cast<uint8_t>(buf[i])) * 1099511628211ULL;
    }
    if (!WriteAll(out, buf.data(), static_cast<size_t>(n))) {
      error = Errno("write");
      break;
    }
    ++syscalls;
    bytes += n;
    if (++chunks % 4096 == 0 && NowNs() > deadline) {
      complete = false;
      break;
    }
  }
  const double seconds = static_cast<double>(NowNs() - start) / 1e9;
  close(in);
  close(out);
  if (!error.empty()) return Fail(error);
  std::printf("{\"tool\": \"tracework\", \"ok\": true, \"work\": \"fasta\", \"seconds\": %.6f, \"bytes\": %lld, "
              "\"chunk\": %lld, \"syscalls\": %lld, \"complete\": %s, \"checksum\": \"%016llx\"}\n",
              seconds, static_cast<long long>(bytes), static_cast<long long>(*chunk),
              static_cast<long long>(syscalls), complete ? "true" : "false", static_cast<unsigned long long>(sum));
  return 0;
}

int Compute(int argc, char** argv) {
  auto flags = Flags::Parse(argc, argv, 2, {"iterations", "max-seconds"});
  if (!flags) return Fail(flags.error().message());
  auto iters = flags->Int("iterations", 200000000, 1, int64_t{1} << 40);
  auto secs = flags->Int("max-seconds", 120, 1, 3600);
  if (!iters) return Fail(iters.error().message());
  if (!secs) return Fail(secs.error().message());
  uint64_t h = 0x243f6a8885a308d3ULL;
  double y = 0.5;
  bool complete = true;
  int64_t done = 0;
  const int64_t start = NowNs();
  const int64_t deadline = start + *secs * 1000000000LL;
  while (done < *iters) {
    const int64_t batch_end = done + 1000000 < *iters ? done + 1000000 : *iters;
    for (; done < batch_end; ++done) {
      h = (h ^ (h >> 31)) * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(done);
      y = 3.7 * y * (1.0 - y);  // logistic map: a serial floating-point dependency chain
    }
    if (NowNs() > deadline) {
      complete = false;
      break;
    }
  }
  const double seconds = static_cast<double>(NowNs() - start) / 1e9;
  std::printf("{\"tool\": \"tracework\", \"ok\": true, \"work\": \"compute\", \"seconds\": %.6f, "
              "\"iterations\": %lld, \"complete\": %s, \"checksum\": \"%016llx-%.6f\"}\n",
              seconds, static_cast<long long>(done), complete ? "true" : "false",
              static_cast<unsigned long long>(h), y);
  return 0;
}

int Opens(int argc, char** argv) {
  auto flags = Flags::Parse(argc, argv, 2, {"input", "count", "max-seconds"});
  if (!flags) return Fail(flags.error().message());
  std::string path = flags->Str("input", "");
  auto count = flags->Int("count", 20000, 1, 100000000);
  auto secs = flags->Int("max-seconds", 120, 1, 3600);
  if (path.empty()) return Fail("opens: --input FILE is required");
  if (!count) return Fail(count.error().message());
  if (!secs) return Fail(secs.error().message());
  bool complete = true;
  int64_t done = 0;
  const int64_t start = NowNs();
  const int64_t deadline = start + *secs * 1000000000LL;
  for (; done < *count; ++done) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Fail("open " + path + ": " + std::strerror(errno));
    char b;
    if (read(fd, &b, 1) < 0) return Fail("read " + path + ": " + std::strerror(errno));
    close(fd);
    if ((done & 1023) == 0 && NowNs() > deadline) {
      complete = false;
      break;
    }
  }
  const double seconds = static_cast<double>(NowNs() - start) / 1e9;
  std::printf("{\"tool\": \"tracework\", \"ok\": true, \"work\": \"opens\", \"seconds\": %.6f, \"opens\": %lld, "
              "\"complete\": %s}\n",
              seconds, static_cast<long long>(done), complete ? "true" : "false");
  return 0;
}

int Floor(int argc, char** argv) {
  if (argc < 4 || std::strcmp(argv[2], "--") != 0) return Fail("usage: uvpn-bench-tracework floor -- COMMAND [ARGS...]");
  sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  sock_fprog prog{1, allow};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &prog) != 0)
    return Fail(std::string("seccomp: ") + std::strerror(errno));
  execvp(argv[3], argv + 3);
  return Fail(std::string("exec ") + argv[3] + ": " + std::strerror(errno));
}

}  // namespace
}  // namespace uvpn::bench

int main(int argc, char** argv) {
  using namespace uvpn::bench;
  if (argc < 2) return Fail("usage: uvpn-bench-tracework gen|fasta|compute|opens|floor [--flags]");
  std::string cmd = argv[1];
  if (cmd == "gen") return Gen(argc, argv);
  if (cmd == "fasta") return Fasta(argc, argv);
  if (cmd == "compute") return Compute(argc, argv);
  if (cmd == "opens") return Opens(argc, argv);
  if (cmd == "floor") return Floor(argc, argv);
  return Fail("unknown command " + cmd + " (gen|fasta|compute|opens|floor)");
}
