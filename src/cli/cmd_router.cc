// uvpn router: loads the route table and runs the subnet router of one site until SIGTERM/SIGINT.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/log.h"
#include "router/router.h"
#include "routes/secret.h"

namespace uvpn::cli {

int RouterMain(int argc, char** argv) {
  auto args = ParseArgs(argc, argv,
                        {{"routes", true}, {"site", true}, {"control", true}, {"log-level", true},
                         {"connect-timeout-ms", true}, {"no-resume", false}, {"link-timeout-ms", true},
                         {"redial-max-ms", true}, {"outage-deadline", true}, {"replay-window", true},
                         {"replay-memory", true}, {"spill-dir", true}, {"spill-quota", true},
                         {"secret", true}, {"insecure-plaintext", false}, {"leg-pool", true}});
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
  // Outage tolerance (docs/outage.md "Configuration"); every number must parse and lie in its range.
  struct NumFlag {
    const char* name;
    uint64_t min, max;
    uint64_t value;
  };
  NumFlag nums[] = {{"link-timeout-ms", 300, 600000, static_cast<uint64_t>(opt.link_timeout_ms)},
                    {"redial-max-ms", 50, 3600000, static_cast<uint64_t>(opt.redial_max_ms)},
                    {"outage-deadline", 1, 30 * 86400, static_cast<uint64_t>(opt.outage_deadline_s)},
                    {"replay-window", 65536, 1u << 30, opt.replay_window},
                    {"replay-memory", 0, 1ull << 40, opt.replay_memory},
                    {"spill-quota", 0, 1ull << 50, opt.spill_quota},
                    {"leg-pool", 0, 64, static_cast<uint64_t>(opt.leg_pool)}};
  for (auto& f : nums) {
    if (!args->has(f.name)) continue;
    const std::string v = args->get(f.name);
    char* end = nullptr;
    unsigned long long x = strtoull(v.c_str(), &end, 10);
    if (v.empty() || !end || *end != '\0' || x < f.min || x > f.max) {
      fprintf(stderr, "uvpn router: bad --%s '%s' (want %llu..%llu)\n", f.name, v.c_str(),
              static_cast<unsigned long long>(f.min), static_cast<unsigned long long>(f.max));
      return kExitUsage;
    }
    f.value = x;
  }
  opt.link_timeout_ms = static_cast<int>(nums[0].value);
  opt.redial_max_ms = static_cast<int>(nums[1].value);
  opt.outage_deadline_s = static_cast<int>(nums[2].value);
  opt.replay_window = static_cast<size_t>(nums[3].value);
  opt.replay_memory = static_cast<size_t>(nums[4].value);
  opt.spill_quota = nums[5].value;
  opt.leg_pool = static_cast<int>(nums[6].value);
  if ((opt.replay_window & (opt.replay_window - 1)) != 0) {
    fprintf(stderr, "uvpn router: --replay-window must be a power of two\n");
    return kExitUsage;
  }
  opt.spill_dir = args->get("spill-dir");
  const char* env_resume = getenv("UVPN_ROUTER_RESUME");
  opt.resume = !args->has("no-resume") && !(env_resume && strcmp(env_resume, "0") == 0);
  // The session secret (docs/security.md): beside the route file unless --secret names it. Running without one
  // must be asked for explicitly: the WAN is then unauthenticated and in clear.
  if (args->has("insecure-plaintext")) {
    if (args->has("secret")) {
      fprintf(stderr, "uvpn router: --secret and --insecure-plaintext exclude each other\n");
      return kExitUsage;
    }
    LOG_WARN("--insecure-plaintext: router links and legs are neither authenticated nor encrypted");
  } else {
    std::string secret_path = args->has("secret") ? args->get("secret") : routes::SecretPath(path);
    auto secret = routes::LoadSecret(secret_path);
    if (!secret) {
      fprintf(stderr,
              "uvpn router: %s (the session secret: `uvpn session new` creates it; copy it to every site with the "
              "route file, mode 0600; or run with --insecure-plaintext)\n",
              secret.error().message().c_str());
      return kExitUvpnError;
    }
    opt.secret = *secret;
  }
  return router::Run(opt);
}

}  // namespace uvpn::cli
