// uvpn: the command-line entry point. Dispatches to the subcommands in commands.h.
#include <cstdio>
#include <cstring>

#include "cli/commands.h"

namespace {
const char kUsage[] =
    "usage: uvpn <command> [options]\n"
    "  session new --id ID [--network CIDR] [--dir DIR] --site NAME,peer=IP:PORT,node=IP:PORT[,subnet=CIDR] ...\n"
    "  router --routes FILE --site NAME [--control SOCK] [--log-level debug|info|warn|error]\n"
    "         [--no-resume] [--link-timeout-ms N] [--redial-max-ms N] [--outage-deadline S]\n"
    "         [--replay-window BYTES] [--replay-memory BYTES] [--spill-dir DIR] [--spill-quota BYTES]\n"
    "  run    --routes FILE --site NAME [--vip IP] [--name HOST] [--mode auto|preload|ptrace|ptrace-all]\n"
    "         [--shim PATH] -- COMMAND [ARGS...]\n"
    "  status (--control SOCK | --routes FILE --site NAME) [--json]\n"
    "  resolve [--routes FILE --site NAME] [--timeout-ms N] NAME|VIP|--all\n"
    "  chaos  (--control SOCK | --routes FILE --site NAME) cut SITE [--for SECONDS] | restore SITE | reset SITE\n"
    "Environment: UVPN_ROUTES and UVPN_SITE stand in for --routes and --site.\n"
    "Docs: docs/architecture.md, docs/protocol.md, docs/route-table.md, docs/outage.md\n";
}

int main(int argc, char** argv) {
  using namespace uvpn::cli;
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitUsage : 0;
  }
  const char* cmd = argv[1];
  if (strcmp(cmd, "session") == 0) return SessionMain(argc - 2, argv + 2);
  if (strcmp(cmd, "router") == 0) return RouterMain(argc - 2, argv + 2);
  if (strcmp(cmd, "run") == 0) return RunMain(argc - 2, argv + 2);
  if (strcmp(cmd, "status") == 0) return StatusMain(argc - 2, argv + 2);
  if (strcmp(cmd, "chaos") == 0) return ChaosMain(argc - 2, argv + 2);
  if (strcmp(cmd, "resolve") == 0) return ResolveMain(argc - 2, argv + 2);
  fprintf(stderr, "uvpn: unknown command '%s'\n%s", cmd, kUsage);
  return kExitUsage;
}
