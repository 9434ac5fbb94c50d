// See cache.h for the seqlock table.
#include "shim/cache.h"

#include <sched.h>

namespace uvpn::shim {
namespace {

constexpr uint32_t kSlots = 4096;
constexpr uint32_t kWindow = 8;
constexpr int kSpin = 2000;

struct Slot {
  std::atomic<uint32_t> seq;
  std::atomic<uint64_t> ino;
  std::atomic<uint64_t> rl, rp, vl, vp, meta;
};

Slot g_slots[kSlots];
std::atomic<int> g_pending{0};

uint32_t Home(uint64_t ino) {
  uint64_t h = ino * 0x9E3779B97F4A7C15ull;
  return static_cast<uint32_t>(h >> 40) & (kSlots - 1);
}

uint64_t PackMeta(const Entry& e) {
  return static_cast<uint64_t>(e.kind) | static_cast<uint64_t>(e.state) << 8 |
         static_cast<uint64_t>(e.flags) << 16 | static_cast<uint64_t>(e.err) << 32;
}

// Reads slot `s` into *e. False if a writer was active throughout the attempts.
bool ReadSlot(Slot& s, Entry* e) {
  for (int i = 0; i < kSpin; ++i) {
    uint32_t a = s.seq.load(std::memory_order_acquire);
    if (a & 1) {
      if (i > 16) sched_yield();
      continue;
    }
    e->ino = s.ino.load(std::memory_order_relaxed);
    e->real_local = UnpackEp(s.rl.load(std::memory_order_relaxed));
    e->real_peer = UnpackEp(s.rp.load(std::memory_order_relaxed));
    e->virt_local = UnpackEp(s.vl.load(std::memory_order_relaxed));
    e->virt_peer = UnpackEp(s.vp.load(std::memory_order_relaxed));
    uint64_t m = s.meta.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.seq.load(std::memory_order_relaxed) != a) continue;
    e->kind = static_cast<Kind>(m & 0xff);
    e->state = static_cast<CState>((m >> 8) & 0xff);
    e->flags = static_cast<uint8_t>(m >> 16);
    e->err = static_cast<uint16_t>(m >> 32);
    return true;
  }
  return false;
}

// Takes the write side of `s`; returns the odd sequence to pass to Unlock, or 0 if busy too long.
uint32_t Lock(Slot& s) {
  for (int i = 0; i < kSpin; ++i) {
    uint32_t a = s.seq.load(std::memory_order_relaxed);
    if ((a & 1) == 0 && s.seq.compare_exchange_weak(a, a + 1, std::memory_order_acquire)) {
      std::atomic_thread_fence(std::memory_order_release);
      return a + 1;
    }
    if (i > 16) sched_yield();
  }
  return 0;
}

void Unlock(Slot& s, uint32_t odd) {
  s.seq.store(odd + 1, std::memory_order_release);
}

// REQUIRES: the slot is locked.
void WriteLocked(Slot& s, const Entry& e) {
  s.ino.store(e.ino, std::memory_order_relaxed);
  s.rl.store(PackEp(e.real_local), std::memory_order_relaxed);
  s.rp.store(PackEp(e.real_peer), std::memory_order_relaxed);
  s.vl.store(PackEp(e.virt_local), std::memory_order_relaxed);
  s.vp.store(PackEp(e.virt_peer), std::memory_order_relaxed);
  s.meta.store(PackMeta(e), std::memory_order_relaxed);
}

bool IsPendingMeta(uint64_t m) {
  return ((m >> 8) & 0xff) == static_cast<uint64_t>(CState::kPending);
}

// Finds the slot holding `ino`, or -1.
int FindSlot(uint64_t ino) {
  uint32_t h = Home(ino);
  for (uint32_t k = 0; k < kWindow; ++k) {
    uint32_t i = (h + k) & (kSlots - 1);
    if (g_slots[i].ino.load(std::memory_order_relaxed) == ino) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

bool CacheFind(uint64_t ino, Entry* out) {
  if (ino == 0) return false;
  int i = FindSlot(ino);
  if (i < 0) return false;
  return ReadSlot(g_slots[i], out) && out->ino == ino;
}

void CachePut(const Entry& e) {
  if (e.ino == 0) return;
  int idx = FindSlot(e.ino);
  if (idx < 0) {
    // Prefer an empty slot, then one that is not pending, then the home slot.
    uint32_t h = Home(e.ino);
    int empty = -1, idle = -1;
    for (uint32_t k = 0; k < kWindow; ++k) {
      uint32_t i = (h + k) & (kSlots - 1);
      if (empty < 0 && g_slots[i].ino.load(std::memory_order_relaxed) == 0) empty = static_cast<int>(i);
      if (idle < 0 && !IsPendingMeta(g_slots[i].meta.load(std::memory_order_relaxed)))
        idle = static_cast<int>(i);
    }
    idx = empty >= 0 ? empty : idle >= 0 ? idle : static_cast<int>(h);
  }
  Slot& s = g_slots[idx];
  bool now_pending = e.state == CState::kPending;
  if (now_pending) g_pending.fetch_add(1, std::memory_order_relaxed);  // before it becomes visible
  uint32_t odd = Lock(s);
  if (odd == 0) return;  // dropped; the hint stays high, which is allowed
  bool was_pending =
      s.ino.load(std::memory_order_relaxed) != 0 && IsPendingMeta(s.meta.load(std::memory_order_relaxed));
  WriteLocked(s, e);
  Unlock(s, odd);
  if (was_pending) g_pending.fetch_sub(1, std::memory_order_relaxed);
}

bool CacheUpdate(uint64_t ino, bool (*fn)(Entry*, void*), void* ctx) {
  if (ino == 0) return false;
  int idx = FindSlot(ino);
  if (idx < 0) return false;
  Slot& s = g_slots[idx];
  g_pending.fetch_add(1, std::memory_order_relaxed);  // in case fn makes it pending; settled below
  uint32_t odd = Lock(s);
  bool stored = false, was_pending = false, now_pending = false;
  if (odd != 0) {
    Entry e;
    uint64_t m = s.meta.load(std::memory_order_relaxed);
    e.ino = s.ino.load(std::memory_order_relaxed);
    if (e.ino == ino) {
      e.real_local = UnpackEp(s.rl.load(std::memory_order_relaxed));
      e.real_peer = UnpackEp(s.rp.load(std::memory_order_relaxed));
      e.virt_local = UnpackEp(s.vl.load(std::memory_order_relaxed));
      e.virt_peer = UnpackEp(s.vp.load(std::memory_order_relaxed));
      e.kind = static_cast<Kind>(m & 0xff);
      e.state = static_cast<CState>((m >> 8) & 0xff);
      e.flags = static_cast<uint8_t>(m >> 16);
      e.err = static_cast<uint16_t>(m >> 32);
      was_pending = e.state == CState::kPending;
      if (fn(&e, ctx)) {
        e.ino = ino;
        WriteLocked(s, e);
        stored = true;
        now_pending = e.state == CState::kPending;
      }
    }
    Unlock(s, odd);
  }
  int delta = -1 + (stored && was_pending ? -1 : 0) + (stored && now_pending ? 1 : 0);
  g_pending.fetch_add(delta, std::memory_order_relaxed);
  return stored;
}

int CachePendingHint() {
  return g_pending.load(std::memory_order_relaxed);
}

}  // namespace uvpn::shim
