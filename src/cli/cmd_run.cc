// uvpn run: registers this node with its home router, then runs COMMAND under the preload library.
//
// Theory of operation: this process stays as a small supervisor. It holds the registration connection (the lease
// lives as long as it is open), sends heartbeats, forwards signals to the command, and exits with the command's
// status. The command gets its configuration prepared in UVPN_SHIM_CONFIG (the library parses nothing else) and
// the library in LD_PRELOAD, in front of any preload already there.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/registration.h"
#include "proto/auth.h"
#include "proto/hmac.h"
#include "proto/wire.h"
#include "routes/routes.h"
#include "routes/secret.h"
#include "trace/trace.h"

namespace uvpn::cli {
namespace {

bool Exists(const std::string& p) { return access(p.c_str(), R_OK) == 0; }

// --shim, else $UVPN_SHIM, else next to the executable: ../lib/libuvpn_shim.so or ../lib/uvpn/libuvpn_shim.so.
std::string FindShim(const Args& a) {
  std::string s = FlagOrEnv(a, "shim", "UVPN_SHIM");
  if (!s.empty()) return s;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return "";
  exe[n] = 0;
  std::string dir(exe);
  dir = dir.substr(0, dir.rfind('/'));
  for (const char* rel : {"/../lib/libuvpn_shim.so", "/../lib/uvpn/libuvpn_shim.so", "/libuvpn_shim.so"}) {
    std::string p = dir + rel;
    if (Exists(p)) {
      char real[PATH_MAX];
      return realpath(p.c_str(), real) != nullptr ? std::string(real) : p;
    }
  }
  return "";
}

void SetEnv(const char* k, const std::string& v) { setenv(k, v.c_str(), 1); }

int64_t MonoMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitUvpnError;
}

}  // namespace

int RunMain(int argc, char** argv) {
  auto args = ParseArgs(argc, argv,
                        {{"routes", true}, {"site", true}, {"vip", true}, {"name", true}, {"shim", true},
                         {"timeout-ms", true}, {"quiet", false}, {"mode", true}},
                        /*stop_at_positional=*/true);
  if (!args) {
    fprintf(stderr, "uvpn run: %s\n", args.error().message().c_str());
    return kExitUsage;
  }
  if (args->rest.empty()) {
    fprintf(stderr, "uvpn run: no command given (uvpn run [options] -- COMMAND [ARGS...])\n");
    return kExitUsage;
  }
  std::string path = FlagOrEnv(*args, "routes", "UVPN_ROUTES");
  std::string site_name = FlagOrEnv(*args, "site", "UVPN_SITE");
  if (path.empty() || site_name.empty()) {
    fprintf(stderr, "uvpn run: --routes and --site are required (or UVPN_ROUTES and UVPN_SITE)\n");
    return kExitUsage;
  }
  auto table = routes::Load(path);
  if (!table) {
    fprintf(stderr, "uvpn run: %s\n", table.error().message().c_str());
    return kExitUvpnError;
  }
  const routes::Site* site = table->FindSite(site_name);
  if (site == nullptr) {
    fprintf(stderr, "uvpn run: site '%s' is not in %s\n", site_name.c_str(), path.c_str());
    return kExitUvpnError;
  }
  Ip4 want = 0;
  if (args->has("vip")) {
    auto ip = ParseIp4(args->get("vip"));
    if (!ip) {
      fprintf(stderr, "uvpn run: --vip: %s\n", ip.error().message().c_str());
      return kExitUsage;
    }
    want = *ip;
  }
  // --- --mode (docs/trace.md): auto = ptrace for a static binary, which no preload library can reach.
  std::string mode_note;
  auto launch = trace::ChooseLaunch(args->get("mode"), args->rest[0], &mode_note);
  if (!launch) {
    fprintf(stderr, "uvpn run: %s\n", launch.error().message().c_str());
    return kExitUsage;
  }
  if (!mode_note.empty() && !args->has("quiet")) fprintf(stderr, "uvpn run: %s\n", mode_note.c_str());
  const bool traced = *launch != trace::Launch::kPreload;
  // --- end --mode
  std::string shim = FindShim(*args);
  if (!traced && (shim.empty() || !Exists(shim))) {
    fprintf(stderr, "uvpn run: preload library not found (give --shim PATH or UVPN_SHIM)\n");
    return kExitUvpnError;
  }
  int timeout_ms = args->has("timeout-ms") ? atoi(args->get("timeout-ms").c_str()) : 10000;
  if (timeout_ms <= 0 || timeout_ms > 600000) {
    fprintf(stderr, "uvpn run: --timeout-ms must be in 1..600000\n");
    return kExitUsage;
  }
  if (std::string n = args->get("name"); !n.empty() && !proto::ValidHostName(n.data(), n.size())) {
    fprintf(stderr, "uvpn run: bad --name '%s': 1..63 of [A-Za-z0-9._-]\n", n.c_str());
    return kExitUsage;
  }
  // The session secret beside the route file (docs/security.md): with it the registration is signed and the
  // program's headers carry MACs under the lease key. A session without one (routers run --insecure-plaintext)
  // registers in clear; a secret that exists but does not load is an error, never silently ignored.
  uint8_t nk[proto::kAuthKeySize];
  bool have_nk = false;
  {
    std::string sp = routes::SecretPath(path);
    if (access(sp.c_str(), F_OK) == 0 || errno != ENOENT) {
      auto secret = routes::LoadSecret(sp);
      if (!secret) {
        fprintf(stderr, "uvpn run: %s\n", secret.error().message().c_str());
        return kExitUvpnError;
      }
      proto::DeriveNodeKey(secret->data(), nk);
      proto::Wipe(secret->data(), secret->size());
      have_nk = true;
    }
  }
  auto lease = Register(site->node, want, args->get("name"), timeout_ms, have_nk ? nk : nullptr);
  if (!lease) {
    fprintf(stderr, "uvpn run: %s\n", lease.error().message().c_str());
    return kExitUvpnError;
  }

  std::string conf = "v1 net=" + FormatCidr(lease->network) + " router=" + FormatEndpoint(site->node) +
                     " vip=" + FormatIp4(lease->vip) + " real=" + FormatIp4(lease->real_ip) +
                     " timeout_ms=20000 name=" + lease->name;
  if (lease->keyed) {
    char hex[2 * proto::kAuthKeySize];
    proto::KeyToHex(lease->key, hex);
    conf += " key=" + std::string(hex, sizeof hex);
  }
  SetEnv("UVPN_SHIM_CONFIG", conf);
  const char* old = getenv("LD_PRELOAD");
  if (!traced) SetEnv("LD_PRELOAD", old != nullptr && *old != 0 ? shim + ":" + old : shim);
  // --- --mode ptrace: the monitor gets the library's configuration line (docs/trace.md).
  auto trace_opt = trace::ParseConfigLine(conf);
  if (traced && !trace_opt) {
    fprintf(stderr, "uvpn run: %s\n", trace_opt.error().message().c_str());
    return kExitUvpnError;
  }
  if (traced)
    trace_opt->mode = *launch == trace::Launch::kPtraceAll ? trace::Mode::kPtraceAll : trace::Mode::kPtrace;
  // --- end --mode
  SetEnv("UVPN_VIP", FormatIp4(lease->vip));
  SetEnv("UVPN_HOSTNAME", lease->name);
  SetEnv("UVPN_ROUTES", path);
  SetEnv("UVPN_SITE", site_name);

  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&mask, s);
  sigset_t old_mask;
  sigprocmask(SIG_BLOCK, &mask, &old_mask);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0) {
    fprintf(stderr, "uvpn run: signalfd: %s\n", strerror(errno));
    return kExitUvpnError;
  }

  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "uvpn run: fork: %s\n", strerror(errno));
    return kExitUvpnError;
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    if (traced) _exit(trace::Run(*trace_opt, args->rest));  // --mode ptrace: this child is the monitor
    std::vector<char*> av;
    for (auto& s : args->rest) av.push_back(s.data());
    av.push_back(nullptr);
    execvp(av[0], av.data());
    fprintf(stderr, "uvpn run: cannot run '%s': %s\n", av[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }

  const Endpoint router = site->node;
  const Ip4 vip = lease->vip;
  const std::string name = lease->name;
  uint32_t seq = 0;
  bool have_lease = true;
  int retry_ms = 500;
  // Heartbeats and re-registration attempts run on a deadline, not on poll's idle timeout: signals to forward
  // (or anything else that wakes poll) more often than the interval must not starve the heartbeat.
  int64_t due_ms = MonoMs() + lease->heartbeat_s * 1000LL;
  for (;;) {
    pollfd p[2] = {{sfd, POLLIN, 0}, {have_lease ? lease->conn.get() : -1, POLLIN, 0}};
    int64_t left = due_ms - MonoMs();
    int rc = poll(p, 2, left > 0 ? static_cast<int>(left) : 0);
    if (rc < 0 && errno != EINTR) break;
    if (MonoMs() >= due_ms) {
      if (have_lease) {
        (void)SendHeartbeat(*lease, ++seq);
      } else {
        auto again = Register(router, vip, name, 2000, have_nk ? nk : nullptr);
        if (again) {
          lease = std::move(again);
          have_lease = true;
          fprintf(stderr, "uvpn run: registered again with %s as %s\n", FormatEndpoint(router).c_str(),
                  FormatIp4(lease->vip).c_str());
        } else if (retry_ms < 10000) {
          retry_ms *= 2;
        }
      }
      due_ms = MonoMs() + (have_lease ? lease->heartbeat_s * 1000LL : retry_ms);
    }
    if (rc <= 0) continue;
    if (have_lease && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      if (Status st = DrainRouter(*lease); !st.ok()) {
        fprintf(stderr, "uvpn run: lost the lease at %s (%s); re-registering\n", FormatEndpoint(router).c_str(),
                st.message().c_str());
        have_lease = false;
        retry_ms = 500;
        due_ms = MonoMs() + retry_ms;
      }
    }
    if ((p[0].revents & POLLIN) != 0) {
      signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) != sizeof si) continue;
      if (si.ssi_signo == SIGCHLD) {
        int status = 0;
        pid_t r = waitpid(child, &status, WNOHANG);
        if (r == child) return ExitCodeOf(status);
        continue;
      }
      // Terminal signals (sent by the kernel to the whole process group) already reached the command.
      bool from_tty = si.ssi_pid == 0 && (si.ssi_signo == SIGINT || si.ssi_signo == SIGQUIT);
      if (!from_tty) kill(child, static_cast<int>(si.ssi_signo));
    }
  }
  int status = 0;
  waitpid(child, &status, 0);
  return ExitCodeOf(status);
}

}  // namespace uvpn::cli
