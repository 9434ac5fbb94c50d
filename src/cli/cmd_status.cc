// uvpn status: asks a router for its status over its Unix control socket and prints the answer (text or JSON).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "routes/routes.h"

namespace uvpn::cli {

int StatusMain(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {{"control", true}, {"routes", true}, {"site", true}, {"json", false}});
  if (!args) {
    fprintf(stderr, "uvpn status: %s\n", args.error().message().c_str());
    return kExitUsage;
  }
  std::string control = args->get("control");
  if (control.empty()) {
    std::string path = FlagOrEnv(*args, "routes", "UVPN_ROUTES");
    std::string site = FlagOrEnv(*args, "site", "UVPN_SITE");
    if (path.empty() || site.empty()) {
      fprintf(stderr, "uvpn status: give --control SOCK, or --routes FILE and --site NAME\n");
      return kExitUsage;
    }
    auto table = routes::Load(path);
    if (!table) {
      fprintf(stderr, "uvpn status: %s\n", table.error().message().c_str());
      return kExitUvpnError;
    }
    control = routes::DefaultControlPath(table->session, site);
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (control.size() >= sizeof sa.sun_path) {
    fprintf(stderr, "uvpn status: control path too long: %s\n", control.c_str());
    return kExitUsage;
  }
  memcpy(sa.sun_path, control.c_str(), control.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    fprintf(stderr, "uvpn status: cannot reach the router at %s: %s\n", control.c_str(), strerror(errno));
    if (fd >= 0) close(fd);
    return kExitUvpnError;
  }
  const char* req = args->has("json") ? "json\n" : "text\n";
  if (write(fd, req, strlen(req)) < 0) {
    fprintf(stderr, "uvpn status: %s\n", strerror(errno));
    close(fd);
    return kExitUvpnError;
  }
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, static_cast<size_t>(n), stdout);
  close(fd);
  return n < 0 ? kExitUvpnError : 0;
}

}  // namespace uvpn::cli
