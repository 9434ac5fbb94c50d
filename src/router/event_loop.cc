// epoll / timerfd / signalfd setup (see event_loop.h).
#include "router/event_loop.h"

#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace uvpn::router {

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

Status EventLoop::Init(int tick_ms) {
  ep_.Reset(epoll_create1(EPOLL_CLOEXEC));
  if (!ep_.valid()) return Status::Errno(errno, "epoll_create1");

  timer_.Reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer_.valid()) return Status::Errno(errno, "timerfd_create");
  itimerspec its{};
  its.it_interval.tv_sec = tick_ms / 1000;
  its.it_interval.tv_nsec = static_cast<long>(tick_ms % 1000) * 1000000;
  its.it_value = its.it_interval;
  if (timerfd_settime(timer_.get(), 0, &its, nullptr) != 0) return Status::Errno(errno, "timerfd_settime");

  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &set, &old_mask_) != 0) return Status::Errno(errno, "sigprocmask");
  mask_set_ = true;
  sig_.Reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!sig_.valid()) return Status::Errno(errno, "signalfd");

  if (!Add(timer_.get(), EPOLLIN, Pack(Kind::kTimer, 0, 0))) return Status::Errno(errno, "epoll_ctl timer");
  if (!Add(sig_.get(), EPOLLIN, Pack(Kind::kSignal, 0, 0))) return Status::Errno(errno, "epoll_ctl signal");
  return Status::Ok();
}

EventLoop::~EventLoop() {
  if (mask_set_) pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

bool EventLoop::Add(int fd, uint32_t events, uint64_t tag) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  return epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::Mod(int fd, uint32_t events, uint64_t tag) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  return epoll_ctl(ep_.get(), EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::Del(int fd) {
  epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

int EventLoop::Wait(epoll_event* out, int max, int timeout_ms) {
  int n = epoll_wait(ep_.get(), out, max, timeout_ms);
  return n < 0 ? 0 : n;
}

uint64_t EventLoop::ReadTimer() {
  uint64_t n = 0;
  if (read(timer_.get(), &n, sizeof n) != sizeof n) return 0;
  return n;
}

int EventLoop::ReadSignal() {
  signalfd_siginfo si;
  if (read(sig_.get(), &si, sizeof si) != sizeof si) return 0;
  return static_cast<int>(si.ssi_signo);
}

}  // namespace uvpn::router
