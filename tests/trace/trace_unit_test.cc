// Unit tests of the monitor's pure parts and of its seccomp filter (label "trace"). The filter is exercised for
// real in a forked child without a tracer: SECCOMP_RET_TRACE with no tracer makes a call fail with ENOSYS, so the
// child can tell trapped calls from allowed ones by errno alone.
#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "trace/filter.h"
#include "trace/hosts.h"
#include "trace/trace.h"

namespace uvpn::trace {
namespace {

TEST(TraceConfig, ParsesTheLibraryLine) {
  auto o = ParseConfigLine("v1 net=100.97.0.0/16 router=10.91.1.1:7701 vip=100.97.1.10 real=10.91.1.10 "
                           "timeout_ms=3000 name=node-a");
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(FormatCidr(o->net), "100.97.0.0/16");
  EXPECT_EQ(FormatEndpoint(o->router), "10.91.1.1:7701");
  EXPECT_EQ(FormatIp4(o->vip), "100.97.1.10");
  EXPECT_EQ(FormatIp4(o->real), "10.91.1.10");
  EXPECT_EQ(o->timeout_ms, 3000);
}

TEST(TraceConfig, RejectsBadLines) {
  EXPECT_FALSE(ParseConfigLine(""));
  EXPECT_FALSE(ParseConfigLine("v2 net=100.97.0.0/16 router=10.91.1.1:7701 vip=100.97.1.10 real=10.91.1.10"));
  EXPECT_FALSE(ParseConfigLine("v1 net=100.97.0.0/16 router=10.91.1.1:7701 vip=100.97.1.10"));  // no real=
  EXPECT_FALSE(ParseConfigLine("v1 net=100.97.0.1/16 router=10.91.1.1:7701 vip=100.97.1.10 real=10.91.1.10"));
  EXPECT_FALSE(
      ParseConfigLine("v1 net=100.97.0.0/16 router=10.91.1.1:7701 vip=100.97.1.10 real=10.91.1.10 timeout_ms=0"));
  EXPECT_FALSE(ParseMode("auto"));
  EXPECT_TRUE(ParseMode("ptrace-all"));
}

std::string TempFile(const void* data, size_t n) {
  char path[] = "/tmp/uvpn-trace-unit-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, data, n), static_cast<ssize_t>(n));
  fchmod(fd, 0755);
  close(fd);
  return path;
}

std::string FakeElf(bool with_interp) {
  struct {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[2];
  } f;
  memset(&f, 0, sizeof f);
  memcpy(f.eh.e_ident, ELFMAG, SELFMAG);
  f.eh.e_ident[EI_CLASS] = ELFCLASS64;
  f.eh.e_phoff = sizeof f.eh;
  f.eh.e_phentsize = sizeof(Elf64_Phdr);
  f.eh.e_phnum = 2;
  f.ph[0].p_type = PT_LOAD;
  f.ph[1].p_type = with_interp ? PT_INTERP : PT_NOTE;
  return TempFile(&f, sizeof f);
}

TEST(TraceLaunch, StaticDetection) {
  std::string st = FakeElf(false), dy = FakeElf(true), script = TempFile("#!/bin/sh\n", 10);
  EXPECT_TRUE(*IsStaticElf(st));
  EXPECT_FALSE(*IsStaticElf(dy));
  EXPECT_FALSE(IsStaticElf(script));
  std::string note;
  EXPECT_EQ(*ChooseLaunch("", st, &note), Launch::kPtrace);
  EXPECT_NE(note.find("statically linked"), std::string::npos);
  EXPECT_EQ(*ChooseLaunch("auto", dy, &note), Launch::kPreload);
  EXPECT_TRUE(note.empty());
  EXPECT_EQ(*ChooseLaunch("auto", script, &note), Launch::kPreload);
  EXPECT_EQ(*ChooseLaunch("", "no-such-command-uvpn", &note), Launch::kPreload);
  EXPECT_EQ(*ChooseLaunch("preload", st, &note), Launch::kPreload);
  EXPECT_EQ(*ChooseLaunch("ptrace-all", dy, &note), Launch::kPtraceAll);
  EXPECT_FALSE(ChooseLaunch("strace", dy, &note));
  EXPECT_EQ(*ChooseLaunch("auto", "sh", &note), Launch::kPreload);  // found on PATH, dynamic
  for (auto& p : {st, dy, script}) unlink(p.c_str());
}

TEST(TraceFilter, InterestingMirrorsTheFilter) {
  uint64_t a[6] = {};
  EXPECT_TRUE(Interesting(SYS_connect, a));
  EXPECT_TRUE(Interesting(SYS_accept4, a));
  EXPECT_FALSE(Interesting(SYS_write, a));
  EXPECT_FALSE(Interesting(SYS_getsockopt, a));
  a[1] = SOL_SOCKET;
  a[2] = SO_ERROR;
  EXPECT_TRUE(Interesting(SYS_getsockopt, a));
  a[2] = SO_TYPE;
  EXPECT_FALSE(Interesting(SYS_getsockopt, a));
  uint64_t c[6] = {0x00800000 | 17};
  EXPECT_TRUE(Interesting(SYS_clone, c));
  c[0] = 17;
  EXPECT_FALSE(Interesting(SYS_clone, c));
  uint64_t d[6] = {3, 0x1000, 5, 0, 0, 0};  // send()/recv(): no address, never a stop
  EXPECT_FALSE(Interesting(SYS_sendto, d));
  EXPECT_FALSE(Interesting(SYS_recvfrom, d));
  d[4] = uint64_t{1} << 40;  // an address whose low word is 0
  EXPECT_TRUE(Interesting(SYS_sendto, d));
  EXPECT_TRUE(Interesting(SYS_recvfrom, d));
  EXPECT_TRUE(IsDataCall(SYS_write));
  EXPECT_FALSE(IsDataCall(SYS_connect));
  // Names (docs/trace.md "Names"): opens with the flags resolvers use for /etc/hosts stop (the monitor tells
  // /etc/hosts apart by its path), others never; none with names off.
  uint64_t o[6] = {0x1000, O_RDONLY | O_CLOEXEC, 0, 0, 0, 0};
  EXPECT_TRUE(Interesting(SYS_open, o));
  EXPECT_FALSE(Interesting(SYS_open, o, false));
  o[1] = O_RDONLY | O_CLOEXEC | 0x8000;  // musl adds O_LARGEFILE
  EXPECT_TRUE(Interesting(SYS_open, o));
  o[1] = O_RDONLY;  // fopen("r"): no stop
  EXPECT_FALSE(Interesting(SYS_open, o));
  o[1] = O_WRONLY | O_CLOEXEC;
  EXPECT_FALSE(Interesting(SYS_open, o));
  uint64_t oa[6] = {static_cast<uint64_t>(AT_FDCWD), 0x1000, O_RDONLY | O_CLOEXEC, 0, 0, 0};
  EXPECT_TRUE(Interesting(SYS_openat, oa));
  oa[2] = O_RDONLY | O_CLOEXEC | O_DIRECTORY;
  EXPECT_FALSE(Interesting(SYS_openat, oa));
  EXPECT_TRUE(Interesting(SYS_openat2, oa));  // flags live in a struct: the monitor reads them
  EXPECT_FALSE(Interesting(SYS_openat2, oa, false));
}

TEST(TraceHosts, FormatPutsHomeEntriesFirst) {
  auto entry = [](uint32_t vip, const char* name, bool home) {
    proto::HostEntry e;
    e.vip = vip;
    e.home = home;
    e.name_len = static_cast<uint8_t>(strlen(name));
    memcpy(e.name, name, e.name_len);
    return e;
  };
  std::vector<proto::HostEntry> v = {entry(0x6461010B, "dup", false), entry(0x6461020B, "dup", true),
                                     entry(0x6461020C, "b2", true)};
  EXPECT_EQ(FormatHosts(v), "100.97.2.11 dup\n100.97.2.12 b2\n100.97.1.11 dup\n");
  EXPECT_EQ(FormatHosts({}), "");
}

TEST(TraceHosts, FetchFailsFastWithoutARouter) {
  // Nobody on this port: ECONNREFUSED is retried until the deadline, then a clear error, no hang.
  auto r = FetchHosts(Endpoint{0x7F000001, 9}, 150);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("no answer"), std::string::npos) << r.error().message();
}

// In a child: 0 if every expectation holds, else the number of the failed check.
int FilterChild() {
  if (InstallFilter(BuildFilter()) != 0) return 1;
  int s = socket(AF_INET, SOCK_STREAM, 0);  // allowed
  if (s < 0) return 2;
  int v = 0;
  socklen_t l = sizeof v;
  if (getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l) != 0 || v != SOCK_STREAM) return 3;  // allowed by argument
  l = sizeof v;
  if (getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &l) != -1 || errno != ENOSYS) return 4;  // trapped
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != -1 || errno != ENOSYS) return 5;  // trapped
  if (bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != -1 || errno != ENOSYS) return 6;
  if (syscall(SYS_io_uring_setup, 1, nullptr) != -1 || errno != ENOSYS) return 7;  // refused
  char b;
  if (write(-1, &b, 1) != -1 || errno != EBADF) return 8;  // the data path is allowed
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(9);
  if (u < 0 || send(u, &b, 1, 0) != -1 || errno != EDESTADDRREQ) return 9;  // sendto without address: allowed
  if (sendto(u, &b, 1, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != -1 || errno != ENOSYS) return 10;
  if (recv(u, &b, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN) return 11;
  socklen_t al = sizeof sa;
  if (recvfrom(u, &b, 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&sa), &al) != -1 || errno != ENOSYS) return 12;
  // The injected descriptor filter (connected UDP): the data calls of that descriptor only.
  if (InstallFilter(BuildFdFilter(u)) != 0) return 13;
  if (write(u, &b, 1) != -1 || errno != ENOSYS) return 14;
  if (read(u, &b, 1) != -1 || errno != ENOSYS) return 15;
  if (write(-1, &b, 1) != -1 || errno != EBADF) return 16;  // other descriptors: allowed
  if (recv(s, &b, 1, MSG_DONTWAIT) != -1 || errno == ENOSYS) return 17;
  // Opens with the resolvers' flags are trapped (ENOSYS without a tracer), others are not.
  if (syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC) != -1 || errno != ENOSYS) return 18;
  if (syscall(SYS_open, "/dev/null", O_RDONLY | O_CLOEXEC | 0x8000) != -1 || errno != ENOSYS) return 19;
  for (int flags : {O_WRONLY | O_CLOEXEC, O_RDONLY}) {
    long w = syscall(SYS_openat, AT_FDCWD, "/dev/null", flags);
    if (w < 0) return 20;
    close(static_cast<int>(w));
  }
  return 0;
}

TEST(TraceFilter, InstalledFilterTrapsOnlyTheCallsOfInterest) {
  pid_t p = fork();
  ASSERT_GE(p, 0);
  if (p == 0) _exit(FilterChild());
  int st = 0;
  ASSERT_EQ(waitpid(p, &st, 0), p);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << "check " << WEXITSTATUS(st) << " of FilterChild failed";
}

}  // namespace
}  // namespace uvpn::trace
