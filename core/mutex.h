// A process-private lock on a futex: three states (unlocked, locked, locked
// with waiters), so an uncontended lock and unlock are one atomic each and
// never enter the kernel.  Used where pthread_mutex_t would make the library
// depend on libpthread's initialisation order.  Not recursive.
#pragma once

#include <atomic>
#include <cstdint>

#include "futex.h"

namespace lambshm {

class Mutex {
 public:
  constexpr Mutex() = default;

  void lock() {
    uint32_t expected = kUnlocked;
    if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return;
    // Contended: advertise a waiter, then sleep until we take it.
    while (state_.exchange(kContended, std::memory_order_acquire) != kUnlocked)
      futex::wait(word(), kContended, nullptr, CLOCK_REALTIME, /*shared=*/false);
  }

  void unlock() {
    if (state_.exchange(kUnlocked, std::memory_order_release) == kContended)
      futex::wake(word(), 1, /*shared=*/false);
  }

  // For a child after fork(): the thread that held the lock does not exist there.
  void reset_after_fork() { state_.store(kUnlocked, std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kUnlocked = 0, kLocked = 1, kContended = 2;
  uint32_t* word() { return reinterpret_cast<uint32_t*>(&state_); }
  std::atomic<uint32_t> state_{kUnlocked};
};

class MutexLock {
 public:
  explicit MutexLock(Mutex& m) : m_(m) { m_.lock(); }
  ~MutexLock() { m_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_;
};

}  // namespace lambshm
