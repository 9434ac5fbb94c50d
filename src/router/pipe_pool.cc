// Pipe pool (see pipe_pool.h).
#include "router/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace uvpn::router {

PipePool::PipePool(size_t max_idle, uint32_t want_size) : max_idle_(max_idle), want_size_(want_size) {
  idle_.reserve(max_idle);
}

PipePool::~PipePool() {
  for (const Pipe& p : idle_) Close(p);
}

Pipe PipePool::Get() {
  if (!idle_.empty()) {
    Pipe p = idle_.back();
    idle_.pop_back();
    return p;
  }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return Pipe{};
  Pipe p{fds[0], fds[1], 0};
  fcntl(p.w, F_SETPIPE_SZ, static_cast<int>(want_size_));  // EPERM over the user's pipe budget: keep default
  int sz = fcntl(p.w, F_GETPIPE_SZ);
  p.cap = sz > 0 ? static_cast<uint32_t>(sz) : 65536;
  ++created_;
  return p;
}

void PipePool::Put(Pipe p) {
  if (!p.valid()) return;
  if (idle_.size() < max_idle_) {
    idle_.push_back(p);
  } else {
    Close(p);
  }
}

void PipePool::Close(Pipe p) {
  if (p.r >= 0) close(p.r);
  if (p.w >= 0) close(p.w);
}

}  // namespace uvpn::router
