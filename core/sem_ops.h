// Unnamed semaphore operations on glibc's sem_t, shared with stock glibc.
//
// The layout is glibc's struct new_sem for LP64 targets with 64-bit atomics
// (x86_64, aarch64): one 64-bit word whose low half is the value (and the
// futex word) and whose high half counts threads that may be blocked; then a
// 32-bit word holding the futex private flag to use (0 for a process-private
// semaphore, FUTEX_PRIVATE_FLAG for a shared one, inverted as glibc does);
// then padding.  Every transition follows glibc's protocol, so a semaphore
// may be used at once by lambshm and by stock glibc in another process:
//   post: add one to the value; if waiters are registered, wake one;
//   wait: take one if the value is non-zero; otherwise register as a waiter,
//         sleep on the value word while it is zero, and take one together
//         with unregistering (one compare-and-swap).  Before registering,
//         lambshm may watch the value for a few microseconds (spin.h): that
//         only reads the semaphore, so the protocol is unchanged.
// All functions return 0 or -errno.
//
// The paths that do not block (post without waiters, trywait, getvalue, a
// wait that finds a token) are inline: they are all most calls ever run, and
// inlined into the exported functions they cost one atomic operation and no
// call beyond the caller's own, as glibc's and musl's do.  Everything that
// may enter the kernel is out of line, in sem_ops.cpp.
#pragma once

#include <pthread.h>
#include <semaphore.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace lambshm::sem {

struct Layout {
  uint64_t data;          // value (low 32 bits) | waiters << 32
  uint32_t private_flag;  // 0: private futex ops; FUTEX_PRIVATE_FLAG: shared ones
  uint32_t pad;
};
inline constexpr uint64_t kValueMask = 0xffffffffu;
inline constexpr int kWaitersShift = 32;
inline constexpr uint32_t kSharedFlag = 128;  // FUTEX_PRIVATE_FLAG, stored for shared semaphores

int init(sem_t* sem, int pshared, unsigned value);
inline int post(sem_t* sem);
inline int trywait(sem_t* sem);
// Blocks until the value can be decremented, `deadline` (absolute, on `clock`;
// nullptr for none) passes (-ETIMEDOUT) or a signal handler runs (-EINTR).
// A cancellation point: it acts on pending cancellation first, and a thread
// cancelled while blocked unregisters itself as a waiter.
inline int wait(sem_t* sem, const struct timespec* deadline, clockid_t clock);
// wait() with glibc's validation of `deadline` first (-EINVAL).
int timedwait(sem_t* sem, const struct timespec* deadline, clockid_t clock);
// sem_clockwait: timedwait() on `clock`, which must be CLOCK_REALTIME or
// CLOCK_MONOTONIC (the clocks a futex deadline can use), else -EINVAL before
// anything else, as glibc.
int clockwait(sem_t* sem, clockid_t clock, const struct timespec* deadline);
inline int getvalue(sem_t* sem, int* value);

// The bytes of a new process-shared semaphore, as sem_open writes them to its file.
// Inline so that named semaphores need nothing else from sem_ops.cpp: the
// preload library creates semaphores but leaves waiting to libc, and the wait
// functions would make it import libpthread-only symbols on glibc < 2.34.
inline void make_shared_image(unsigned value, unsigned char (&out)[sizeof(sem_t)]) {
  memset(out, 0, sizeof out);
  Layout l{value, kSharedFlag, 0};
  memcpy(out, &l, sizeof l);
}

// --- The inline fast paths ------------------------------------------------

namespace detail {
inline std::atomic_ref<uint64_t> data(sem_t* sem) {
  return std::atomic_ref<uint64_t>(reinterpret_cast<Layout*>(sem)->data);
}
// Out of line: the slow paths.
void wake_one(sem_t* sem);
int wait_slow(sem_t* sem, const struct timespec* deadline, clockid_t clock);
}  // namespace detail

inline int post(sem_t* sem) {
  if (sem == nullptr) return -EINVAL;
  uint64_t d = detail::data(sem).load(std::memory_order_relaxed);
  do {
    if ((d & kValueMask) == SEM_VALUE_MAX) return -EOVERFLOW;
  } while (!detail::data(sem).compare_exchange_weak(d, d + 1, std::memory_order_release,
                                                    std::memory_order_relaxed));
  if ((d >> kWaitersShift) != 0) detail::wake_one(sem);
  return 0;
}

inline int trywait(sem_t* sem) {
  if (sem == nullptr) return -EINVAL;
  uint64_t d = detail::data(sem).load(std::memory_order_relaxed);
  while ((d & kValueMask) != 0) {
    if (detail::data(sem).compare_exchange_weak(d, d - 1, std::memory_order_acquire,
                                                std::memory_order_relaxed))
      return 0;
  }
  return -EAGAIN;
}

inline int wait(sem_t* sem, const struct timespec* deadline, clockid_t clock) {
  // POSIX: sem_wait "shall" be a cancellation point even when it does not block.
  pthread_testcancel();
  if (sem == nullptr) return -EINVAL;
  if (trywait(sem) == 0) return 0;
  return detail::wait_slow(sem, deadline, clock);
}

inline int getvalue(sem_t* sem, int* value) {
  if (sem == nullptr || value == nullptr) return -EINVAL;
  *value = (int)(detail::data(sem).load(std::memory_order_relaxed) & kValueMask);
  return 0;
}

}  // namespace lambshm::sem
