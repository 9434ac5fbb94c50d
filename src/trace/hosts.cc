// See hosts.h. Theory of operation: a static program looks a name up by opening /etc/hosts (glibc's files
// module, musl, Go's resolver); the monitor rewrites such an open to the file made here (calls.cc, monitor.cc).
// The file is refreshed at most once per second, so a program that reads it in a loop costs one fetch per
// second, and a node that registers later is found a second later. The fetch is synchronous but bounded
// (kFetchMs): the router answers from memory on the local network, normally in well under a millisecond.
#include "trace/hosts.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>

#include "common/log.h"
#include "sysio/fd.h"
#include "sysio/net.h"

namespace uvpn::trace {
namespace {

constexpr int kMaxPages = 4096;
constexpr size_t kMaxOwnHosts = 1 << 20;  // the node's /etc/hosts copied after the overlay names, at most 1 MiB

int64_t MonoMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string ReadOwnHosts() {
  std::string text;
  sysio::Fd fd(open("/etc/hosts", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return text;
  char buf[8192];
  ssize_t n;
  while (text.size() < kMaxOwnHosts && (n = read(fd.get(), buf, sizeof buf)) > 0) text.append(buf, n);
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

}  // namespace

Result<std::vector<proto::HostEntry>> FetchHosts(const Endpoint& router, int timeout_ms) {
  sysio::Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.valid()) return Status::Errno(errno, "socket");
  sockaddr_in sa = sysio::ToSockaddr(router);
  if (connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return Status::Errno(errno, "connect " + FormatEndpoint(router));
  std::vector<proto::HostEntry> out;
  auto rep = std::make_unique<proto::HostsReplyMsg>();
  uint8_t q[proto::kHostsListSize], in[proto::kHostsReplyMax + 1];
  int64_t deadline = MonoMs() + timeout_ms;
  uint32_t after = 0;
  uint32_t qid = static_cast<uint32_t>(getpid()) * 2654435761u;
  for (int page = 0; page < kMaxPages; ++page) {
    ++qid;
    proto::HostsListMsg m{qid, after};
    size_t n = proto::Encode(m, q, sizeof q);
    bool got = false;
    for (int interval = 20; !got;) {
      int64_t now = MonoMs();
      if (now >= deadline) return Status(ETIMEDOUT, "no answer from the router at " + FormatEndpoint(router));
      (void)send(s.get(), q, n, MSG_NOSIGNAL);
      int64_t until = std::min(deadline, now + interval);
      interval = std::min(interval * 2, 100);
      while (!got) {
        int wait = static_cast<int>(until - MonoMs());
        if (wait <= 0) break;
        pollfd p{s.get(), POLLIN, 0};
        if (poll(&p, 1, wait) <= 0) continue;
        ssize_t r = recv(s.get(), in, sizeof in, 0);
        size_t used;
        if (r <= 0) {
          if (r < 0 && errno == ECONNREFUSED) break;  // nobody there yet: wait for the next send
          continue;
        }
        if (proto::Decode(in, static_cast<size_t>(r), rep.get(), &used) != proto::Parse::kOk ||
            used != static_cast<size_t>(r) || rep->query_id != qid ||
            (rep->count > 0 && rep->entries[0].vip <= after))
          continue;  // stale, foreign or malformed: keep waiting
        got = true;
      }
    }
    out.insert(out.end(), rep->entries, rep->entries + rep->count);
    if (!rep->more) return out;
    after = rep->entries[rep->count - 1].vip;
  }
  return Status(E2BIG, "more than " + std::to_string(kMaxPages) + " pages of names");
}

std::string FormatHosts(const std::vector<proto::HostEntry>& entries) {
  std::string text;
  for (int pass = 0; pass < 2; ++pass) {
    for (const proto::HostEntry& e : entries) {
      if (e.home != (pass == 0)) continue;
      text += FormatIp4(e.vip);
      text += ' ';
      text.append(e.name, e.name_len);
      text += '\n';
    }
  }
  return text;
}

HostsFile::~HostsFile() {
  if (dir_.empty()) return;
  (void)unlink(path_.c_str());
  (void)unlink((path_ + ".new").c_str());
  (void)rmdir(dir_.c_str());
}

const std::string& HostsFile::Path(int64_t now_ms) {
  static const std::string kNone;
  if (written_ms_ >= 0 && now_ms - written_ms_ < kRefreshMs) return have_ ? path_ : kNone;
  written_ms_ = now_ms;
  auto entries = FetchHosts(router_, kFetchMs);
  if (!entries) {
    LOG_WARN("names: %s; %s", entries.error().message().c_str(),
             have_ ? "serving the last list" : "programs read the node's /etc/hosts");
    return have_ ? path_ : kNone;
  }
  std::vector<proto::HostEntry> in_net;
  for (const proto::HostEntry& e : *entries)
    if (net_.contains(e.vip)) in_net.push_back(e);
  std::string text = "# uvpn: overlay names of this session (uvpn run --mode ptrace), then this node's /etc/hosts\n";
  text += FormatHosts(in_net);
  text += "# /etc/hosts\n";
  text += ReadOwnHosts();
  if (Write(text)) have_ = true;
  return have_ ? path_ : kNone;
}

bool HostsFile::Write(const std::string& text) {
  if (dir_.empty()) {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp == '/' ? tmp : "/tmp") + "/uvpn-hosts-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      LOG_WARN("names: mkdtemp %s: %s", tmpl.c_str(), strerror(errno));
      return false;
    }
    (void)chmod(tmpl.c_str(), 0755);
    dir_ = tmpl;
    path_ = dir_ + "/hosts";
  }
  std::string tmp = path_ + ".new";
  sysio::Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd.valid()) {
    LOG_WARN("names: %s: %s", tmp.c_str(), strerror(errno));
    return false;
  }
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(fd.get(), text.data() + off, text.size() - off);
    if (n <= 0) {
      LOG_WARN("names: write %s: %s", tmp.c_str(), strerror(errno));
      return false;
    }
    off += static_cast<size_t>(n);
  }
  if (rename(tmp.c_str(), path_.c_str()) != 0) {
    LOG_WARN("names: rename %s: %s", tmp.c_str(), strerror(errno));
    return false;
  }
  return true;
}

}  // namespace uvpn::trace
