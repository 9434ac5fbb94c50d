// Route table parser, validator and writer (docs/route-table.md).
//
// Theory of operation: Parse walks the text once, line by line, enforcing the size limits (line count, line
// length, NUL bytes) before looking at a line's content. Each directive is checked on its own line (syntax,
// addresses, repeated keys); checks that relate several lines (missing directives, subnet inside network, overlap,
// duplicate site names) run at the end over the assembled table, in file order, through the same CheckSites that
// Validate uses for tables built in memory -- so both report the same problems, Parse with "<file>:<line>: " in
// front. The first problem found is returned. Limits are checked before content, so hostile input (megabytes
// without a newline, millions of lines, binary) costs one linear scan up to the first violated limit.
//
// Format writes the canonical text (one directive per line, fixed order); Parse(Format(t)) == t for every valid t.
// Save writes through a temporary file in the same directory and rename(2), so readers see the old or the new file,
// never a partial one.
#include "routes/routes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace uvpn::routes {
namespace {

constexpr size_t kMaxSessionLen = 64;
constexpr size_t kMaxSiteLen = 32;
constexpr int kMinNetworkPrefix = 8;
constexpr int kMaxPrefix = 30;

bool IdByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool ValidId(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s)
    if (!IdByte(c)) return false;
  return true;
}

// Quotes user text for an error message, cut short and with non-printable bytes escaped.
std::string Quote(std::string_view s) {
  std::string out = "'";
  size_t n = s.size() > 64 ? 64 : s.size();
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char b[8];
      snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  if (n < s.size()) out += "...";
  return out + "'";
}

// Splits a line (comment already removed) into tokens separated by spaces or tabs. Stores at most `max` of them
// in `tok` and returns how many there are (possibly more than `max`).
size_t Tokenize(std::string_view line, std::string_view* tok, size_t max) {
  size_t n = 0, i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (n < max) tok[n] = line.substr(start, i - start);
    ++n;
  }
  return n;
}

// Checks that relate several sites or the sites to the network, in file order. `lines` (parallel to t.sites)
// gives each site's line when parsing; it is null for tables built in memory, whose messages carry no location.
Status CheckSites(const RouteTable& t, std::string_view file, const std::vector<size_t>* lines) {
  auto where = [&](size_t i) {
    return lines ? std::string(file) + ":" + std::to_string((*lines)[i]) + ": " : std::string();
  };
  for (size_t i = 0; i < t.sites.size(); ++i) {
    const Site& s = t.sites[i];
    std::string ctx = where(i) + "site " + Quote(s.name) + ": ";
    if (!t.network.contains(s.subnet))
      return Status::Invalid(ctx + "subnet " + FormatCidr(s.subnet) + " is not inside network " +
                             FormatCidr(t.network));
    for (size_t j = 0; j < i; ++j) {
      const Site& o = t.sites[j];
      if (o.name == s.name)
        return Status::Invalid(ctx + "duplicate site name" +
                               (lines ? " (first on line " + std::to_string((*lines)[j]) + ")" : std::string()));
      if (o.subnet.overlaps(s.subnet))
        return Status::Invalid(ctx + "subnet " + FormatCidr(s.subnet) + " overlaps subnet " + FormatCidr(o.subnet) +
                               " of site " + Quote(o.name));
    }
  }
  return Status::Ok();
}

struct Parser {
  std::string_view file;
  size_t line = 0;
  RouteTable table;
  bool have_version = false, have_session = false, have_network = false;
  std::vector<size_t> site_lines;

  std::string At(size_t l) const { return std::string(file) + ":" + std::to_string(l) + ": "; }
  Status Err(const std::string& msg) const { return Status::Invalid(At(line) + msg); }

  Status Directive(std::string_view* tok, size_t n);
  Status SiteLine(std::string_view* tok, size_t n);
  Status Finish(size_t last_line);
};

constexpr size_t kMaxTokens = 8;  // "site" + name + 3 fields, with room to report extras

Status Parser::Directive(std::string_view* tok, size_t n) {
  std::string_view d = tok[0];
  if (!have_version) {
    if (d != "uvpn-route") return Err("expected 'uvpn-route 1' as the first directive, got " + Quote(d));
    if (n != 2) return Err("'uvpn-route' takes exactly one argument (the format version)");
    if (tok[1] != "1") return Err("unsupported format version " + Quote(tok[1]) + " (this build reads 1)");
    have_version = true;
    return Status::Ok();
  }
  if (d == "uvpn-route") return Err("repeated 'uvpn-route' directive");
  if (d == "session") {
    if (have_session) return Err("repeated 'session' directive");
    if (n != 2) return Err("'session' takes exactly one argument");
    if (!ValidId(tok[1], kMaxSessionLen))
      return Err("bad session id " + Quote(tok[1]) + ": expected 1..64 of [A-Za-z0-9_-]");
    table.session = std::string(tok[1]);
    have_session = true;
    return Status::Ok();
  }
  if (d == "network") {
    if (have_network) return Err("repeated 'network' directive");
    if (n != 2) return Err("'network' takes exactly one argument");
    auto c = ParseCidr(tok[1], kMinNetworkPrefix, kMaxPrefix);
    if (!c) return Err("network: " + c.error().message());
    table.network = *c;
    have_network = true;
    return Status::Ok();
  }
  if (d == "site") return SiteLine(tok, n);
  return Err("unknown directive " + Quote(d));
}

Status Parser::SiteLine(std::string_view* tok, size_t n) {
  if (n < 2) return Err("'site' needs a name and subnet=, peer=, node= fields");
  if (n > 5) return Err("too many fields for 'site' (expected name subnet= peer= node=)");
  Site s;
  if (!ValidId(tok[1], kMaxSiteLen)) return Err("bad site name " + Quote(tok[1]) + ": expected 1..32 of [A-Za-z0-9_-]");
  s.name = std::string(tok[1]);
  std::string ctx = "site " + Quote(s.name) + ": ";
  bool have_subnet = false, have_peer = false, have_node = false;
  for (size_t i = 2; i < n; ++i) {
    size_t eq = tok[i].find('=');
    if (eq == std::string_view::npos) return Err(ctx + "expected key=value, got " + Quote(tok[i]));
    std::string_view key = tok[i].substr(0, eq), value = tok[i].substr(eq + 1);
    if (key == "subnet") {
      if (have_subnet) return Err(ctx + "repeated key 'subnet'");
      auto c = ParseCidr(value, 0, kMaxPrefix);
      if (!c) return Err(ctx + "subnet: " + c.error().message());
      s.subnet = *c;
      have_subnet = true;
    } else if (key == "peer" || key == "node") {
      bool& have = key == "peer" ? have_peer : have_node;
      if (have) return Err(ctx + "repeated key " + Quote(key));
      auto ep = ParseEndpoint(value);
      if (!ep) return Err(ctx + std::string(key) + ": " + ep.error().message());
      (key == "peer" ? s.peer : s.node) = *ep;
      have = true;
    } else {
      return Err(ctx + "unknown key " + Quote(key));
    }
  }
  if (!have_subnet) return Err(ctx + "missing key 'subnet'");
  if (!have_peer) return Err(ctx + "missing key 'peer'");
  if (!have_node) return Err(ctx + "missing key 'node'");
  table.sites.push_back(std::move(s));
  site_lines.push_back(line);
  return Status::Ok();
}

Status Parser::Finish(size_t last_line) {
  size_t l = last_line == 0 ? 1 : last_line;
  if (!have_version) return Status::Invalid(At(l) + "missing 'uvpn-route 1' directive");
  if (!have_session) return Status::Invalid(At(l) + "missing 'session' directive");
  if (!have_network) return Status::Invalid(At(l) + "missing 'network' directive");
  if (table.sites.empty()) return Status::Invalid(At(l) + "no 'site' directive");
  return CheckSites(table, file, &site_lines);
}

}  // namespace

const Site* RouteTable::FindSite(std::string_view name) const {
  for (const Site& s : sites)
    if (s.name == name) return &s;
  return nullptr;
}

const Site* RouteTable::SiteFor(Ip4 vip) const {
  if (!network.contains(vip)) return nullptr;
  for (const Site& s : sites)
    if (s.subnet.contains(vip)) return &s;
  return nullptr;
}

Result<RouteTable> Parse(std::string_view text, std::string_view filename) {
  Parser p;
  p.file = filename;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view raw = text.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++p.line;
    if (p.line > kMaxLines) return p.Err("more than " + std::to_string(kMaxLines) + " lines");
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (raw.size() > kMaxLineLength)
      return p.Err("line longer than " + std::to_string(kMaxLineLength) + " bytes");
    if (raw.find('\0') != std::string_view::npos) return p.Err("NUL byte in line");
    size_t hash = raw.find('#');
    if (hash != std::string_view::npos) raw = raw.substr(0, hash);
    std::string_view tok[kMaxTokens];
    size_t n = Tokenize(raw, tok, kMaxTokens);
    if (n == 0) continue;
    if (n > kMaxTokens) n = kMaxTokens;  // every directive rejects this many; the count is only reported
    Status st = p.Directive(tok, n);
    if (!st.ok()) return st;
  }
  Status st = p.Finish(p.line);
  if (!st.ok()) return st;
  return std::move(p.table);
}

Result<RouteTable> Load(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return Status::Errno(err, "cannot open route table " + path);
  }
  constexpr size_t kMaxBytes = kMaxLines * kMaxLineLength;
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      ::close(fd);
      return Status::Errno(err, "cannot read route table " + path);
    }
    if (r == 0) break;
    text.append(buf, static_cast<size_t>(r));
    if (text.size() > kMaxBytes) {
      ::close(fd);
      return Status::Invalid(path + ": larger than " + std::to_string(kMaxBytes) + " bytes");
    }
  }
  ::close(fd);
  return Parse(text, path);
}

std::string Format(const RouteTable& table) {
  std::string out = "# uvpn route table\nuvpn-route 1\nsession " + table.session + "\nnetwork " +
                    FormatCidr(table.network) + "\n";
  for (const Site& s : table.sites)
    out += "site " + s.name + " subnet=" + FormatCidr(s.subnet) + " peer=" + FormatEndpoint(s.peer) +
           " node=" + FormatEndpoint(s.node) + "\n";
  return out;
}

Status Validate(const RouteTable& t) {
  if (!ValidId(t.session, kMaxSessionLen))
    return Status::Invalid("bad session id " + Quote(t.session) + ": expected 1..64 of [A-Za-z0-9_-]");
  if (t.network.prefix < kMinNetworkPrefix || t.network.prefix > kMaxPrefix)
    return Status::Invalid("network " + FormatCidr(t.network) + ": prefix out of range [8, 30]");
  if ((t.network.base & ~t.network.mask()) != 0)
    return Status::Invalid("network " + FormatCidr(t.network) + ": host bits set");
  if (t.sites.empty()) return Status::Invalid("no site");
  for (const Site& s : t.sites) {
    std::string ctx = "site " + Quote(s.name) + ": ";
    if (!ValidId(s.name, kMaxSiteLen)) return Status::Invalid("bad site name " + Quote(s.name));
    if (s.subnet.prefix > kMaxPrefix)
      return Status::Invalid(ctx + "subnet " + FormatCidr(s.subnet) + ": prefix out of range [0, 30]");
    if ((s.subnet.base & ~s.subnet.mask()) != 0)
      return Status::Invalid(ctx + "subnet " + FormatCidr(s.subnet) + ": host bits set");
    if (s.peer.port == 0) return Status::Invalid(ctx + "peer: port 0");
    if (s.node.port == 0) return Status::Invalid(ctx + "node: port 0");
  }
  return CheckSites(t, "", nullptr);
}

Status Save(const RouteTable& table, const std::string& path) {
  Status v = Validate(table);
  if (!v.ok()) return Status::Invalid("refusing to save an invalid route table: " + v.message());
  std::string text = Format(table);
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;
    return Status::Errno(err, "cannot create " + tmp);
  }
  auto fail = [&](const char* what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::Errno(err, std::string(what) + " " + tmp);
  };
  if (::fchmod(fd, 0644) != 0) return fail("cannot chmod");  // exact mode, whatever the umask
  size_t off = 0;
  while (off < text.size()) {
    ssize_t w = ::write(fd, text.data() + off, text.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return fail("cannot write");
    off += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::Errno(err, "cannot close " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::Errno(err, "cannot rename " + tmp + " to " + path);
  }
  return Status::Ok();
}

std::string FileName(std::string_view session) { return ".uvpn_route_" + std::string(session); }

// An XDG_RUNTIME_DIR that is not absolute is ignored, as the XDG base directory spec asks.
std::string DefaultControlPath(std::string_view session, std::string_view site) {
  std::string leaf = std::string(session) + "-" + std::string(site) + ".sock";
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/uvpn/" + leaf;
  return "/tmp/uvpn-" + std::to_string(::getuid()) + "/" + leaf;
}

}  // namespace uvpn::routes
