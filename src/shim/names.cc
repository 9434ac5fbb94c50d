// Overlay name resolution for the preload library: see names.h for the contract, docs/shim.md "Host names".
//
// Theory of operation: a query first checks whether it can concern the overlay at all (a valid host name that
// is not numeric or localhost; an address inside the session network), then answers the node's own name and
// VIP from the configuration, then looks in a small answer cache, and only then asks the home router with one
// UDP datagram (RESOLVE or RESOLVE_ADDR), re-sent after 20 ms doubling, for at most 300 ms. Found answers are
// cached 10 s; "not found" and "no answer" 2 s, so a resolver that keeps asking about a name outside the
// overlay costs one round trip every 2 s, and a dead router at most one 300 ms wait per name every 2 s.
//
// The cache: 64 slots, open addressing with a probe window of 4, each slot a seqlock made of atomics (the
// scheme of cache.h: readers copy and retry if the sequence moved; a writer takes the slot with a
// compare-and-swap and gives up rather than waits). Keys are the lower-cased name (forward) or the VIP
// (reverse). No allocation, no locks: safe in every thread (curl resolves in its own) and after fork.
#include "shim/names.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "proto/wire.h"
#include "shim/slog.h"
#include "shim/sockaddr.h"

namespace uvpn::shim {
namespace {

constexpr int kAskMs = 300;
constexpr int64_t kFoundTtlMs = 10000;
constexpr int64_t kMissTtlMs = 2000;
constexpr uint32_t kSlots = 64;
constexpr uint32_t kWindow = 4;
constexpr int kSpin = 200;

char Lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool SameName(const char* a, size_t an, const char* b, size_t bn) {
  if (an != bn) return false;
  for (size_t i = 0; i < an; ++i)
    if (Lower(a[i]) != Lower(b[i])) return false;
  return true;
}

// ---- the answer cache ---------------------------------------------------------------------------

enum : uint8_t { kFwd = 1, kRev = 2 };

struct Slot {
  std::atomic<uint32_t> seq;
  std::atomic<uint64_t> meta;     // kind | found << 8 | len << 16 | vip << 32
  std::atomic<uint64_t> key;      // forward: hash of the lower-cased query; reverse: the vip
  std::atomic<int64_t> expires;   // NowMs() scale
  std::atomic<uint64_t> name[8];  // 64 bytes: the canonical name (found) or the query (forward miss)
};
Slot g_slots[kSlots];

uint64_t HashName(const char* s, size_t n) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the lower-cased bytes
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<uint8_t>(Lower(s[i]))) * 1099511628211ull;
  return h;
}

uint32_t Home(uint64_t key) {
  return static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ull) >> 58) & (kSlots - 1);
}

struct Answer {
  uint8_t kind = 0;
  bool found = false;
  int64_t expires = 0;
  uint64_t key = 0;
  NodeName node;
};

bool ReadSlot(Slot& s, Answer* a) {
  for (int i = 0; i < kSpin; ++i) {
    uint32_t q = s.seq.load(std::memory_order_acquire);
    if (q & 1) continue;
    uint64_t m = s.meta.load(std::memory_order_relaxed);
    a->key = s.key.load(std::memory_order_relaxed);
    a->expires = s.expires.load(std::memory_order_relaxed);
    uint64_t w[8];
    for (int k = 0; k < 8; ++k) w[k] = s.name[k].load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.seq.load(std::memory_order_relaxed) != q) continue;
    a->kind = static_cast<uint8_t>(m);
    a->found = ((m >> 8) & 0xff) != 0;
    a->node.len = static_cast<uint8_t>((m >> 16) & 0xff);
    a->node.vip = static_cast<uint32_t>(m >> 32);
    if (a->node.len > proto::kMaxName) return false;
    memcpy(a->node.name, w, sizeof w);
    a->node.name[a->node.len] = '\0';
    return true;
  }
  return false;
}

void WriteSlot(Slot& s, const Answer& a) {
  uint32_t q = s.seq.load(std::memory_order_relaxed);
  if ((q & 1) != 0 || !s.seq.compare_exchange_strong(q, q + 1, std::memory_order_acquire)) return;  // busy
  std::atomic_thread_fence(std::memory_order_release);
  uint64_t w[8] = {};
  memcpy(w, a.node.name, a.node.len);
  s.meta.store(static_cast<uint64_t>(a.kind) | static_cast<uint64_t>(a.found) << 8 |
                   static_cast<uint64_t>(a.node.len) << 16 | static_cast<uint64_t>(a.node.vip) << 32,
               std::memory_order_relaxed);
  s.key.store(a.key, std::memory_order_relaxed);
  s.expires.store(a.expires, std::memory_order_relaxed);
  for (int k = 0; k < 8; ++k) s.name[k].store(w[k], std::memory_order_relaxed);
  s.seq.store(q + 2, std::memory_order_release);
}

// Forward: `name` (n bytes) is the query. Reverse: name is null and key the vip.
bool CacheGet(uint8_t kind, uint64_t key, const char* name, size_t n, int64_t now, Answer* out) {
  for (uint32_t i = 0; i < kWindow; ++i) {
    Answer a;
    if (!ReadSlot(g_slots[(Home(key) + i) & (kSlots - 1)], &a)) continue;
    if (a.kind != kind || a.key != key || a.expires <= now) continue;
    if (kind == kFwd && !SameName(a.node.name, a.node.len, name, n)) continue;
    *out = a;
    return true;
  }
  return false;
}

void CachePutAnswer(const Answer& a, int64_t now) {
  // The slot holding the same key, else the first expired one, else the one expiring first.
  uint32_t best = Home(a.key);
  int64_t best_exp = INT64_MAX;
  for (uint32_t i = 0; i < kWindow; ++i) {
    uint32_t idx = (Home(a.key) + i) & (kSlots - 1);
    Answer cur;
    if (!ReadSlot(g_slots[idx], &cur)) continue;
    if ((cur.kind == a.kind && cur.key == a.key) || cur.expires <= now) {
      best = idx;
      break;
    }
    if (cur.expires < best_exp) best_exp = cur.expires, best = idx;
  }
  WriteSlot(g_slots[best], a);
}

// ---- asking the router ---------------------------------------------------------------------------

// Sends `q` (n bytes, query id `qid`) to the router; true with *rep once a matching RESOLVE_REPLY arrived.
bool Ask(const Config& cfg, const uint8_t* q, size_t n, uint32_t qid, proto::ResolveReplyMsg* rep) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return false;
  sockaddr_storage rs;
  socklen_t rl = FromEp(cfg.router, false, &rs);
  // The raw system call: the library's own connect hook has nothing to do with this socket. A connected UDP
  // socket also reports an ICMP port-unreachable (no router on the head) as ECONNREFUSED at once.
  if (syscall(SYS_connect, s, &rs, rl) != 0) {
    close(s);
    return false;
  }
  int budget = cfg.timeout_ms < kAskMs ? cfg.timeout_ms : kAskMs;
  int64_t deadline = NowMs() + budget;
  int interval = 20;
  bool done = false;
  bool refused = false;
  while (!done && !refused && NowMs() < deadline) {
    (void)send(s, q, n, MSG_NOSIGNAL);
    int64_t resend = NowMs() + interval;
    if (resend > deadline) resend = deadline;
    interval = interval * 2 > 200 ? 200 : interval * 2;
    while (!done) {
      int64_t left = resend - NowMs();
      if (left <= 0) break;
      pollfd p{s, POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      uint8_t in[proto::kResolveReplyMax];
      ssize_t got = recv(s, in, sizeof in, MSG_DONTWAIT);
      if (got < 0) {
        if (errno == ECONNREFUSED) refused = true;
        if (errno != EAGAIN && errno != EINTR) break;
        continue;
      }
      size_t used;
      if (proto::Decode(in, static_cast<size_t>(got), rep, &used) == proto::Parse::kOk &&
          rep->query_id == qid)
        done = true;
    }
  }
  close(s);
  return done;
}

uint32_t NextQueryId() {
  static std::atomic<uint32_t> counter{0};
  return (static_cast<uint32_t>(getpid()) << 16) ^ 0x5a5a0000u ^
         counter.fetch_add(1, std::memory_order_relaxed);
}

void WarnNoAnswer(const Config& cfg) {
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    Line(LogLevel::kWarn).S("home router ").E(cfg.router).S(" does not answer name queries").Emit();
}

// Length of `name` without one trailing dot if it may be an overlay name, else 0.
size_t Candidate(const char* name) {
  if (name == nullptr) return 0;
  size_t n = strnlen(name, proto::kMaxName + 2);
  if (n > 0 && name[n - 1] == '.') --n;
  if (!proto::ValidHostName(name, n)) return 0;
  static constexpr char kLocal[] = "localhost";
  constexpr size_t kl = sizeof kLocal - 1;
  if (n >= kl && SameName(name + n - kl, kl, kLocal, kl) && (n == kl || name[n - kl - 1] == '.')) return 0;
  char buf[proto::kMaxName + 1];
  memcpy(buf, name, n);
  buf[n] = '\0';
  in_addr a;
  if (inet_aton(buf, &a) != 0) return 0;  // numeric in any form glibc accepts ("1.2.3", "0x7f000001")
  return n;
}

}  // namespace

bool SelfName(const Config& cfg, NodeName* out) {
  if (!cfg.valid || cfg.name_len == 0) return false;
  out->vip = cfg.vip;
  out->len = cfg.name_len;
  memcpy(out->name, cfg.name, cfg.name_len);
  out->name[cfg.name_len] = '\0';
  return true;
}

bool ResolveName(const Config& cfg, const char* name, NodeName* out) {
  size_t n = Candidate(name);
  if (n == 0 || !cfg.valid) return false;
  int saved = errno;
  NodeName self;
  if (SelfName(cfg, &self) && SameName(self.name, self.len, name, n)) {
    *out = self;
    return true;
  }
  uint64_t key = HashName(name, n);
  int64_t now = NowMs();
  Answer a;
  if (CacheGet(kFwd, key, name, n, now, &a)) {
    if (a.found) *out = a.node;
    errno = saved;
    return a.found;
  }
  proto::ResolveMsg q;
  q.query_id = NextQueryId();
  q.name_len = static_cast<uint8_t>(n);
  memcpy(q.name, name, n);
  uint8_t buf[proto::kResolveMax];
  size_t len = proto::Encode(q, buf, sizeof buf);
  proto::ResolveReplyMsg rep;
  bool answered = Ask(cfg, buf, len, q.query_id, &rep);
  if (!answered) WarnNoAnswer(cfg);
  a = Answer{};
  a.kind = kFwd;
  a.key = key;
  a.found = answered && rep.found;
  a.expires = NowMs() + (a.found ? kFoundTtlMs : kMissTtlMs);
  if (a.found) {
    a.node.vip = rep.vip;
    a.node.len = rep.name_len;
    memcpy(a.node.name, rep.name, rep.name_len);
  } else {
    a.node.len = static_cast<uint8_t>(n);
    memcpy(a.node.name, name, n);
  }
  a.node.name[a.node.len] = '\0';
  CachePutAnswer(a, now);
  if (LogOn(LogLevel::kDebug)) {
    Line l(LogLevel::kDebug);
    l.S("resolve ").S(a.node.name);
    if (a.found)
      l.S(" -> ").Ip(a.node.vip);
    else
      l.S(answered ? ": not in the overlay" : ": no answer");
    l.Emit();
  }
  if (a.found) *out = a.node;
  errno = saved;
  return a.found;
}

AddrResult ResolveAddr(const Config& cfg, uint32_t vip, NodeName* out) {
  if (!cfg.InNet(vip)) return AddrResult::kNotOurs;
  int saved = errno;
  NodeName self;
  if (SelfName(cfg, &self) && vip == cfg.vip) {
    *out = self;
    return AddrResult::kFound;
  }
  int64_t now = NowMs();
  Answer a;
  if (!CacheGet(kRev, vip, nullptr, 0, now, &a)) {
    proto::ResolveAddrMsg q{NextQueryId(), vip};
    uint8_t buf[proto::kResolveAddrSize];
    size_t len = proto::Encode(q, buf, sizeof buf);
    proto::ResolveReplyMsg rep;
    bool answered = Ask(cfg, buf, len, q.query_id, &rep);
    if (!answered) WarnNoAnswer(cfg);
    a = Answer{};
    a.kind = kRev;
    a.key = vip;
    a.found = answered && rep.found && rep.vip == vip;
    a.expires = NowMs() + (a.found ? kFoundTtlMs : kMissTtlMs);
    if (a.found) {
      a.node.vip = vip;
      a.node.len = rep.name_len;
      memcpy(a.node.name, rep.name, rep.name_len);
      a.node.name[a.node.len] = '\0';
    }
    CachePutAnswer(a, now);
  }
  errno = saved;
  if (a.found) {
    *out = a.node;
    return AddrResult::kFound;
  }
  return AddrResult::kNoNode;
}

}  // namespace uvpn::shim
