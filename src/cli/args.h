// Minimal command-line flag reader for the uvpn subcommands: "--key value", "--key=value", boolean "--flag",
// repeated flags, and "--" ending flags. Unknown flags are errors. Not thread-safe; start-up only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace uvpn::cli {

struct FlagSpec {
  const char* name;   // without "--"
  bool takes_value;
  bool repeated = false;
};

struct Args {
  std::map<std::string, std::vector<std::string>> values;  // flag -> values ("" for booleans)
  std::vector<std::string> rest;                            // positional args and everything after "--"
  bool has(const std::string& k) const { return values.count(k) != 0; }
  // Last value of `k`, else `def`.
  std::string get(const std::string& k, const std::string& def = "") const;
};

// With `stop_at_positional`, the first non-option argument ends option parsing (it and everything after it go to
// `rest`), so `uvpn run [options] prog --flag` leaves --flag to prog.
Result<Args> ParseArgs(int argc, char** argv, const std::vector<FlagSpec>& specs, bool stop_at_positional = false);

// Value of flag `k`, else environment variable `env`, else "".
std::string FlagOrEnv(const Args& a, const std::string& k, const char* env);

}  // namespace uvpn::cli
