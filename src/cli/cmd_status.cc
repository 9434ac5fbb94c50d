// uvpn status and uvpn chaos: both talk to a router over its Unix control socket (one request line, the answer
// until the router closes). `status` prints the report (text or JSON); `chaos` sends a fault-injection command
// (docs/outage.md "Fault injection") and prints the router's "ok" or fails with its "error: ..." line.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "routes/routes.h"

namespace uvpn::cli {
namespace {

// The control socket named by --control, else derived from --routes/--site (or their environment variables).
// Empty with a message printed on error.
std::string ControlPath(const Args& args, const char* cmd) {
  std::string control = args.get("control");
  if (!control.empty()) return control;
  std::string path = FlagOrEnv(args, "routes", "UVPN_ROUTES");
  std::string site = FlagOrEnv(args, "site", "UVPN_SITE");
  if (path.empty() || site.empty()) {
    fprintf(stderr, "uvpn %s: give --control SOCK, or --routes FILE and --site NAME\n", cmd);
    return "";
  }
  auto table = routes::Load(path);
  if (!table) {
    fprintf(stderr, "uvpn %s: %s\n", cmd, table.error().message().c_str());
    return "";
  }
  return routes::DefaultControlPath(table->session, site);
}

// Sends `req` (one line) and reads the whole answer into *out. Returns an exit code (0 on success).
int Request(const std::string& control, const std::string& req, std::string* out, const char* cmd) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (control.size() >= sizeof sa.sun_path) {
    fprintf(stderr, "uvpn %s: control path too long: %s\n", cmd, control.c_str());
    return kExitUsage;
  }
  memcpy(sa.sun_path, control.c_str(), control.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    fprintf(stderr, "uvpn %s: cannot reach the router at %s: %s\n", cmd, control.c_str(), strerror(errno));
    if (fd >= 0) close(fd);
    return kExitUvpnError;
  }
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    fprintf(stderr, "uvpn %s: %s\n", cmd, strerror(errno));
    close(fd);
    return kExitUvpnError;
  }
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out->append(buf, static_cast<size_t>(n));
  close(fd);
  if (n < 0) {
    fprintf(stderr, "uvpn %s: %s\n", cmd, strerror(errno));
    return kExitUvpnError;
  }
  return 0;
}

}  // namespace

int StatusMain(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {{"control", true}, {"routes", true}, {"site", true}, {"json", false}});
  if (!args) {
    fprintf(stderr, "uvpn status: %s\n", args.error().message().c_str());
    return kExitUsage;
  }
  std::string control = ControlPath(*args, "status");
  if (control.empty()) return kExitUsage;
  std::string out;
  int rc = Request(control, args->has("json") ? "json\n" : "text\n", &out, "status");
  fwrite(out.data(), 1, out.size(), stdout);
  return rc;
}

int ChaosMain(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {{"control", true}, {"routes", true}, {"site", true}, {"for", true}});
  const char* usage =
      "usage: uvpn chaos (--control SOCK | --routes FILE --site NAME) cut SITE [--for SECONDS] | restore SITE | "
      "reset SITE\n";
  if (!args) {
    fprintf(stderr, "uvpn chaos: %s\n%s", args.error().message().c_str(), usage);
    return kExitUsage;
  }
  if (args->rest.size() != 2) {
    fputs(usage, stderr);
    return kExitUsage;
  }
  const std::string& verb = args->rest[0];
  const std::string& site = args->rest[1];
  if (verb != "cut" && verb != "restore" && verb != "reset") {
    fprintf(stderr, "uvpn chaos: unknown action '%s'\n%s", verb.c_str(), usage);
    return kExitUsage;
  }
  std::string req = "chaos " + verb + " " + site;
  if (verb == "cut") {
    long ms = 0;
    if (args->has("for")) {
      char* end = nullptr;
      double s = strtod(args->get("for").c_str(), &end);
      if (!end || *end != '\0' || !(s > 0) || s > 86400 * 30) {
        fprintf(stderr, "uvpn chaos: bad --for '%s' (seconds, > 0)\n", args->get("for").c_str());
        return kExitUsage;
      }
      ms = static_cast<long>(s * 1000);
      if (ms == 0) ms = 1;
    }
    req += " " + std::to_string(ms);
  }
  req += "\n";
  std::string control = ControlPath(*args, "chaos");
  if (control.empty()) return kExitUsage;
  std::string out;
  if (int rc = Request(control, req, &out, "chaos"); rc != 0) return rc;
  if (out.rfind("ok", 0) == 0) {
    fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }
  fprintf(stderr, "uvpn chaos: %s", out.empty() ? "no answer from the router\n" : out.c_str());
  return kExitUvpnError;
}

}  // namespace uvpn::cli
