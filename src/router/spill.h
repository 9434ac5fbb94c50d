// The unsent-data spill file of one suspended relay direction (docs/outage.md, the paper's "unsent message
// file"): bytes the application sends while leg 1 is down and the replay ring is full are appended here, and read
// back into the ring, in order, once the ring has room after the resume. The file is removed as soon as
// everything in it has been read back (or the relay ends).
//
// Plain FIFO over one file: Append() writes at the end, ReadInto() reads from the front (preadv/pwrite, no seek
// state shared with anyone). Quota accounting is the caller's (router-wide). Not thread-safe.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/result.h"

namespace uvpn::router {

class SpillFile {
 public:
  SpillFile() = default;
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;
  ~SpillFile() { Remove(); }

  // Creates `dir` (mode 0700, parents not created) if missing, then `dir/name` with O_EXCL and mode 0600.
  Status Open(const std::string& dir, const std::string& name);
  bool is_open() const { return fd_ >= 0; }
  uint64_t pending() const { return wpos_ - rpos_; }  // bytes written and not yet read back
  const std::string& path() const { return path_; }

  // Appends exactly n bytes (retrying short writes); an error (ENOSPC, EIO...) leaves pending() unchanged.
  Status Append(const uint8_t* p, size_t n);
  // Reads up to the spans' total (and at most pending()) from the front into `iov`; returns the bytes read.
  Result<size_t> ReadInto(const iovec* iov, int iovcnt);
  // Closes and unlinks the file (no-op if not open); pending() becomes 0.
  void Remove();

 private:
  int fd_ = -1;
  std::string path_;
  uint64_t wpos_ = 0, rpos_ = 0;
};

}  // namespace uvpn::router
