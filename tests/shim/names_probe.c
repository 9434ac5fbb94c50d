/* Probe of the name and interface hooks of libuvpn_shim.so, built by the tests with cc (tests/shim/test_names.py,
 * tests/e2e/test_names.py). Prints one observation per line, "key value...", so the tests can assert on them:
 *
 *   names_probe ifaces            getifaddrs entries, SIOCGIFCONF entries, and SIOCGIF* about uvpn0 and lo
 *   names_probe hostent NAME      gethostbyname, gethostbyname2 (AF_INET, AF_INET6), gethostbyname_r (normal and
 *                                 too small a buffer), gethostbyname2_r
 *   names_probe addr IP           gethostbyaddr, gethostbyaddr_r (AF_INET and AF_INET6 ::ffff:IP), getnameinfo
 *   names_probe hostname          gethostname (normal and too small), uname nodename
 *   names_probe loop N NAME       N x getaddrinfo(AI_CANONNAME)/freeaddrinfo and getifaddrs/freeifaddrs (memory)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char* ntop(const struct sockaddr* sa, char* buf, size_t n) {
  if (sa == NULL) return "-";
  if (sa->sa_family == AF_INET) return inet_ntop(AF_INET, &((const struct sockaddr_in*)sa)->sin_addr, buf, n);
  if (sa->sa_family == AF_INET6) return inet_ntop(AF_INET6, &((const struct sockaddr_in6*)sa)->sin6_addr, buf, n);
  return "other";
}

static void print_hostent(const char* what, const struct hostent* h) {
  if (h == NULL) {
    printf("%s null h_errno=%d\n", what, h_errno);
    return;
  }
  char a[64];
  printf("%s name=%s af=%d len=%d", what, h->h_name, h->h_addrtype, h->h_length);
  for (char** p = h->h_addr_list; *p != NULL; ++p) printf(" addr=%s", inet_ntop(h->h_addrtype, *p, a, sizeof a));
  int aliases = 0;
  for (char** p = h->h_aliases; *p != NULL; ++p) ++aliases;
  printf(" aliases=%d\n", aliases);
}

static void ifreq_probe(int s, const char* name) {
  struct ifreq r;
  char a[64];
  memset(&r, 0, sizeof r);
  strncpy(r.ifr_name, name, IFNAMSIZ - 1);
  int rc = ioctl(s, SIOCGIFADDR, &r);
  printf("ioctl %s addr %s\n", name, rc == 0 ? ntop(&r.ifr_addr, a, sizeof a) : strerror(errno));
  rc = ioctl(s, SIOCGIFNETMASK, &r);
  printf("ioctl %s netmask %s\n", name, rc == 0 ? ntop(&r.ifr_netmask, a, sizeof a) : strerror(errno));
  rc = ioctl(s, SIOCGIFFLAGS, &r);
  printf("ioctl %s flags %s%s\n", name, rc == 0 ? "" : strerror(errno),
         rc == 0 ? ((r.ifr_flags & IFF_UP) ? "up" : "down") : "");
  rc = ioctl(s, SIOCGIFINDEX, &r);
  int index = r.ifr_ifindex;
  printf("ioctl %s index %d\n", name, rc == 0 ? index : -errno);
  rc = ioctl(s, SIOCGIFMTU, &r);
  printf("ioctl %s mtu %d\n", name, rc == 0 ? r.ifr_mtu : -errno);
  if (index > 0) {
    memset(&r, 0, sizeof r);
    r.ifr_ifindex = index;
    rc = ioctl(s, SIOCGIFNAME, &r);
    printf("ioctl index %d name %s\n", index, rc == 0 ? r.ifr_name : strerror(errno));
  }
}

static int ifaces(void) {
  struct ifaddrs* list = NULL;
  char a[64], m[64];
  if (getifaddrs(&list) != 0) {
    printf("getifaddrs error %s\n", strerror(errno));
  } else {
    for (struct ifaddrs* p = list; p != NULL; p = p->ifa_next) {
      if (p->ifa_addr == NULL || p->ifa_addr->sa_family != AF_INET) continue;
      printf("getifaddrs %s %s %s %s\n", p->ifa_name, ntop(p->ifa_addr, a, sizeof a),
             ntop(p->ifa_netmask, m, sizeof m), (p->ifa_flags & IFF_UP) ? "up" : "down");
    }
    freeifaddrs(list);
  }
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct ifconf ifc;
  memset(&ifc, 0, sizeof ifc);
  if (ioctl(s, SIOCGIFCONF, &ifc) == 0) printf("ifconf_needed %d\n", ifc.ifc_len);
  char buf[8192];
  ifc.ifc_len = sizeof buf;
  ifc.ifc_buf = buf;
  if (ioctl(s, SIOCGIFCONF, &ifc) != 0) {
    printf("ifconf error %s\n", strerror(errno));
  } else {
    struct ifreq* r = (struct ifreq*)buf;
    for (int i = 0; i < ifc.ifc_len / (int)sizeof(struct ifreq); ++i)
      printf("ifconf %s %s\n", r[i].ifr_name, ntop(&r[i].ifr_addr, a, sizeof a));
  }
  /* A buffer with room for exactly one entry: the kernel fills it, nothing is appended past it. */
  struct ifreq one[2];
  memset(one, 0x5a, sizeof one);
  ifc.ifc_len = sizeof one[0];
  ifc.ifc_req = one;
  if (ioctl(s, SIOCGIFCONF, &ifc) == 0)
    printf("ifconf_small len=%d guard=%s\n", ifc.ifc_len, ((unsigned char*)&one[1])[0] == 0x5a ? "intact" : "written");
  ifreq_probe(s, "uvpn0");
  ifreq_probe(s, "lo");
  struct ifreq r;
  memset(&r, 0, sizeof r);
  strcpy(r.ifr_name, "uvpn0");
  printf("ioctl_notsock %s\n", ioctl(1, SIOCGIFADDR, &r) == 0 ? "ok" : strerror(errno));
  printf("ioctl_badfd %s\n", ioctl(-1, SIOCGIFADDR, &r) == 0 ? "ok" : strerror(errno));
  close(s);
  return 0;
}

static int hostent(const char* name) {
  print_hostent("gethostbyname", gethostbyname(name));
  print_hostent("gethostbyname2_inet", gethostbyname2(name, AF_INET));
  print_hostent("gethostbyname2_inet6", gethostbyname2(name, AF_INET6));
  struct hostent h, *res = NULL;
  char buf[1024];
  int herr = 0;
  int rc = gethostbyname_r(name, &h, buf, sizeof buf, &res, &herr);
  printf("gethostbyname_r rc=%d herr=%d\n", rc, herr);
  print_hostent("gethostbyname_r_result", res);
  rc = gethostbyname_r(name, &h, buf, 8, &res, &herr);
  printf("gethostbyname_r_small rc=%d null=%d\n", rc, res == NULL);
  rc = gethostbyname2_r(name, AF_INET, &h, buf, sizeof buf, &res, &herr);
  print_hostent("gethostbyname2_r_inet", rc == 0 ? res : NULL);
  rc = gethostbyname2_r(name, AF_INET6, &h, buf, sizeof buf, &res, &herr);
  printf("gethostbyname2_r_inet6 rc=%d null=%d herr=%d\n", rc, res == NULL, herr);
  return 0;
}

static int addr(const char* ip) {
  struct in_addr a4;
  if (inet_pton(AF_INET, ip, &a4) != 1) return 2;
  print_hostent("gethostbyaddr", gethostbyaddr(&a4, 4, AF_INET));
  unsigned char a6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  memcpy(a6 + 12, &a4, 4);
  print_hostent("gethostbyaddr6", gethostbyaddr(a6, 16, AF_INET6));
  struct hostent h, *res = NULL;
  char buf[1024];
  int herr = 0;
  int rc = gethostbyaddr_r(&a4, 4, AF_INET, &h, buf, sizeof buf, &res, &herr);
  printf("gethostbyaddr_r rc=%d herr=%d\n", rc, herr);
  print_hostent("gethostbyaddr_r_result", res);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr = a4;
  sa.sin_port = htons(22);
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  rc = getnameinfo((struct sockaddr*)&sa, sizeof sa, host, sizeof host, serv, sizeof serv, 0);
  printf("getnameinfo rc=%d host=%s serv=%s\n", rc, rc == 0 ? host : "-", rc == 0 ? serv : "-");
  rc = getnameinfo((struct sockaddr*)&sa, sizeof sa, host, 3, NULL, 0, 0);
  printf("getnameinfo_small rc=%d\n", rc);
  rc = getnameinfo((struct sockaddr*)&sa, sizeof sa, host, sizeof host, NULL, 0, NI_NAMEREQD);
  printf("getnameinfo_namereqd rc=%d host=%s\n", rc, rc == 0 ? host : "-");
  return 0;
}

static int hostname(void) {
  char buf[256];
  int rc = gethostname(buf, sizeof buf);
  printf("gethostname rc=%d name=%s\n", rc, rc == 0 ? buf : "-");
  memset(buf, 0, sizeof buf);
  rc = gethostname(buf, 3);
  printf("gethostname_small rc=%d errno=%s\n", rc, rc == 0 ? "-" : strerror(errno));
  struct utsname u;
  rc = uname(&u);
  printf("uname rc=%d nodename=%s sysname=%s\n", rc, u.nodename, u.sysname);
  return 0;
}

static int loop(int n, const char* name) {
  for (int i = 0; i < n; ++i) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_CANONNAME;
    if (getaddrinfo(name, "80", &hints, &res) != 0) {
      printf("loop getaddrinfo failed at %d\n", i);
      return 1;
    }
    freeaddrinfo(res);
    struct ifaddrs* list = NULL;
    if (getifaddrs(&list) == 0) freeifaddrs(list);
  }
  printf("loop ok %d\n", n);
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 2 && strcmp(argv[1], "ifaces") == 0) return ifaces();
  if (argc >= 3 && strcmp(argv[1], "hostent") == 0) return hostent(argv[2]);
  if (argc >= 3 && strcmp(argv[1], "addr") == 0) return addr(argv[2]);
  if (argc >= 2 && strcmp(argv[1], "hostname") == 0) return hostname();
  if (argc >= 4 && strcmp(argv[1], "loop") == 0) return loop(atoi(argv[2]), argv[3]);
  fprintf(stderr, "usage: names_probe ifaces | hostent NAME | addr IP | hostname | loop N NAME\n");
  return 2;
}
