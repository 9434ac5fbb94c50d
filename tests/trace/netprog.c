/* A small sockets program for the ptrace monitor's tests, built statically by the tests (cc -static).
 * Each subcommand prints machine-readable lines ("WORD key=value ...") on stdout, flushed at once:
 *   connect IP PORT block|nonblock|reconnect   connect; on success send "ping", expect the echo
 *       -> RESULT err=OK|<errno name> local=IP:PORT peer=IP:PORT echo=ping|-
 *   serve IP PORT COUNT [fork]   bind (IP may be the virtual IP), listen, accept COUNT connections (accept4 for
 *       odd ones); per connection read up to 64 bytes and send them back, then close; with fork a child per
 *       connection     -> LISTEN name=IP:PORT / ACCEPT addr=IP:PORT alen=N peer=IP:PORT name=IP:PORT data=...
 *   threads IP PORT N            N threads, each a blocking connect + ping  -> THREADS ok=N
 *   exec PATH ARGS...            execv PATH ARGS (replaces this program)
 *   forkexec PATH ARGS...        fork, child execv, parent waits and exits with the child's status
 *   writeloop IP PORT COUNT SIZE [send]  blocking connect, then COUNT writes (or send()s: sendto with a NULL
 *       address, which the filter must let through) of SIZE bytes  -> WROTE n=... ms=...
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char* ErrName(int e) {
  switch (e) {
    case 0: return "OK";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNRESET: return "ECONNRESET";
    case EINPROGRESS: return "EINPROGRESS";
    case EISCONN: return "EISCONN";
    case EALREADY: return "EALREADY";
    case EACCES: return "EACCES";
    case EPROTO: return "EPROTO";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    default: {
      static char buf[32];
      snprintf(buf, sizeof buf, "E%d", e);
      return buf;
    }
  }
}

static void Fmt(const struct sockaddr_in* a, char* out, size_t n) {
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
  snprintf(out, n, "%s:%d", ip, ntohs(a->sin_port));
}

static void Names(int fd, char* local, char* peer, size_t n) {
  struct sockaddr_in a;
  socklen_t l = sizeof a;
  memset(&a, 0, sizeof a);
  if (getsockname(fd, (struct sockaddr*)&a, &l) == 0) Fmt(&a, local, n); else snprintf(local, n, "-");
  l = sizeof a;
  if (getpeername(fd, (struct sockaddr*)&a, &l) == 0) Fmt(&a, peer, n); else snprintf(peer, n, "-");
}

static struct sockaddr_in Addr(const char* ip, const char* port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)atoi(port));
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

static int Ping(int fd) {
  if (write(fd, "ping", 4) != 4) return 0;
  char buf[4];
  size_t got = 0;
  while (got < 4) {
    ssize_t r = read(fd, buf + got, 4 - got);
    if (r <= 0) return 0;
    got += (size_t)r;
  }
  return memcmp(buf, "ping", 4) == 0;
}

static int Connect(const char* ip, const char* port, const char* mode) {
  struct sockaddr_in a = Addr(ip, port);
  int nb = strcmp(mode, "block") != 0;
  int s = socket(AF_INET, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0), 0);
  int err = 0;
  if (connect(s, (struct sockaddr*)&a, sizeof a) != 0) err = errno;
  if (nb && err == EINPROGRESS) {
    struct pollfd p = {s, POLLOUT, 0};
    if (poll(&p, 1, 30000) != 1) {
      err = ETIMEDOUT;
    } else if (strcmp(mode, "nonblock") == 0) {
      socklen_t l = sizeof err;
      if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l) != 0) err = errno;
    } else {
      err = connect(s, (struct sockaddr*)&a, sizeof a) == 0 ? 0 : errno;
      if (err == EISCONN) err = 0;
    }
  } else if (nb && err == 0) {
    err = 0;
  } else if (nb) {
    printf("RESULT err=%s immediate=1\n", ErrName(err));
    return 0;
  }
  char local[64], peer[64];
  Names(s, local, peer, sizeof local);
  const char* echo = "-";
  if (err == 0) {
    if (nb) fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
    echo = Ping(s) ? "ping" : "FAIL";
  }
  printf("RESULT err=%s local=%s peer=%s echo=%s\n", ErrName(err), local, peer, echo);
  close(s);
  return 0;
}

static void Serve1(int c, const struct sockaddr_in* pa, socklen_t alen) {
  char addr[64], local[64], peer[64], data[65];
  Fmt(pa, addr, sizeof addr);
  Names(c, local, peer, sizeof local);
  ssize_t r = read(c, data, 64);
  if (r < 0) r = 0;
  data[r] = 0;
  if (r > 0 && write(c, data, (size_t)r) != r) r = 0;
  for (ssize_t i = 0; i < r; ++i)
    if (data[i] == ' ' || data[i] == '\n') data[i] = '_';
  printf("ACCEPT addr=%s alen=%u peer=%s name=%s data=%s pid=%d\n", addr, (unsigned)alen, peer, local,
         r > 0 ? data : "-", (int)getpid());
  fflush(stdout);
  close(c);
}

static int Serve(const char* ip, const char* port, int count, int forking) {
  struct sockaddr_in a = Addr(ip, port);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(s, (struct sockaddr*)&a, sizeof a) != 0) {
    printf("BIND err=%s\n", ErrName(errno));
    return 1;
  }
  listen(s, 16);
  char local[64], peer[64];
  Names(s, local, peer, sizeof local);
  printf("LISTEN name=%s\n", local);
  fflush(stdout);
  for (int i = 0; i < count; ++i) {
    struct sockaddr_in pa;
    memset(&pa, 0, sizeof pa);
    socklen_t alen = sizeof pa;
    int c = (i % 2) ? accept4(s, (struct sockaddr*)&pa, &alen, SOCK_CLOEXEC) : accept(s, (struct sockaddr*)&pa, &alen);
    if (c < 0) {
      printf("ACCEPTFAIL err=%s\n", ErrName(errno));
      return 1;
    }
    if (forking) {
      pid_t p = fork();
      if (p == 0) {
        close(s);
        Serve1(c, &pa, alen);
        _exit(0);
      }
      close(c);
    } else {
      Serve1(c, &pa, alen);
    }
  }
  if (forking)
    while (wait(NULL) > 0) {
    }
  return 0;
}

static const char* g_ip;
static const char* g_port;
static int g_ok;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static void* Worker(void* arg) {
  (void)arg;
  struct sockaddr_in a = Addr(g_ip, g_port);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int ok = connect(s, (struct sockaddr*)&a, sizeof a) == 0 && Ping(s);
  close(s);
  pthread_mutex_lock(&g_mu);
  g_ok += ok;
  pthread_mutex_unlock(&g_mu);
  return NULL;
}

static int Threads(const char* ip, const char* port, int n) {
  g_ip = ip;
  g_port = port;
  pthread_t t[64];
  if (n > 64) n = 64;
  for (int i = 0; i < n; ++i) pthread_create(&t[i], NULL, Worker, NULL);
  for (int i = 0; i < n; ++i) pthread_join(t[i], NULL);
  printf("THREADS ok=%d\n", g_ok);
  return 0;
}

static int WriteLoop(const char* ip, const char* port, long count, long size, int use_send) {
  struct sockaddr_in a = Addr(ip, port);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(s, (struct sockaddr*)&a, sizeof a) != 0) {
    printf("WROTE err=%s\n", ErrName(errno));
    return 1;
  }
  char* buf = calloc(1, (size_t)size);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long n = 0;
  for (long i = 0; i < count; ++i) {
    ssize_t w = use_send ? send(s, buf, (size_t)size, 0) : write(s, buf, (size_t)size);
    if (w <= 0) break;
    n += w;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  shutdown(s, SHUT_WR);
  char c;
  while (read(s, &c, 1) > 0) {
  }
  close(s);
  printf("WROTE n=%ld ms=%.1f\n", n, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 5 && strcmp(argv[1], "connect") == 0) return Connect(argv[2], argv[3], argv[4]);
  if (argc >= 5 && strcmp(argv[1], "serve") == 0)
    return Serve(argv[2], argv[3], atoi(argv[4]), argc > 5 && strcmp(argv[5], "fork") == 0);
  if (argc >= 5 && strcmp(argv[1], "threads") == 0) return Threads(argv[2], argv[3], atoi(argv[4]));
  if (argc >= 6 && strcmp(argv[1], "writeloop") == 0)
    return WriteLoop(argv[2], argv[3], atol(argv[4]), atol(argv[5]), argc > 6 && strcmp(argv[6], "send") == 0);
  if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
    execv(argv[2], argv + 2);
    printf("EXECFAIL err=%d\n", errno);
    return 127;
  }
  if (argc >= 3 && strcmp(argv[1], "forkexec") == 0) {
    pid_t p = fork();
    if (p == 0) {
      execv(argv[2], argv + 2);
      _exit(127);
    }
    int st = 0;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  fprintf(stderr, "usage: see the comment at the top of netprog.c\n");
  return 64;
}
