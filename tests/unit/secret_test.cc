// Tests of src/routes/secret.h: the secret's path beside a route file, creation (format, mode whatever the umask,
// never replacing an existing file or following a symlink), loading, and every refusal (modes, owner, file kind,
// formats) with an error that names the file and never quotes its content.
#include "routes/secret.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace uvpn::routes {
namespace {

class SecretTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvpn_secret_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/.uvpn_secret_x";
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  std::string Read(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Writes `text` at path_ with `mode`.
  void Write(const std::string& text, mode_t mode = 0600) {
    unlink(path_.c_str());
    int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ASSERT_EQ(fchmod(fd, mode), 0);
    close(fd);
  }
  std::string dir_, path_;
};

const std::string kHex = "00112233445566778899aabbccddeeff0123456789abcdef0f1e2d3c4b5a6978";

TEST(SecretPathTest, BesideTheRouteFile) {
  EXPECT_EQ(SecretFileName("3f9c2a7e"), ".uvpn_secret_3f9c2a7e");
  EXPECT_EQ(SecretPath("/home/u/.uvpn_route_3f9c2a7e"), "/home/u/.uvpn_secret_3f9c2a7e");
  EXPECT_EQ(SecretPath("rel/dir/.uvpn_route_x"), "rel/dir/.uvpn_secret_x");
  EXPECT_EQ(SecretPath(".uvpn_route_x"), ".uvpn_secret_x");
  EXPECT_EQ(SecretPath("/etc/uvpn/routes.txt"), "/etc/uvpn/.uvpn_secret_routes.txt");
  EXPECT_EQ(SecretPath("/a/.uvpn_route_"), "/a/.uvpn_secret_.uvpn_route_");  // no id: whole name kept
}

TEST_F(SecretTest, CreateThenLoad) {
  ASSERT_TRUE(CreateSecret(path_).ok());
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  std::string text = Read(path_);
  ASSERT_EQ(text.size(), 65u);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find_first_not_of("0123456789abcdef"), 64u);

  auto s = LoadSecret(path_);
  ASSERT_TRUE(s) << s.error().message();
  static const char kD[] = "0123456789abcdef";
  std::string back;
  for (uint8_t b : *s) {
    back += kD[b >> 4];
    back += kD[b & 15];
  }
  EXPECT_EQ(back + "\n", text);
  // No temporary file is left behind.
  std::string ls = "ls -A '" + dir_ + "' | wc -l";
  FILE* p = popen(ls.c_str(), "r");
  int count = -1;
  ASSERT_EQ(fscanf(p, "%d", &count), 1);
  pclose(p);
  EXPECT_EQ(count, 1);
}

TEST_F(SecretTest, TwoSecretsDiffer) {
  std::string other = dir_ + "/.uvpn_secret_y";
  ASSERT_TRUE(CreateSecret(path_).ok());
  ASSERT_TRUE(CreateSecret(other).ok());
  EXPECT_NE(Read(path_), Read(other));
}

TEST_F(SecretTest, ModeIs0600WhateverTheUmask) {
  mode_t old = umask(0);
  Status st = CreateSecret(path_);
  umask(old);
  ASSERT_TRUE(st.ok()) << st.message();
  struct stat s;
  ASSERT_EQ(stat(path_.c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 0600u);
}

TEST_F(SecretTest, ExistingFileIsNeverReplaced) {
  Write(kHex + "\n");
  Status st = CreateSecret(path_);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), EEXIST);
  EXPECT_NE(st.message().find(path_), std::string::npos) << st.message();
  EXPECT_EQ(Read(path_), kHex + "\n");
  // A dangling symlink is not followed (nothing is created at its target).
  std::string target = dir_ + "/target";
  ASSERT_EQ(unlink(path_.c_str()), 0);
  ASSERT_EQ(symlink(target.c_str(), path_.c_str()), 0);
  st = CreateSecret(path_);
  EXPECT_EQ(st.code(), EEXIST) << st.message();
  EXPECT_NE(access(target.c_str(), F_OK), 0);
}

TEST_F(SecretTest, CreateInMissingDirectoryFails) {
  Status st = CreateSecret(dir_ + "/no/such/.uvpn_secret_x");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), ENOENT);
}

TEST_F(SecretTest, LoadAcceptsUppercaseAndMissingNewline) {
  std::string upper = kHex;
  for (auto& c : upper) c = static_cast<char>(toupper(c));
  Write(upper);
  auto a = LoadSecret(path_);
  ASSERT_TRUE(a) << a.error().message();
  Write(kHex + "\n");
  auto b = LoadSecret(path_);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(*a, *b);
  EXPECT_EQ((*a)[0], 0x00);
  EXPECT_EQ((*a)[1], 0x11);
  EXPECT_EQ((*a)[31], 0x78);
  Write(kHex, 0400);  // read-only for the owner is fine
  EXPECT_TRUE(LoadSecret(path_));
}

TEST_F(SecretTest, RefusesGroupOrOtherAccess) {
  for (mode_t mode : {0640, 0604, 0620, 0602, 0660, 0644, 0666, 0610, 0601}) {
    Write(kHex + "\n", mode);
    auto s = LoadSecret(path_);
    ASSERT_FALSE(s) << std::oct << mode;
    EXPECT_EQ(s.error().code(), EACCES);
    EXPECT_EQ(s.error().message().rfind(path_ + ": ", 0), 0u) << s.error().message();
    EXPECT_NE(s.error().message().find("group/others"), std::string::npos) << s.error().message();
  }
}

TEST_F(SecretTest, RefusesOtherOwner) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  Write(kHex + "\n");
  ASSERT_EQ(chown(path_.c_str(), 4242, 4242), 0);
  auto s = LoadSecret(path_);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), EACCES);
  EXPECT_NE(s.error().message().find("owned by uid 4242"), std::string::npos) << s.error().message();
}

TEST_F(SecretTest, RefusesSymlinkDirectoryAndMissing) {
  Write(kHex + "\n");
  std::string link = dir_ + "/link";
  ASSERT_EQ(symlink(path_.c_str(), link.c_str()), 0);
  auto s = LoadSecret(link);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("symlink"), std::string::npos) << s.error().message();

  std::string sub = dir_ + "/sub";
  ASSERT_EQ(mkdir(sub.c_str(), 0700), 0);
  s = LoadSecret(sub);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("not a regular file"), std::string::npos) << s.error().message();

  s = LoadSecret(dir_ + "/missing");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ENOENT);
  EXPECT_NE(s.error().message().find(dir_ + "/missing"), std::string::npos) << s.error().message();
}

TEST_F(SecretTest, RefusesBadFormatsWithoutQuotingThem) {
  const std::string bad[] = {
      "",
      "\n",
      kHex.substr(0, 63) + "\n",
      kHex + "0\n",
      kHex + "\n\n",
      kHex + "\r\n",
      kHex + " ",
      " " + kHex,
      kHex.substr(0, 62) + "g0\n",
      kHex.substr(0, 31) + "-" + kHex.substr(32) + "\n",
      kHex + "\n" + kHex + "\n",
      std::string(64, '\0'),
  };
  for (const std::string& text : bad) {
    Write(text);
    auto s = LoadSecret(path_);
    ASSERT_FALSE(s) << "accepted '" << text << "'";
    EXPECT_EQ(s.error().code(), EINVAL);
    const std::string& msg = s.error().message();
    EXPECT_EQ(msg.rfind(path_ + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find("64 hex digits"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(kHex.substr(0, 16)), std::string::npos) << "content quoted: " << msg;
  }
}

}  // namespace
}  // namespace uvpn::routes
