// The futex operations the semaphores need, on the 32-bit word glibc's sem_t
// waits on.  Each returns a result, never touches errno and never throws.
//
// Shared or private: a process-shared semaphore must use shared futexes (the
// kernel keys them by the physical page, so waiters in other processes are
// found); a process-private one may use the cheaper private futexes.  glibc
// records which in the semaphore itself, and so do we, so that stock glibc and
// lambshm agree on every semaphore they share.
#pragma once

#include <cerrno>
#include <climits>
#include <cstdint>

#include "linux_syscall.h"

namespace lambshm::futex {

enum class WaitResult {
  kWoken,         // woken by a wake, or spuriously: re-check the word
  kValueChanged,  // the word did not hold the expected value (EAGAIN)
  kInterrupted,   // a signal handler ran (EINTR)
  kTimedOut,      // the absolute deadline passed (ETIMEDOUT)
  kFailed,        // the kernel refused the wait itself (ENOSYS under a seccomp filter, ...)
};

inline int op(int base, bool shared) { return shared ? base : (base | FUTEX_PRIVATE_FLAG); }

// Sleeps while *word == expected, until woken, interrupted, or `deadline` (an
// absolute time on `clock`: CLOCK_REALTIME or CLOCK_MONOTONIC; nullptr = none).
inline WaitResult wait(uint32_t* word, uint32_t expected, const struct timespec* deadline,
                       clockid_t clock, bool shared) {
  int base = FUTEX_WAIT_BITSET | (clock == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
  long r = sys::futex(word, op(base, shared), expected, deadline, nullptr,
                      FUTEX_BITSET_MATCH_ANY);
  switch (r) {
    case -EAGAIN: return WaitResult::kValueChanged;
    case -EINTR: return WaitResult::kInterrupted;
    case -ETIMEDOUT: return WaitResult::kTimedOut;
    default: return r < 0 ? WaitResult::kFailed : WaitResult::kWoken;
  }
}

// Wakes up to `count` waiters; returns how many were woken.
inline int wake(uint32_t* word, int count, bool shared) {
  long r = sys::futex(word, op(FUTEX_WAKE, shared), (uint32_t)count, nullptr, nullptr, 0);
  return r < 0 ? 0 : (int)r;
}

}  // namespace lambshm::futex
