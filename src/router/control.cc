// The Unix status socket (`uvpn status`): request line "text\n" or "json\n", then the report, then close.
//
// Theory of operation: the socket lives in a directory of mode 0700 (created if missing) and has mode 0600,
// so only the router's user can ask. A stale socket file left by a crashed router is replaced; a live one
// (something accepts on it) makes start-up fail instead of stealing it. Requests are served from the event
// loop: read the line, format a Snapshot (status.h), write it out as the socket accepts it, close. 5 s per
// client at most.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "router/router_impl.h"

namespace uvpn::router {
namespace {

constexpr int64_t kControlTimeoutMs = 5000;

Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return Status::Ok();
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::Invalid(dir + " is not a directory");
    return Status::Ok();
  }
  size_t slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (Status s = MakeDirs(dir.substr(0, slash)); !s.ok()) return s;
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::Errno(errno, "mkdir " + dir);
  return Status::Ok();
}

}  // namespace

Status Router::OpenControl() {
  control_path_ = opt_.control_path.empty() ? routes::DefaultControlPath(opt_.table.session, opt_.site)
                                            : opt_.control_path;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (control_path_.size() >= sizeof sa.sun_path)
    return Status::Invalid("status socket path too long: " + control_path_);
  memcpy(sa.sun_path, control_path_.c_str(), control_path_.size() + 1);
  size_t slash = control_path_.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (Status s = MakeDirs(control_path_.substr(0, slash)); !s.ok()) return s;
  }

  sysio::Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::Errno(errno, "socket");
  struct stat st;
  if (lstat(control_path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Status::Invalid(control_path_ + " exists and is not a socket");
    sysio::Fd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (connect(probe.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0)
      return Status::Invalid("another router is answering on " + control_path_);
    unlink(control_path_.c_str());
  }
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return Status::Errno(errno, "bind " + control_path_);
  control_bound_ = true;
  if (chmod(control_path_.c_str(), 0600) != 0) return Status::Errno(errno, "chmod " + control_path_);
  if (listen(fd.get(), 64) != 0) return Status::Errno(errno, "listen " + control_path_);
  if (!loop_.Add(fd.get(), EPOLLIN, Pack(Kind::kStatusListen, 0, 0)))
    return Status::Errno(errno, "epoll_ctl");
  control_ = std::move(fd);
  return Status::Ok();
}

void Router::CloseControl() {
  control_.Reset();
  if (control_bound_) unlink(control_path_.c_str());
  control_bound_ = false;
}

void Router::OnControlAccept() {
  for (int i = 0; i < 16; ++i) {
    int fd = accept4(control_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && ShedUnidentified(1) > 0)
      fd = accept4(control_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && spare_fd_.valid()) {
      // Level-triggered: a pending client would wake the loop forever. Take it with the spare fd and close it.
      spare_fd_.Reset();
      int c = accept4(control_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) close(c);
      spare_fd_.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
      return;
    }
    if (fd < 0) return;
    uint32_t idx = controls_.Alloc();
    if (idx == kMaxSlots) {
      close(fd);
      continue;
    }
    StatusConn& c = controls_[idx];
    c.fd = fd;
    c.deadline_ms = now_ms_ + kControlTimeoutMs;
    loop_.Add(fd, EPOLLIN, Pack(Kind::kStatusConn, idx, controls_.Gen(idx)));
  }
}

void Router::OnControlEvent(uint32_t idx, uint32_t events) {
  StatusConn& c = controls_[idx];
  if (!c.replying) {
    char buf[256];
    ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return EndControl(idx);
    c.in.append(buf, static_cast<size_t>(n));
    size_t nl = c.in.find('\n');
    if (nl == std::string::npos) {
      if (c.in.size() > 256) EndControl(idx);
      return;
    }
    std::string req = c.in.substr(0, nl);
    if (!req.empty() && req.back() == '\r') req.pop_back();
    if (req == "json") {
      c.out = FormatJson(TakeSnapshot());
    } else if (req.rfind("chaos ", 0) == 0) {
      // "chaos cut SITE MS" | "chaos restore SITE" | "chaos reset SITE" (docs/outage.md)
      char verb[16] = {}, site[64] = {};
      long long ms = 0;
      int k = sscanf(req.c_str() + 6, "%15s %63s %lld", verb, site, &ms);
      c.out = k >= 2 ? Chaos(verb, site, ms) : "error: want \"chaos cut|restore|reset SITE [MS]\"\n";
    } else if (req == "text" || req.empty()) {
      c.out = FormatText(TakeSnapshot());
    } else {
      c.out = "error: unknown request (want \"text\", \"json\" or \"chaos ...\")\n";
    }
    c.replying = true;
  } else if (!(events & EPOLLOUT)) {
    return;
  }
  while (c.off < c.out.size()) {
    ssize_t w = send(c.fd, c.out.data() + c.off, c.out.size() - c.off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        loop_.Mod(c.fd, EPOLLOUT, Pack(Kind::kStatusConn, idx, controls_.Gen(idx)));
        return;
      }
      return EndControl(idx);
    }
    c.off += static_cast<size_t>(w);
  }
  EndControl(idx);
}

void Router::EndControl(uint32_t idx) {
  StatusConn& c = controls_[idx];
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  c.in.clear();
  c.out.clear();
  controls_.Free(idx);
}

void Router::ControlTimeouts() {
  for (uint32_t i = 0; i < controls_.end(); ++i)
    if (controls_.InUse(i) && now_ms_ > controls_[i].deadline_ms) EndControl(i);
}

Snapshot Router::TakeSnapshot() const {
  Snapshot s;
  s.site = self_->name;
  s.session = opt_.table.session;
  for (uint32_t i = 0; i < links_.size(); ++i) {
    const Link& l = links_[i];
    s.links.push_back(LinkInfo{l.site, l.endpoint, l.state == LinkState::kUp, LinkCut(i),
                               (now_ms_ - l.since_ms) / 1000.0, "plaintext"});
    if (sealed())
      s.links.back().security = !l.sealed ? "sealed (no session)"
                                : l.suite == crypto::Suite::kAes256Gcm ? "noise+aes-256-gcm"
                                                                        : "noise+chacha20-poly1305";
    s.links.back().legs_pooled = l.legs_pooled;
    s.links.back().legs_dialled = l.legs_dialled;
  }
  s.recovery = recovery_;
  s.recovery.enabled = opt_.resume;
  s.recovery.suspended = 0;
  s.recovery.ring_bytes = 0;
  s.recovery.spill_files = 0;
  s.recovery.spill_bytes = spill_bytes_;
  for (const Lease* l : leases_.Sorted())
    s.nodes.push_back(NodeInfo{l->vip, l->real, l->name, self_->name, true, l->refs});
  for (const auto& [vip, n] : leases_.remotes())
    s.nodes.push_back(NodeInfo{vip, 0, n.name, n.site, false, 0});
  std::sort(s.nodes.begin(), s.nodes.end(),
            [](const NodeInfo& a, const NodeInfo& b) { return a.vip < b.vip; });
  for (uint32_t i = 0; i < relays_.end(); ++i) {
    if (!relays_.InUse(i)) continue;
    const Relay& r = relays_[i];
    if (r.state == RState::kAccepted) continue;  // not a relay yet (or a registration/link being identified)
    RelayInfo ri;
    ri.id = r.id;
    ri.src = {r.hdr.src_vip, r.hdr.src_port};
    ri.dst = {r.hdr.dst_vip, r.hdr.dst_port};
    ri.state = StateName(r.state);
    ri.bytes_fwd = r.dir[0].bytes;
    ri.bytes_rev = r.dir[1].bytes;
    ri.age_s = (now_ms_ - r.started_ms) / 1000.0;
    ri.resumable = r.resumable;
    ri.suspended = r.state == RState::kSuspended || r.state == RState::kResuming;
    ri.unacked = r.ring.unacked();
    ri.ring = r.ring.capacity();
    ri.spilled = r.spill ? r.spill->pending() : 0;
    ri.suspensions = r.suspensions;
    if (ri.suspended) ++s.recovery.suspended;
    s.recovery.ring_bytes += r.ring.capacity();
    if (r.spill && r.spill->is_open()) ++s.recovery.spill_files;
    s.relays.push_back(std::move(ri));
  }
  s.udp = udp_stats_;
  return s;
}

}  // namespace uvpn::router
