// Lazily resolved "next" definitions of the symbols the preload library interposes (dlsym(RTLD_NEXT)), cached in
// one atomic slot per call site. Async-signal-safe after the first call of each site; thread-safe (a race
// resolves the same pointer twice). REAL(name, type) declares `real_<name>` or returns -1/ENOSYS from the
// enclosing hook when libc has no such symbol.
#pragma once

#include <dlfcn.h>
#include <errno.h>

#include <atomic>

namespace uvpn::shim {

template <typename F>
F RealSym(std::atomic<void*>* slot, const char* name) {
  void* p = slot->load(std::memory_order_relaxed);
  if (p == nullptr) {
    p = dlsym(RTLD_NEXT, name);
    slot->store(p, std::memory_order_relaxed);
  }
  return reinterpret_cast<F>(p);
}

}  // namespace uvpn::shim

#define REAL(name, type)                                             \
  static std::atomic<void*> slot_##name{nullptr};                    \
  auto real_##name = ::uvpn::shim::RealSym<type>(&slot_##name, #name); \
  if (real_##name == nullptr) {                                      \
    errno = ENOSYS;                                                  \
    return -1;                                                       \
  }
