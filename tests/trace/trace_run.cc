// Test driver of the ptrace monitor: runs a command under uvpn::trace::Run with a configuration line, without
// registering with a router (the tests' fake router speaks only the connection protocol).
//   uvpn_trace_run [--mode ptrace|ptrace-all] [--stats] --config "v1 net=... router=... vip=... real=..." -- CMD...
// Exits with the command's status (Run's contract), 64 on bad usage.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "trace/trace.h"

int main(int argc, char** argv) {
  uvpn::trace::Mode mode = uvpn::trace::Mode::kPtrace;
  std::string config;
  bool stats = false;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--stats") {
      stats = true;
    } else if (a == "--mode" && i + 1 < argc) {
      auto m = uvpn::trace::ParseMode(argv[++i]);
      if (!m) {
        fprintf(stderr, "uvpn_trace_run: %s\n", m.error().message().c_str());
        return 64;
      }
      mode = *m;
    } else if (a == "--config" && i + 1 < argc) {
      config = argv[++i];
    } else {
      fprintf(stderr, "uvpn_trace_run: unknown argument %s\n", argv[i]);
      return 64;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "usage: uvpn_trace_run [--mode M] [--stats] --config LINE -- COMMAND [ARGS...]\n");
    return 64;
  }
  auto opt = uvpn::trace::ParseConfigLine(config);
  if (!opt) {
    fprintf(stderr, "uvpn_trace_run: %s\n", opt.error().message().c_str());
    return 64;
  }
  opt->mode = mode;
  opt->stats = stats;
  std::vector<std::string> cmd(argv + i, argv + argc);
  return uvpn::trace::Run(*opt, cmd);
}
