// uvpn session new: builds a route table from the command line, validates it, and writes .uvpn_route_<id> and,
// beside it, the session secret .uvpn_secret_<id> (docs/security.md; routes/secret.h).
// Subnets not given are assigned in site order: the k-th site gets the k-th /24 of the network (k from 1).
// Re-running with the same id and dir rewrites the route file (as before) but keeps the existing secret, which must
// load cleanly (mode 0600, owned by the user, well-formed) or the command fails before writing anything: a session's
// sites share one secret, so it is never replaced silently. Output: the route file's path, then the secret's path,
// one per line (after the table when --print is given). The secret itself is never printed.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "routes/routes.h"
#include "routes/secret.h"

namespace uvpn::cli {
namespace {

std::string RandomId() {
  unsigned char b[4] = {};
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, b, sizeof b);
    (void)n;
    close(fd);
  }
  char s[9];
  snprintf(s, sizeof s, "%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
  return s;
}

// "NAME,peer=IP:PORT,node=IP:PORT[,subnet=CIDR]"
Result<routes::Site> ParseSiteSpec(const std::string& spec, bool* has_subnet) {
  routes::Site site;
  *has_subnet = false;
  size_t pos = spec.find(',');
  site.name = spec.substr(0, pos);
  bool peer = false, node = false;
  while (pos != std::string::npos) {
    size_t next = spec.find(',', pos + 1);
    std::string kv = spec.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    pos = next;
    size_t eq = kv.find('=');
    if (eq == std::string::npos) return Status::Invalid("--site " + spec + ": expected key=value, got '" + kv + "'");
    std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    if (k == "peer" || k == "node") {
      auto ep = ParseEndpoint(v);
      if (!ep) return Status::Invalid("--site " + spec + ": " + ep.error().message());
      (k == "peer" ? site.peer : site.node) = *ep;
      (k == "peer" ? peer : node) = true;
    } else if (k == "subnet") {
      auto c = ParseCidr(v, 8, 30);
      if (!c) return Status::Invalid("--site " + spec + ": " + c.error().message());
      site.subnet = *c;
      *has_subnet = true;
    } else {
      return Status::Invalid("--site " + spec + ": unknown key '" + k + "'");
    }
  }
  if (!peer || !node) return Status::Invalid("--site " + spec + ": peer= and node= are required");
  return site;
}

}  // namespace

int SessionMain(int argc, char** argv) {
  if (argc < 1 || std::string(argv[0]) != "new") {
    fprintf(stderr, "usage: uvpn session new --id ID [--network CIDR] [--dir DIR] --site SPEC ...\n");
    return kExitUsage;
  }
  auto args = ParseArgs(argc - 1, argv + 1,
                        {{"id", true}, {"network", true}, {"dir", true}, {"site", true, true}, {"print", false}});
  if (!args) {
    fprintf(stderr, "uvpn session new: %s\n", args.error().message().c_str());
    return kExitUsage;
  }
  routes::RouteTable t;
  t.session = args->get("id", RandomId());
  auto net = ParseCidr(args->get("network", "100.97.0.0/16"), 8, 30);
  if (!net) {
    fprintf(stderr, "uvpn session new: --network: %s\n", net.error().message().c_str());
    return kExitUsage;
  }
  t.network = *net;
  int k = 0;
  for (const auto& spec : args->values["site"]) {
    ++k;
    bool has_subnet = false;
    auto site = ParseSiteSpec(spec, &has_subnet);
    if (!site) {
      fprintf(stderr, "uvpn session new: %s\n", site.error().message().c_str());
      return kExitUsage;
    }
    if (!has_subnet) {
      if (t.network.prefix > 23 || k >= (1 << (24 - t.network.prefix))) {
        fprintf(stderr, "uvpn session new: no free /24 for site %s in %s: give subnet=\n", site->name.c_str(),
                FormatCidr(t.network).c_str());
        return kExitUsage;
      }
      site->subnet = Cidr{t.network.base + (static_cast<Ip4>(k) << 8), 24};
    }
    t.sites.push_back(*site);
  }
  if (Status st = routes::Validate(t); !st.ok()) {
    fprintf(stderr, "uvpn session new: %s\n", st.message().c_str());
    return kExitUsage;
  }
  std::string dir = args->get("dir");
  if (dir.empty()) dir = getenv("HOME") != nullptr ? getenv("HOME") : ".";
  std::string path = dir + "/" + routes::FileName(t.session);
  std::string secret_path = routes::SecretPath(path);
  if (Status st = routes::CreateSecret(secret_path); !st.ok()) {
    if (st.code() != EEXIST) {
      fprintf(stderr, "uvpn session new: %s\n", st.message().c_str());
      return kExitUvpnError;
    }
    auto existing = routes::LoadSecret(secret_path);  // kept, but only if it is a valid secret
    if (!existing) {
      fprintf(stderr, "uvpn session new: existing session secret unusable: %s (fix or remove it)\n",
              existing.error().message().c_str());
      return kExitUvpnError;
    }
  }
  if (Status st = routes::Save(t, path); !st.ok()) {
    fprintf(stderr, "uvpn session new: %s\n", st.message().c_str());
    return kExitUvpnError;
  }
  if (args->has("print")) fputs(routes::Format(t).c_str(), stdout);
  printf("%s\n%s\n", path.c_str(), secret_path.c_str());
  return 0;
}

}  // namespace uvpn::cli
