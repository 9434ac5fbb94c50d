#include "router/spill.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace uvpn::router {

Status SpillFile::Open(const std::string& dir, const std::string& name) {
  Remove();
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::Errno(errno, "mkdir " + dir);
  path_ = dir + "/" + name;
  fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    int e = errno;
    std::string p = path_;
    path_.clear();
    return Status::Errno(e, "create " + p);
  }
  wpos_ = rpos_ = 0;
  return Status::Ok();
}

Status SpillFile::Append(const uint8_t* p, size_t n) {
  if (fd_ < 0) return Status::Errno(EBADF, "spill file not open");
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(fd_, p + done, n - done, static_cast<off_t>(wpos_ + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::Errno(errno, "write " + path_);
    }
    done += static_cast<size_t>(w);
  }
  wpos_ += n;
  return Status::Ok();
}

Result<size_t> SpillFile::ReadInto(const iovec* iov, int iovcnt) {
  if (fd_ < 0 || pending() == 0) return size_t{0};
  iovec v[2];
  int k = 0;
  uint64_t left = pending();
  for (int i = 0; i < iovcnt && i < 2 && left > 0; ++i) {
    size_t take = iov[i].iov_len < left ? iov[i].iov_len : static_cast<size_t>(left);
    v[k++] = {iov[i].iov_base, take};
    left -= take;
  }
  if (k == 0) return size_t{0};
  for (;;) {
    ssize_t r = preadv(fd_, v, k, static_cast<off_t>(rpos_));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::Errno(errno, "read " + path_);
    rpos_ += static_cast<uint64_t>(r);
    return static_cast<size_t>(r);
  }
}

void SpillFile::Remove() {
  if (fd_ >= 0) {
    close(fd_);
    unlink(path_.c_str());
  }
  fd_ = -1;
  path_.clear();
  wpos_ = rpos_ = 0;
}

}  // namespace uvpn::router
