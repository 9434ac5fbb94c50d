// The ptrace monitor (docs/trace.md): runs a command under ptrace so that it, its threads and its descendants get
// the preload library's TCP overlay behaviour (docs/shim.md) without LD_PRELOAD -- for statically linked programs.
//
// Public surface for `uvpn run`: the mode, the options (the library's configuration, in memory), Run(), and the
// static-binary test used by `--mode auto`. Not thread-safe: Run() is meant to be called once, in a process of its
// own (it forks the command, blocks SIGCHLD and installs signal handlers that forward signals to the command).
#pragma once

#include <string>
#include <vector>

#include "common/addr.h"
#include "common/result.h"

namespace uvpn::trace {

enum class Mode {
  kPtrace,     // seccomp filter: only the calls of interest stop
  kPtraceAll,  // no filter: every system call stops (entry and exit), for measurements
};

struct Options {
  Mode mode = Mode::kPtrace;
  Cidr net;             // session network: only destinations inside it are diverted
  Endpoint router;      // home router's node endpoint (TCP for connections, UDP for LOOKUP)
  Ip4 vip = 0;          // this node's virtual IP
  Ip4 real = 0;         // this node's real IP as the router sees it
  int timeout_ms = 20000;  // connect timeout (STATUS / LOOKUP waits)
  bool stats = false;   // print stop counts on stderr at exit (also UVPN_TRACE_STATS=1)
  bool names = true;    // serve overlay names through /etc/hosts (docs/trace.md "Names"; UVPN_TRACE_NAMES=0: off)
  bool has_key = false;  // key=: the lease key; headers are signed and checked (docs/security.md)
  uint8_t key[32] = {};
  const uint8_t* Key() const { return has_key ? key : nullptr; }
};

// Runs argv[0] (searched on PATH) with argv under the monitor; returns when every tracee has exited, with the
// command's exit status (128+N if signal N killed it), or 70 if it could not be started (reason on stderr).
// REQUIRES: argv non-empty; x86-64.
int Run(const Options& opt, const std::vector<std::string>& argv);

// "ptrace" | "ptrace-all" -> Mode.
Result<Mode> ParseMode(const std::string& text);

// Parses the library's configuration line (docs/shim.md: "v1 net=... router=... vip=... real=... timeout_ms=...")
// into options (mode and stats left at their defaults). Keys this monitor does not use (name=...) are skipped.
// Pure.
Result<Options> ParseConfigLine(const std::string& text);

// How `uvpn run` starts its command.
enum class Launch { kPreload, kPtrace, kPtraceAll };
// Resolves `uvpn run --mode` ("auto", "preload", "ptrace", "ptrace-all"; "" means auto) for `command` (argv[0]):
// auto is ptrace for a statically linked ELF (IsStaticElf), preload otherwise. When auto chose ptrace, *note
// gets the one-line message to show the user; else it is cleared. Error: an unknown mode.
Result<Launch> ChooseLaunch(const std::string& mode_flag, const std::string& command, std::string* note);

// The path execvp would run for `name` ("" if none). Names with a '/' are returned as they are.
std::string FindExecutable(const std::string& name);

// True if `path` is an ELF executable without a PT_INTERP program header (statically linked, including
// static-pie). False for dynamic ELF files; an error for files that are not ELF (scripts) or cannot be read.
Result<bool> IsStaticElf(const std::string& path);

}  // namespace uvpn::trace
