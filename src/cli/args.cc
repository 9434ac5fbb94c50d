#include "cli/args.h"

#include <cstdlib>
#include <cstring>

namespace uvpn::cli {

std::string Args::get(const std::string& k, const std::string& def) const {
  auto it = values.find(k);
  return it == values.end() || it->second.empty() ? def : it->second.back();
}

Result<Args> ParseArgs(int argc, char** argv, const std::vector<FlagSpec>& specs, bool stop_at_positional) {
  Args a;
  for (int i = 0; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--") {
      for (++i; i < argc; ++i) a.rest.emplace_back(argv[i]);
      break;
    }
    if (s.rfind("--", 0) != 0 || s.size() == 2) {
      if (stop_at_positional) {
        for (; i < argc; ++i) a.rest.emplace_back(argv[i]);
        break;
      }
      a.rest.push_back(s);
      continue;
    }
    std::string key = s.substr(2);
    std::string val;
    bool inline_val = false;
    if (auto eq = key.find('='); eq != std::string::npos) {
      val = key.substr(eq + 1);
      key = key.substr(0, eq);
      inline_val = true;
    }
    const FlagSpec* spec = nullptr;
    for (const auto& f : specs)
      if (key == f.name) spec = &f;
    if (spec == nullptr) return Status::Invalid("unknown option --" + key);
    if (spec->takes_value && !inline_val) {
      if (i + 1 >= argc) return Status::Invalid("option --" + key + " needs a value");
      val = argv[++i];
    } else if (!spec->takes_value && inline_val) {
      return Status::Invalid("option --" + key + " takes no value");
    }
    auto& vs = a.values[key];
    if (!vs.empty() && !spec->repeated) return Status::Invalid("option --" + key + " given twice");
    vs.push_back(val);
  }
  return a;
}

std::string FlagOrEnv(const Args& a, const std::string& k, const char* env) {
  if (a.has(k)) return a.get(k);
  const char* e = getenv(env);
  return e != nullptr ? e : "";
}

}  // namespace uvpn::cli
