// Test driver for the subnet router: `uvpn_router_testmain --routes FILE --site NAME [--control SOCK]
// [--log-level L] [--connect-timeout-ms N] [--heartbeat-s N] [--secret FILE]`. Without --secret the WAN speaks
// plaintext (protocol version 1), which is what the wire-level tests drive. The real command is `uvpn router`; this exists
// so the router's integration tests do not depend on the CLI.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/log.h"
#include "router/router.h"
#include "routes/routes.h"
#include "routes/secret.h"

int main(int argc, char** argv) {
  std::string routes_path, site, control;
  uvpn::router::Options opt;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--routes") {
      routes_path = v;
    } else if (k == "--site") {
      site = v;
    } else if (k == "--control") {
      control = v;
    } else if (k == "--log-level") {
      uvpn::log::Level l;
      if (!uvpn::log::ParseLevel(v.c_str(), &l)) return 2;
      uvpn::log::SetLevel(l);
    } else if (k == "--connect-timeout-ms") {
      opt.connect_timeout_ms = atoi(v.c_str());
    } else if (k == "--header-timeout-ms") {
      opt.header_timeout_ms = atoi(v.c_str());
    } else if (k == "--heartbeat-s") {
      opt.heartbeat_s = atoi(v.c_str());
    } else if (k == "--secret") {
      auto sec = uvpn::routes::LoadSecret(v);
      if (!sec) {
        fprintf(stderr, "%s\n", sec.error().message().c_str());
        return 1;
      }
      opt.secret = *sec;
    } else {
      fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  auto table = uvpn::routes::Load(routes_path);
  if (!table) {
    fprintf(stderr, "%s\n", table.error().message().c_str());
    return 1;
  }
  opt.table = std::move(*table);
  opt.site = site;
  uvpn::log::SetTag(("router " + site).c_str());
  opt.control_path = control;
  return uvpn::router::Run(opt);
}
