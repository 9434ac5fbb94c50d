// uvpn resolve: asks the home router what the overlay knows about a host name or a virtual IP (debugging aid
// for the resolver hooks of the preload library; docs/protocol.md section 8).
//
// Theory of operation: one RESOLVE (name) or RESOLVE_ADDR (dotted quad) datagram to the site's node endpoint,
// re-sent after 20 ms doubling to 200 ms until --timeout-ms. Prints "VIP NAME" (the format of `getent hosts`)
// and exits 0; exits 2 if the router answers "not found" (like getent), 70 if it does not answer.
// `--all` prints the whole table instead (HOSTS_LIST pages, protocol.md section 13) in /etc/hosts format, the
// file the ptrace monitor serves (trace/hosts.h).
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "proto/wire.h"
#include "routes/routes.h"
#include "sysio/fd.h"
#include "sysio/net.h"
#include "trace/hosts.h"

namespace uvpn::cli {
namespace {

constexpr int kExitNotFound = 2;

// Sends `q` (n bytes) to `router` until a RESOLVE_REPLY with `qid` arrives or `timeout_ms` passes.
bool Exchange(const Endpoint& router, const uint8_t* q, size_t n, uint32_t qid, int timeout_ms,
              proto::ResolveReplyMsg* rep) {
  sysio::Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return false;
  sockaddr_in sa = sysio::ToSockaddr(router);
  if (connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return false;
  int interval = 20;
  for (int waited = 0; waited < timeout_ms;) {
    (void)send(s.get(), q, n, MSG_NOSIGNAL);
    int wait = std::min(interval, timeout_ms - waited);
    pollfd p{s.get(), POLLIN, 0};
    if (poll(&p, 1, wait) > 0) {
      uint8_t in[proto::kResolveReplyMax];
      ssize_t r = recv(s.get(), in, sizeof in, MSG_DONTWAIT);
      size_t used;
      if (r > 0 && proto::Decode(in, static_cast<size_t>(r), rep, &used) == proto::Parse::kOk &&
          rep->query_id == qid)
        return true;
      if (r < 0 && errno == ECONNREFUSED) usleep(static_cast<useconds_t>(wait) * 1000);
    }
    waited += wait;
    interval = std::min(interval * 2, 200);
  }
  return false;
}

}  // namespace

int ResolveMain(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {{"routes", true}, {"site", true}, {"timeout-ms", true}, {"all", false}});
  if (!args) {
    fprintf(stderr, "uvpn resolve: %s\n", args.error().message().c_str());
    return kExitUsage;
  }
  if (args->rest.size() != (args->has("all") ? 0u : 1u)) {
    fprintf(stderr,
            "uvpn resolve: give one NAME or VIP, or --all (uvpn resolve [--routes FILE --site NAME] NAME|VIP|--all)\n");
    return kExitUsage;
  }
  std::string path = FlagOrEnv(*args, "routes", "UVPN_ROUTES");
  std::string site_name = FlagOrEnv(*args, "site", "UVPN_SITE");
  if (path.empty() || site_name.empty()) {
    fprintf(stderr, "uvpn resolve: --routes and --site are required (or UVPN_ROUTES and UVPN_SITE)\n");
    return kExitUsage;
  }
  auto table = routes::Load(path);
  if (!table) {
    fprintf(stderr, "uvpn resolve: %s\n", table.error().message().c_str());
    return kExitUvpnError;
  }
  const routes::Site* site = table->FindSite(site_name);
  if (site == nullptr) {
    fprintf(stderr, "uvpn resolve: site '%s' is not in %s\n", site_name.c_str(), path.c_str());
    return kExitUvpnError;
  }
  int timeout_ms = args->has("timeout-ms") ? atoi(args->get("timeout-ms").c_str()) : 2000;
  if (timeout_ms <= 0) timeout_ms = 2000;

  if (args->has("all")) {
    auto all = trace::FetchHosts(site->node, timeout_ms);
    if (!all) {
      fprintf(stderr, "uvpn resolve: %s\n", all.error().message().c_str());
      return kExitUvpnError;
    }
    fputs(trace::FormatHosts(*all).c_str(), stdout);
    return 0;
  }
  const std::string& key = args->rest[0];
  uint32_t qid = static_cast<uint32_t>(getpid()) * 2654435761u;
  uint8_t q[proto::kResolveMax];
  size_t n = 0;
  if (auto ip = ParseIp4(key)) {
    proto::ResolveAddrMsg m{qid, *ip};
    n = proto::Encode(m, q, sizeof q);
  } else {
    std::string name = key;
    if (!name.empty() && name.back() == '.') name.pop_back();
    if (!proto::ValidHostName(name.data(), name.size())) {
      fprintf(stderr, "uvpn resolve: '%s' is neither a virtual IP nor a host name\n", key.c_str());
      return kExitUsage;
    }
    proto::ResolveMsg m;
    m.query_id = qid;
    m.name_len = static_cast<uint8_t>(name.size());
    memcpy(m.name, name.data(), name.size());
    n = proto::Encode(m, q, sizeof q);
  }
  proto::ResolveReplyMsg rep;
  if (!Exchange(site->node, q, n, qid, timeout_ms, &rep)) {
    fprintf(stderr, "uvpn resolve: no answer from the router at %s\n", FormatEndpoint(site->node).c_str());
    return kExitUvpnError;
  }
  if (!rep.found) {
    fprintf(stderr, "uvpn resolve: %s: not found in session %s\n", key.c_str(), table->session.c_str());
    return kExitNotFound;
  }
  printf("%s %.*s\n", FormatIp4(rep.vip).c_str(), static_cast<int>(rep.name_len), rep.name);
  return 0;
}

}  // namespace uvpn::cli
