// Unit tests of SpillFile (src/router/spill.h, docs/outage.md): FIFO append/read across many chunks and odd
// span shapes, Remove unlinks, O_EXCL, the directory and file modes, errors as Status. Each test works in its
// own mkdtemp directory under $TMPDIR (or /tmp), removed at the end.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "router/spill.h"

namespace uvpn::router {
namespace {

class SpillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* t = getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/uvpn_spill_test.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    ASSERT_NE(mkdtemp(buf.data()), nullptr);
    base_ = buf.data();
    dir_ = base_ + "/spill";
  }
  void TearDown() override {
    // Only what the tests create: dir_/<files> and dir_ itself.
    std::string cmd = "rm -rf '" + base_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  static bool Exists(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
  }
  std::string base_, dir_;
};

uint8_t ByteAt(uint64_t off) { return static_cast<uint8_t>((off * 167u + (off >> 9)) & 0xff); }

TEST_F(SpillTest, CreatesDirAndFileWithPrivateModes) {
  SpillFile f;
  EXPECT_FALSE(f.is_open());
  mode_t old = umask(0);  // the modes must not depend on the umask being strict
  Status s = f.Open(dir_, "7.0");
  umask(old);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(f.is_open());
  EXPECT_EQ(f.path(), dir_ + "/7.0");
  struct stat st;
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(f.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(f.pending(), 0u);
}

TEST_F(SpillTest, ExistingFileIsRefused) {
  SpillFile a, b;
  ASSERT_TRUE(a.Open(dir_, "1.1").ok());
  Status s = b.Open(dir_, "1.1");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), EEXIST);
  EXPECT_FALSE(b.is_open());
  EXPECT_TRUE(b.path().empty());
  EXPECT_TRUE(Exists(dir_ + "/1.1"));  // the refused Open did not touch a's file
}

TEST_F(SpillTest, MissingParentIsAnError) {
  SpillFile f;
  Status s = f.Open(base_ + "/no/such/parent", "x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ENOENT);
  EXPECT_FALSE(f.is_open());
}

TEST_F(SpillTest, ClosedFileReportsErrors) {
  SpillFile f;
  uint8_t b[4] = {1, 2, 3, 4};
  Status s = f.Append(b, 4);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), EBADF);
  iovec v{b, 4};
  auto r = f.ReadInto(&v, 1);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 0u);
}

TEST_F(SpillTest, FifoAcrossManyChunksAndSpanShapes) {
  SpillFile f;
  ASSERT_TRUE(f.Open(dir_, "5.1").ok());
  std::mt19937 rng(42);
  uint64_t wr = 0, rd = 0;
  std::vector<uint8_t> chunk, a, b;
  for (int i = 0; i < 3000; ++i) {
    if (rng() % 2) {
      size_t n = rng() % 700;
      chunk.resize(n);
      for (size_t j = 0; j < n; ++j) chunk[j] = ByteAt(wr + j);
      ASSERT_TRUE(f.Append(chunk.data(), n).ok());
      wr += n;
    } else {
      // Two spans like a ring's free space; sometimes larger than what is pending, sometimes empty.
      a.assign(rng() % 500, 0);
      b.assign(rng() % 500, 0);
      iovec v[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
      auto r = f.ReadInto(v, 2);
      ASSERT_TRUE(r) << r.error().ToString();
      size_t want = std::min<uint64_t>(a.size() + b.size(), wr - rd);
      ASSERT_EQ(*r, want);
      for (size_t j = 0; j < *r; ++j) {
        uint8_t got = j < a.size() ? a[j] : b[j - a.size()];
        ASSERT_EQ(got, ByteAt(rd + j)) << "offset " << rd + j;
      }
      rd += *r;
    }
    ASSERT_EQ(f.pending(), wr - rd);
  }
  // Drain.
  std::vector<uint8_t> all(f.pending());
  iovec v{all.data(), all.size()};
  auto r = f.ReadInto(&v, 1);
  ASSERT_TRUE(r);
  ASSERT_EQ(*r, all.size());
  for (size_t j = 0; j < all.size(); ++j) ASSERT_EQ(all[j], ByteAt(rd + j));
  EXPECT_EQ(f.pending(), 0u);
  auto again = f.ReadInto(&v, 1);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0u);
}

TEST_F(SpillTest, RemoveUnlinksAndAllowsReopen) {
  SpillFile f;
  ASSERT_TRUE(f.Open(dir_, "9.0").ok());
  uint8_t b[3] = {7, 8, 9};
  ASSERT_TRUE(f.Append(b, 3).ok());
  std::string p = f.path();
  ASSERT_TRUE(Exists(p));
  f.Remove();
  EXPECT_FALSE(Exists(p));
  EXPECT_FALSE(f.is_open());
  EXPECT_EQ(f.pending(), 0u);
  f.Remove();  // no-op
  ASSERT_TRUE(f.Open(dir_, "9.0").ok());  // the name is free again; counters restart
  EXPECT_EQ(f.pending(), 0u);
}

TEST_F(SpillTest, ReopenUnderAnotherNameRemovesTheFirst) {
  SpillFile f;
  ASSERT_TRUE(f.Open(dir_, "a").ok());
  ASSERT_TRUE(f.Open(dir_, "b").ok());
  EXPECT_FALSE(Exists(dir_ + "/a"));
  EXPECT_TRUE(Exists(dir_ + "/b"));
}

TEST_F(SpillTest, DestructorUnlinks) {
  std::string p;
  {
    SpillFile f;
    ASSERT_TRUE(f.Open(dir_, "d").ok());
    p = f.path();
    ASSERT_TRUE(Exists(p));
  }
  EXPECT_FALSE(Exists(p));
}

TEST_F(SpillTest, WriteErrorIsStatusAndLeavesPendingUnchanged) {
  // A file size limit makes pwrite fail with EFBIG part-way through an Append (after a short write): the
  // error comes back as a Status and pending() does not count the partial bytes.
  SpillFile f;
  ASSERT_TRUE(f.Open(dir_, "e").ok());
  uint8_t b[64];
  for (size_t i = 0; i < sizeof b; ++i) b[i] = ByteAt(i);
  ASSERT_TRUE(f.Append(b, 8).ok());
  struct rlimit old;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = 20;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  Status s = f.Append(b + 8, 40);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), EFBIG);
  EXPECT_NE(s.message().find(f.path()), std::string::npos) << s.message();
  EXPECT_EQ(f.pending(), 8u);
  // The file is still usable: the next Append overwrites the partial bytes, the FIFO stays exact.
  ASSERT_TRUE(f.Append(b + 8, 8).ok());
  uint8_t out[16];
  iovec v{out, sizeof out};
  auto r = f.ReadInto(&v, 1);
  ASSERT_TRUE(r);
  ASSERT_EQ(*r, 16u);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(out[i], ByteAt(i));
}

}  // namespace
}  // namespace uvpn::router
