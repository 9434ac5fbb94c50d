// Pool of pipes for splice(2) relaying.
//
// Theory of operation: a relay direction takes a pipe when it has bytes to move and gives it back once the
// pipe is empty again, so an idle relay holds no pipe and the number of pipes follows the number of *active*
// directions. Pipes are non-blocking and enlarged to 1 MiB with F_SETPIPE_SZ where the limits allow (else
// they keep the default size); `cap` records the size obtained. Up to `max_idle` empty pipes are kept for
// reuse; more are closed. Get/Put do not allocate once the idle vector reached its capacity (reserved up
// front). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace uvpn::router {

struct Pipe {
  int r = -1;
  int w = -1;
  uint32_t cap = 0;
  bool valid() const { return r >= 0; }
};

class PipePool {
 public:
  explicit PipePool(size_t max_idle = 1024, uint32_t want_size = 1u << 20);
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // A pipe, or an invalid one (errno set) if pipe2 failed (out of fds).
  Pipe Get();
  // REQUIRES: the pipe is empty. Keeps or closes it.
  void Put(Pipe p);
  // Closes a pipe that may hold data (relay reset).
  static void Close(Pipe p);

  size_t idle() const { return idle_.size(); }
  size_t created() const { return created_; }

 private:
  std::vector<Pipe> idle_;
  size_t max_idle_;
  uint32_t want_size_;
  size_t created_ = 0;
};

}  // namespace uvpn::router
