// Start-up, the event loop and shutdown of the subnet router (docs/architecture.md "Router internals").
//
// Theory of operation: Run() builds one Router, opens its listeners (TCP and UDP on the site's node endpoint,
// TCP on its peer endpoint -- one listener serves both when the two endpoints are equal), the status socket
// and the router links, then loops on epoll_wait. Every event carries a Tag; Dispatch() drops events whose
// slot generation no longer matches (stale) and hands the rest to the owner of that kind. A 100 ms timerfd
// tick drives timeouts and link heartbeats; SIGTERM/SIGINT arrive through a signalfd and end the loop, after
// which listeners close, relays are reset, the status socket is removed and Run() returns 0.
#include "router/router.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "proto/auth.h"
#include "router/router_impl.h"
#include "sysio/net.h"

namespace uvpn::router {

const char* StateName(RState s) {
  switch (s) {
    case RState::kAccepted:
      return "accepted";
    case RState::kConnecting:
      return "connecting";
    case RState::kAwaitStatus:
      return "await_status";
    case RState::kEstablished:
      return "established";
    case RState::kSuspended:
      return "suspended";
    case RState::kResuming:
      return "resuming";
  }
  return "?";
}

namespace {

const routes::Site* FindSite(const routes::RouteTable& t, const std::string& name, int* index) {
  for (size_t i = 0; i < t.sites.size(); ++i) {
    if (t.sites[i].name == name) {
      *index = static_cast<int>(i);
      return &t.sites[i];
    }
  }
  return nullptr;
}

void RaiseFdLimit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) LOG_WARN("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
  }
  LOG_DEBUG("RLIMIT_NOFILE %llu", static_cast<unsigned long long>(rl.rlim_cur));
}

// Options of the node and WAN listeners, for the relay hot path (docs/performance.md):
//  - TCP_NODELAY, inherited by every accepted socket (saves a setsockopt per connection);
//  - TCP_DEFER_ACCEPT: every uvpn protocol is client-speaks-first (CONN_HEADER, REGISTER, HELLO), so the kernel
//    may hold a connection back until its first bytes arrive: one wakeup (accept + read the header) instead of
//    two. A peer that sends nothing is accepted after the deferral anyway and then meets the header timeout.
void TuneListener(int fd, int header_timeout_ms) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int secs = std::max(1, header_timeout_ms / 1000);
  setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
}

}  // namespace

Router::Router(const Options& o) : opt_(o), leases_(Cidr{}, "") {
  self_ = FindSite(opt_.table, opt_.site, &self_index_);
  if (self_) leases_ = LeaseDb(self_->subnet, self_->name);
  std::vector<std::string> sites;
  for (const auto& s : opt_.table.sites) sites.push_back(s.name);
  leases_.SetReservedSites(std::move(sites));
}

Router::~Router() = default;

Status Router::Init() {
  if (opt_.secret && !crypto::Init()) return Status(EIO, "libsodium failed to initialise");
  if (opt_.secret) proto::DeriveNodeKey(opt_.secret->data(), node_key_);
  if (!self_) return Status::Invalid("site '" + opt_.site + "' is not in the route table");
  if (opt_.heartbeat_s < 1 || opt_.heartbeat_s > 255) return Status::Invalid("heartbeat_s must be 1..255");
  now_ms_ = NowMs();
  last_second_ms_ = now_ms_;
  RaiseFdLimit();
  if (Status s = loop_.Init(100); !s.ok()) return s;
  spare_fd_.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));

  bool same = self_->node == self_->peer;
  auto nl = sysio::ListenTcp(self_->node);
  if (!nl) return nl.error();
  node_listen_ = std::move(*nl);
  TuneListener(node_listen_.get(), opt_.header_timeout_ms);
  if (!loop_.Add(node_listen_.get(), EPOLLIN, Pack(same ? Kind::kBothListen : Kind::kNodeListen, 0, 0)))
    return Status::Errno(errno, "epoll_ctl");
  if (!same) {
    auto wl = sysio::ListenTcp(self_->peer);
    if (!wl) return wl.error();
    wan_listen_ = std::move(*wl);
    TuneListener(wan_listen_.get(), opt_.header_timeout_ms);
    if (!loop_.Add(wan_listen_.get(), EPOLLIN, Pack(Kind::kWanListen, 0, 0)))
      return Status::Errno(errno, "epoll_ctl");
  }
  auto u = sysio::BindUdp(self_->node);
  if (!u) return u.error();
  udp_ = std::move(*u);
  if (!loop_.Add(udp_.get(), EPOLLIN, Pack(Kind::kUdp, 0, 0))) return Status::Errno(errno, "epoll_ctl");
  if (Status s = InitUdp(); !s.ok()) return s;
  if (Status s = OpenControl(); !s.ok()) return s;
  InitLinks();
  if (opt_.spill_dir.empty()) {
    size_t slash = control_path_.rfind('/');
    opt_.spill_dir = (slash == std::string::npos ? std::string(".") : control_path_.substr(0, slash)) + "/spill";
  }
  scratch_.resize(64 * 1024);
  // Replay rings (64 KiB and up) come and go with connections: keep freed memory in the heap rather than give
  // it back to the kernel and fault it in again for the next connection (brk / mmap churn per connection).
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  // Relay ids: site index in the top 16 bits, then a counter starting at a random point, so that ids of a
  // restarted router do not meet relays its peers still hold from the previous run (docs/outage.md).
  uint64_t rnd = 0;
  if (getrandom(&rnd, sizeof rnd, 0) == static_cast<ssize_t>(sizeof rnd)) next_relay_id_ = 1 + (rnd >> 24);
  if (opt_.resume)
    LOG_INFO("outage recovery on: link timeout %d ms, redial cap %d ms, deadline %d s, window %zu, spill %s",
             opt_.link_timeout_ms, opt_.redial_max_ms, opt_.outage_deadline_s, opt_.replay_window,
             opt_.spill_dir.c_str());

  LOG_INFO("started: session %s site %s subnet %s; nodes on %s (tcp+udp), routers on %s; status %s",
           opt_.table.session.c_str(), self_->name.c_str(), FormatCidr(self_->subnet).c_str(),
           FormatEndpoint(self_->node).c_str(), FormatEndpoint(self_->peer).c_str(), control_path_.c_str());
  return Status::Ok();
}

void Router::SetEvents(uint32_t slot, int side, uint32_t events) {
  Relay& r = relays_[slot];
  uint64_t tag = Pack(side ? Kind::kRelay1 : Kind::kRelay0, slot, relays_.Gen(slot));
  if (!r.in_epoll[side]) {
    if (loop_.Add(r.fd[side], events, tag)) {
      r.in_epoll[side] = true;
      r.ev[side] = events;
    } else {
      LOG_WARN("epoll_ctl add: %s", strerror(errno));
    }
  } else if (r.ev[side] != events) {
    if (loop_.Mod(r.fd[side], events, tag)) r.ev[side] = events;
  }
}

void Router::DelFromEpoll(uint32_t slot, int side) {
  Relay& r = relays_[slot];
  if (r.in_epoll[side]) {
    loop_.Del(r.fd[side]);
    r.in_epoll[side] = false;
    r.ev[side] = 0;
  }
}

void Router::Tick() {
  RelayTimeouts();
  ExpireLegPools();
  ResumeTick();
  FlushAcks(true);
  LinkTick();
  if (now_ms_ - last_second_ms_ >= 1000) {
    last_second_ms_ = now_ms_;
    RegTimeouts();
    ExpireLookups();
    ControlTimeouts();
  }
}

void Router::Loop() {
  constexpr int kMaxEvents = 256;
  epoll_event evs[kMaxEvents];
  // Test and measurement override of Options::coalesce_us (docs/performance.md).
  if (const char* c = getenv("UVPN_ROUTER_COALESCE_US")) opt_.coalesce_us = atoi(c);
  while (!stop_) {
    // Coalescing (docs/performance.md): after a batch that moved bulk data, let more arrive before looking
    // again, so each wakeup and each splice moves more bytes.
    if (bulk_seen_ && opt_.coalesce_us > 0) {
      timespec ts{opt_.coalesce_us / 1000000, static_cast<long>(opt_.coalesce_us % 1000000) * 1000};
      nanosleep(&ts, nullptr);
    }
    bulk_seen_ = false;
    int n = loop_.Wait(evs, kMaxEvents, 1000);
    now_ms_ = NowMs();
    for (int i = 0; i < n && !stop_; ++i) {
      Tag t = Unpack(evs[i].data.u64);
      uint32_t e = evs[i].events;
      switch (t.kind) {
        case Kind::kNodeListen:
          OnAccept(t.kind, node_listen_.get());
          break;
        case Kind::kBothListen:
          OnAccept(t.kind, node_listen_.get());
          break;
        case Kind::kWanListen:
          OnAccept(t.kind, wan_listen_.get());
          break;
        case Kind::kUdp:
          if (t.index == 1)
            OnWanUdp();
          else
            OnUdp();
          break;
        case Kind::kTimer:
          loop_.ReadTimer();
          Tick();
          break;
        case Kind::kSignal:
          if (int sig = loop_.ReadSignal(); sig != 0) {
            LOG_INFO("signal %d (%s): stopping", sig, strsignal(sig));
            stop_ = true;
          }
          break;
        case Kind::kStatusListen:
          OnControlAccept();
          break;
        case Kind::kStatusConn:
          if (controls_.Live(t.index, t.gen)) OnControlEvent(t.index, e);
          break;
        case Kind::kRelay0:
        case Kind::kRelay1:
          if (relays_.Live(t.index, t.gen)) OnRelayEvent(t.index, t.kind == Kind::kRelay1 ? 1 : 0, e);
          break;
        case Kind::kReg:
          if (regs_.Live(t.index, t.gen)) OnRegEvent(t.index, e);
          break;
        case Kind::kLink:
          if (t.index < links_.size() && links_[t.index].gen == t.gen) OnLinkEvent(t.index, e);
          break;
        case Kind::kNone:
          break;
      }
    }
    if (!ack_dirty_.empty()) FlushAcks(false);
    if (!refill_.empty()) RefillLegPools();
  }
}

void Router::Shutdown() {
  node_listen_.Reset();
  wan_listen_.Reset();
  udp_.Reset();
  wan_udp_.Reset();
  size_t relays = relays_.live();
  for (uint32_t i = 0; i < relays_.end(); ++i)
    if (relays_.InUse(i)) Reset(i, "router stopping");
  for (uint32_t i = 0; i < regs_.end(); ++i)
    if (regs_.InUse(i)) EndReg(i, "router stopping");
  for (uint32_t i = 0; i < links_.size(); ++i) LinkDown(i, "router stopping");
  for (uint32_t i = 0; i < controls_.end(); ++i)
    if (controls_.InUse(i)) EndControl(i);
  CloseControl();
  LOG_INFO("stopped (%zu relays reset)", relays);
}

int Router::Run() {
  if (Status s = Init(); !s.ok()) {
    LOG_ERROR("start-up failed: %s", s.message().c_str());
    CloseControl();
    return 1;
  }
  Loop();
  Shutdown();
  return 0;
}

int Run(const Options& options) {
  Router r(options);
  return r.Run();
}

}  // namespace uvpn::router
