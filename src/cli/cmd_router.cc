// uvpn router: loads the route table and runs the subnet router of one site until SIGTERM/SIGINT.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/log.h"
#include "router/router.h"

namespace uvpn::cli {

int RouterMain(int argc, char** argv) {
  auto args = ParseArgs(argc, argv,
                        {{"routes", true}, {"site", true}, {"control", true}, {"log-level", true},
                         {"connect-timeout-ms", true}});
  if (!args) {
    fprintf(stderr, "uvpn router: %s\n", args.error().message().c_str());
    return kExitUsage;
  }
  std::string path = FlagOrEnv(*args, "routes", "UVPN_ROUTES");
  std::string site = FlagOrEnv(*args, "site", "UVPN_SITE");
  if (path.empty() || site.empty()) {
    fprintf(stderr, "uvpn router: --routes and --site are required\n");
    return kExitUsage;
  }
  log::Level level = log::Level::kInfo;
  if (args->has("log-level") && !log::ParseLevel(args->get("log-level").c_str(), &level)) {
    fprintf(stderr, "uvpn router: bad --log-level '%s'\n", args->get("log-level").c_str());
    return kExitUsage;
  }
  log::SetLevel(level);
  log::SetTag(("uvpn-router " + site).c_str());
  auto table = routes::Load(path);
  if (!table) {
    fprintf(stderr, "uvpn router: %s\n", table.error().message().c_str());
    return kExitUvpnError;
  }
  if (table->FindSite(site) == nullptr) {
    fprintf(stderr, "uvpn router: site '%s' is not in %s\n", site.c_str(), path.c_str());
    return kExitUvpnError;
  }
  router::Options opt;
  opt.table = std::move(*table);
  opt.site = site;
  opt.control_path = args->get("control");
  if (args->has("connect-timeout-ms")) opt.connect_timeout_ms = std::atoi(args->get("connect-timeout-ms").c_str());
  return router::Run(opt);
}

}  // namespace uvpn::cli
