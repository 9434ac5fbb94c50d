/* A statically linked program that resolves host names itself (tests/e2e/test_trace_names.py): no preload
 * library can reach it, so under `uvpn run --mode ptrace` only the monitor's /etc/hosts (docs/trace.md "Names")
 * can give it overlay names. Built by the tests with `cc -static` (glibc) and `musl-gcc -static` (musl).
 *
 *   resolveprog NAME                 print "RESOLVED name=NAME ip=A.B.C.D" (getaddrinfo, AF_INET) or
 *                                    "RESOLVED name=NAME err=<gai error>"
 *   resolveprog NAME PORT MSG        resolve, connect to NAME:PORT, send MSG, print "ECHO data=<reply>"
 *   resolveprog --loop N NAME        resolve N times, one line each (a program that reads /etc/hosts repeatedly)
 *
 * Exit status 0 when every step worked, 1 otherwise. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int resolve(const char* name, struct sockaddr_in* out) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(name, NULL, &hints, &res);
  if (rc != 0) {
    printf("RESOLVED name=%s err=%s\n", name, rc == EAI_NONAME ? "EAI_NONAME" : gai_strerror(rc));
    return -1;
  }
  memcpy(out, res->ai_addr, sizeof *out);
  freeaddrinfo(res);
  printf("RESOLVED name=%s ip=%s\n", name, inet_ntoa(out->sin_addr));
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_in sa;
  if (argc == 4 && strcmp(argv[1], "--loop") == 0) {
    int ok = 0, n = atoi(argv[2]);
    for (int i = 0; i < n; ++i) ok += resolve(argv[3], &sa) == 0;
    return ok == n ? 0 : 1;
  }
  if (argc != 2 && argc != 4) {
    fprintf(stderr, "usage: resolveprog NAME [PORT MSG] | --loop N NAME\n");
    return 2;
  }
  if (resolve(argv[1], &sa) != 0) return 1;
  if (argc == 2) return 0;
  sa.sin_port = htons((unsigned short)atoi(argv[2]));
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0 || connect(s, (struct sockaddr*)&sa, sizeof sa) != 0) {
    perror("connect");
    return 1;
  }
  size_t len = strlen(argv[3]);
  if (write(s, argv[3], len) != (ssize_t)len) return 1;
  shutdown(s, SHUT_WR);
  char buf[256];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof buf - 1 && (r = read(s, buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
  buf[got] = 0;
  printf("ECHO data=%s\n", buf);
  close(s);
  return got == len ? 0 : 1;
}
