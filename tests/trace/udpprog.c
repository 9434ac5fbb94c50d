/* A small UDP program for the ptrace monitor's tests (docs/trace.md "UDP"), built statically by the tests
 * (cc -static). Each subcommand prints machine-readable lines ("WORD key=value ...") on stdout, flushed at once:
 *   ping IP PORT SIZE [nonblock]  sendto SIZE bytes (a pattern), then recvfrom one datagram into a buffer of
 *       exactly SIZE bytes (blocking, or polled if nonblock) -> REPLY err=OK|E.. n=N same=1|0 from=IP:PORT alen=N
 *   flood IP PORT COUNT SIZE   COUNT sendto()s of SIZE bytes -> FLOOD n=COUNT ms=...
 *   unconn IP PORT     an unconnected socket: sendto "u1" then recv, sendto "u2" then read, sendmsg "u3" (with
 *       the address) then recvmsg -> UNCONN err=OK r1=.. r2=.. r3=.. from=IP:PORT
 *   ask IP PORT TEXT   sendto TEXT, recvfrom the answer -> ANSWER err=OK data=ANSWER from=IP:PORT (spaces and
 *       newlines of the answer shown as '_')
 *   serve PORT COUNT   bind 0.0.0.0:PORT, print READY, then COUNT times: blocking recvfrom, print
 *       GOT from=IP:PORT data=TEXT, and sendto the source "re:" + TEXT
 *   sink PORT          bind 0.0.0.0:PORT (or [::]:PORT with "sink6"), print READY; recv() one datagram (no address:
 *       a receive-only server) -> SINK data=TEXT; then recvmsg() one with msg_name and sendmsg() "re:" + TEXT back
 *       to its source -> SINKMSG from=IP:PORT data=TEXT
 *   conn IP PORT       another socket: sendto "zero", recv (r0); then
 *       connect a datagram socket to IP:PORT, send "one" (send), recv, write "two", read,
 *       writev "four", readv, sendmsg "five", recvmsg, and from a forked child: send "three", recv
 *       -> CONN err=OK r1=.. r2=.. r3=.. r4=.. r5=.. r5from=IP:PORT mflags=N peer=IP:PORT name=IP:PORT r6=reuse
 *       (r6: the descriptor number, closed and reused for a pipe, still reads and writes)
 *   ping6 IP PORT SIZE  as ping from an AF_INET6 socket to ::ffff:IP -> REPLY ... from=[::ffff:IP]:PORT
 *   again PORT         bind 0.0.0.0:PORT; recvfrom on an empty socket with MSG_DONTWAIT -> AGAIN err=EAGAIN
 *   intr PORT          bind 0.0.0.0:PORT; a blocking recvfrom interrupted by SIGALRM after 300 ms (a handler
 *       without SA_RESTART) -> INTR err=EINTR; then print READY and block in recvfrom until killed
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char* ErrName(int e) {
  static char buf[32];
  if (e == 0) return "OK";
  if (e == EAGAIN) return "EAGAIN";
  if (e == EINTR) return "EINTR";
  if (e == EMSGSIZE) return "EMSGSIZE";
  snprintf(buf, sizeof buf, "E%d", e);
  return buf;
}

static void Fmt(const struct sockaddr_in* a, char* out, size_t n) {
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
  snprintf(out, n, "%s:%d", ip, ntohs(a->sin_port));
}

static void Fmt6(const struct sockaddr_in6* a, char* out, size_t n) {
  char ip[INET6_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
  snprintf(out, n, "[%s]:%d", ip, ntohs(a->sin6_port));
}

static struct sockaddr_in Addr(const char* ip, int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

static int Bound(int port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = Addr("0.0.0.0", port);
  if (s < 0 || bind(s, (struct sockaddr*)&a, sizeof a) != 0) {
    perror("bind");
    exit(2);
  }
  return s;
}

static int Ping6(const char* ip, int port, size_t size) {
  int s = socket(AF_INET6, SOCK_DGRAM, 0);
  char* out = malloc(size + 1);
  char* in = malloc(size + 1);
  for (size_t i = 0; i < size; ++i) out[i] = (char)('A' + i % 26);
  struct sockaddr_in6 to, from;
  memset(&to, 0, sizeof to);
  to.sin6_family = AF_INET6;
  to.sin6_port = htons((unsigned short)port);
  char mapped[64];
  snprintf(mapped, sizeof mapped, "::ffff:%s", ip);
  inet_pton(AF_INET6, mapped, &to.sin6_addr);
  socklen_t alen = sizeof from;
  ssize_t r = sendto(s, out, size, 0, (struct sockaddr*)&to, sizeof to);
  if (r == (ssize_t)size) r = recvfrom(s, in, size, 0, (struct sockaddr*)&from, &alen);
  char f[96] = "-";
  if (r >= 0) Fmt6(&from, f, sizeof f);
  printf("REPLY err=%s n=%zd same=%d from=%s alen=%u\n", ErrName(r < 0 ? errno : 0), r,
         r == (ssize_t)size && memcmp(in, out, size) == 0, f, (unsigned)alen);
  return 0;
}

static int Ping(const char* ip, int port, size_t size, int nonblock) {
  int s = socket(AF_INET, SOCK_DGRAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
  char* out = malloc(size + 1);
  char* in = malloc(size + 1);
  for (size_t i = 0; i < size; ++i) out[i] = (char)('a' + (i * 7 + i / 251) % 26);
  struct sockaddr_in to = Addr(ip, port);
  ssize_t w = sendto(s, out, size, 0, (struct sockaddr*)&to, sizeof to);
  if (w != (ssize_t)size) {
    printf("REPLY err=%s n=%zd same=0 from=- alen=0\n", ErrName(w < 0 ? errno : EIO), w);
    return 0;
  }
  struct sockaddr_in from;
  memset(&from, 0, sizeof from);
  socklen_t alen = sizeof from;
  ssize_t r;
  for (;;) {
    if (nonblock) {
      struct pollfd p = {s, POLLIN, 0};
      if (poll(&p, 1, 5000) != 1) {
        printf("REPLY err=ETIMEDOUT n=-1 same=0 from=- alen=0\n");
        return 0;
      }
    }
    r = recvfrom(s, in, size, 0, (struct sockaddr*)&from, &alen);  /* a buffer of exactly SIZE bytes */
    if (r >= 0 || errno != EAGAIN) break;
  }
  char f[64] = "-";
  if (r >= 0) Fmt(&from, f, sizeof f);
  printf("REPLY err=%s n=%zd same=%d from=%s alen=%u\n", ErrName(r < 0 ? errno : 0), r,
         r == (ssize_t)size && memcmp(in, out, size) == 0, f, (unsigned)alen);
  return 0;
}

static int Serve(int port, int count) {
  int s = Bound(port);
  printf("READY\n");
  for (int i = 0; i < count; ++i) {
    char buf[2048], f[64];
    struct sockaddr_in from;
    socklen_t alen = sizeof from;
    ssize_t r = recvfrom(s, buf, sizeof buf - 1, 0, (struct sockaddr*)&from, &alen);
    if (r < 0) {
      printf("GOT err=%s\n", ErrName(errno));
      return 1;
    }
    buf[r] = 0;
    Fmt(&from, f, sizeof f);
    printf("GOT from=%s data=%s\n", f, buf);
    char re[2100];
    int n = snprintf(re, sizeof re, "re:%s", buf);
    if (sendto(s, re, (size_t)n, 0, (struct sockaddr*)&from, alen) != n) printf("SEND err=%s\n", ErrName(errno));
  }
  return 0;
}

static int Sink(int port, int v6) {
  int s;
  if (v6) {
    s = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons((unsigned short)port);
    if (s < 0 || bind(s, (struct sockaddr*)&a6, sizeof a6) != 0) {
      printf("SINK err=%s\n", ErrName(errno));
      return 1;
    }
  } else {
    s = Bound(port);
  }
  printf("READY\n");
  char buf[2048];
  ssize_t r = recv(s, buf, sizeof buf - 1, 0);
  if (r < 0) {
    printf("SINK err=%s\n", ErrName(errno));
    return 1;
  }
  buf[r] = 0;
  printf("SINK data=%s\n", buf);
  struct sockaddr_storage from;
  struct iovec iov = {buf, sizeof buf - 1};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_name = &from;
  mh.msg_namelen = sizeof from;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  r = recvmsg(s, &mh, 0);
  if (r < 0) {
    printf("SINKMSG err=%s\n", ErrName(errno));
    return 1;
  }
  buf[r] = 0;
  char f[96] = "-";
  if (from.ss_family == AF_INET6) {
    Fmt6((struct sockaddr_in6*)&from, f, sizeof f);
  } else {
    Fmt((struct sockaddr_in*)&from, f, sizeof f);
  }
  printf("SINKMSG from=%s data=%s\n", f, buf);
  char re[2100];
  int n = snprintf(re, sizeof re, "re:%s", buf);
  struct iovec oiov = {re, (size_t)n};
  mh.msg_iov = &oiov;
  if (sendmsg(s, &mh, 0) != n) printf("SEND err=%s\n", ErrName(errno));
  return 0;
}

static int Conn(const char* ip, int port) {
  /* First another, unconnected socket sends "zero" and receives the answer with recv (so that the process has a
   * descriptor filter already when the connected socket gets its own). */
  int s0 = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = Addr(ip, port);
  char r0[64] = "-";
  ssize_t n0;
  if (sendto(s0, "zero", 4, 0, (struct sockaddr*)&to, sizeof to) == 4 && (n0 = recv(s0, r0, sizeof r0 - 1, 0)) >= 0)
    r0[n0] = 0;
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (connect(s, (struct sockaddr*)&to, sizeof to) != 0) {
    printf("CONN err=%s\n", ErrName(errno));
    return 0;
  }
  char r1[64] = "", r2[64] = "", r3[64] = "", peer[64] = "-", name[64] = "-";
  ssize_t n;
  if (send(s, "one", 3, 0) != 3 || (n = recv(s, r1, sizeof r1 - 1, 0)) < 0) goto fail;
  r1[n] = 0;
  if (write(s, "two", 3) != 3 || (n = read(s, r2, sizeof r2 - 1)) < 0) goto fail;
  r2[n] = 0;
  /* writev/readv, then sendmsg/recvmsg (with an address buffer), each over two buffers. */
  struct iovec wv[2] = {{"fo", 2}, {"ur", 2}};
  char r4[64] = "", r5[64] = "", r5from[64] = "-";
  struct iovec rv[2] = {{r4, 2}, {r4 + 2, sizeof r4 - 3}};
  if (writev(s, wv, 2) != 4 || (n = readv(s, rv, 2)) < 0) goto fail;
  r4[n] = 0;
  struct iovec mv[2] = {{"fi", 2}, {"ve", 2}};
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = mv;
  m.msg_iovlen = 2;
  if (sendmsg(s, &m, 0) != 4) goto fail;
  struct sockaddr_in mf;
  struct iovec mr[2] = {{r5, 1}, {r5 + 1, sizeof r5 - 2}};
  memset(&m, 0, sizeof m);
  m.msg_name = &mf;
  m.msg_namelen = sizeof mf;
  m.msg_iov = mr;
  m.msg_iovlen = 2;
  if ((n = recvmsg(s, &m, 0)) < 0) goto fail;
  r5[n] = 0;
  Fmt(&mf, r5from, sizeof r5from);
  pid_t child = fork();
  if (child == 0) {
    if (send(s, "three", 5, 0) != 5 || (n = recv(s, r3, sizeof r3 - 1, 0)) < 5) _exit(1);
    _exit(0);
  }
  int st = 0;
  waitpid(child, &st, 0);
  snprintf(r3, sizeof r3, "%s", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "three" : "-");
  struct sockaddr_in a;
  socklen_t l = sizeof a;
  if (getpeername(s, (struct sockaddr*)&a, &l) == 0) Fmt(&a, peer, sizeof peer);
  l = sizeof a;
  if (getsockname(s, (struct sockaddr*)&a, &l) == 0) Fmt(&a, name, sizeof name);
  /* The descriptor number, reused for a pipe, must work untouched (its data calls may still stop). */
  close(s);
  int pp[2];
  char r6[16] = "-";
  if (pipe(pp) == 0 && (pp[0] == s || pp[1] == s) && write(pp[1], "reuse", 5) == 5 && read(pp[0], r6, 5) == 5)
    r6[5] = 0;
  printf("CONN err=OK r0=%s r1=%s r2=%s r3=%s r4=%s r5=%s r5from=%s mflags=%d peer=%s name=%s r6=%s\n", r0, r1,
         r2, r3, r4, r5, r5from, m.msg_flags, peer, name, r6);
  return 0;
fail:
  printf("CONN err=%s r1=%s r2=%s\n", ErrName(errno), r1, r2);
  return 0;
}

static int Ask(const char* ip, int port, const char* text) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = Addr(ip, port), from;
  socklen_t alen = sizeof from;
  char buf[2048], f[64] = "-";
  ssize_t r = sendto(s, text, strlen(text), 0, (struct sockaddr*)&to, sizeof to);
  if (r >= 0) r = recvfrom(s, buf, sizeof buf - 1, 0, (struct sockaddr*)&from, &alen);
  if (r < 0) {
    printf("ANSWER err=%s\n", ErrName(errno));
    return 0;
  }
  buf[r] = 0;
  for (ssize_t i = 0; i < r; ++i)
    if (buf[i] == ' ' || buf[i] == '\n') buf[i] = '_';  /* one field on the output line */
  Fmt(&from, f, sizeof f);
  printf("ANSWER err=OK data=%s from=%s\n", buf, f);
  return 0;
}

static int Flood(const char* ip, int port, long count, size_t size) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = Addr(ip, port);
  char* buf = calloc(1, size + 1);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long n = 0;
  for (long i = 0; i < count; ++i)
    if (sendto(s, buf, size, 0, (struct sockaddr*)&to, sizeof to) == (ssize_t)size) ++n;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("FLOOD n=%ld ms=%.1f\n", n, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
  return 0;
}

static int Unconn(const char* ip, int port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = Addr(ip, port), from;
  char r1[64] = "", r2[64] = "", r3[64] = "", f[64] = "-";
  ssize_t n;
  if (sendto(s, "u1", 2, 0, (struct sockaddr*)&to, sizeof to) != 2 || (n = recv(s, r1, sizeof r1 - 1, 0)) < 0)
    goto fail;
  r1[n] = 0;
  if (sendto(s, "u2", 2, 0, (struct sockaddr*)&to, sizeof to) != 2 || (n = read(s, r2, sizeof r2 - 1)) < 0)
    goto fail;
  r2[n] = 0;
  struct iovec v = {"u3", 2}, rv = {r3, sizeof r3 - 1};
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_name = &to;
  m.msg_namelen = sizeof to;
  m.msg_iov = &v;
  m.msg_iovlen = 1;
  if (sendmsg(s, &m, 0) != 2) goto fail;
  memset(&m, 0, sizeof m);
  m.msg_name = &from;
  m.msg_namelen = sizeof from;
  m.msg_iov = &rv;
  m.msg_iovlen = 1;
  if ((n = recvmsg(s, &m, 0)) < 0) goto fail;
  r3[n] = 0;
  Fmt(&from, f, sizeof f);
  printf("UNCONN err=OK r1=%s r2=%s r3=%s from=%s\n", r1, r2, r3, f);
  return 0;
fail:
  printf("UNCONN err=%s r1=%s r2=%s\n", ErrName(errno), r1, r2);
  return 0;
}

static void OnAlarm(int sig) { (void)sig; }

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc >= 5 && strcmp(argv[1], "ping") == 0)
    return Ping(argv[2], atoi(argv[3]), (size_t)atol(argv[4]), argc > 5 && strcmp(argv[5], "nonblock") == 0);
  if (argc == 5 && strcmp(argv[1], "ping6") == 0) return Ping6(argv[2], atoi(argv[3]), (size_t)atol(argv[4]));
  if (argc == 6 && strcmp(argv[1], "flood") == 0)
    return Flood(argv[2], atoi(argv[3]), atol(argv[4]), (size_t)atol(argv[5]));
  if (argc == 4 && strcmp(argv[1], "unconn") == 0) return Unconn(argv[2], atoi(argv[3]));
  if (argc == 5 && strcmp(argv[1], "ask") == 0) return Ask(argv[2], atoi(argv[3]), argv[4]);
  if (argc == 4 && strcmp(argv[1], "conn") == 0) return Conn(argv[2], atoi(argv[3]));
  if (argc == 4 && strcmp(argv[1], "serve") == 0) return Serve(atoi(argv[2]), atoi(argv[3]));
  if (argc == 3 && strcmp(argv[1], "sink") == 0) return Sink(atoi(argv[2]), 0);
  if (argc == 3 && strcmp(argv[1], "sink6") == 0) return Sink(atoi(argv[2]), 1);
  if (argc == 3 && strcmp(argv[1], "again") == 0) {
    int s = Bound(atoi(argv[2]));
    char b[16];
    struct sockaddr_in from;
    socklen_t alen = sizeof from;
    ssize_t r = recvfrom(s, b, sizeof b, MSG_DONTWAIT, (struct sockaddr*)&from, &alen);
    printf("AGAIN err=%s\n", ErrName(r < 0 ? errno : 0));
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "intr") == 0) {
    int s = Bound(atoi(argv[2]));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnAlarm;  /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 300000}};
    setitimer(ITIMER_REAL, &it, NULL);
    char b[16];
    struct sockaddr_in from;
    socklen_t alen = sizeof from;
    ssize_t r = recvfrom(s, b, sizeof b, 0, (struct sockaddr*)&from, &alen);
    printf("INTR err=%s\n", ErrName(r < 0 ? errno : 0));
    printf("READY\n");
    alen = sizeof from;
    r = recvfrom(s, b, sizeof b, 0, (struct sockaddr*)&from, &alen);
    printf("END r=%zd\n", r);
    return 0;
  }
  fprintf(stderr, "usage: udpprog ping|ping6|flood|unconn|ask|conn|serve|again|intr ...\n");
  return 2;
}
