// The uvpn subcommands. Each takes the arguments after its name and returns the process exit code.
#pragma once

namespace uvpn::cli {

int SessionMain(int argc, char** argv);  // uvpn session new ...
int RouterMain(int argc, char** argv);   // uvpn router ...
int RunMain(int argc, char** argv);      // uvpn run ... -- cmd
int StatusMain(int argc, char** argv);   // uvpn status ...
int ChaosMain(int argc, char** argv);    // uvpn chaos ... cut|restore|reset SITE
int ResolveMain(int argc, char** argv);  // uvpn resolve NAME|VIP

// Exit code for "uvpn could not do its own part" (registration failed, bad options): EX_SOFTWARE.
inline constexpr int kExitUvpnError = 70;
inline constexpr int kExitUsage = 64;  // EX_USAGE

}  // namespace uvpn::cli
