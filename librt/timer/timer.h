// POSIX timers over the kernel's: what timer_* (both ABIs) share.
//
// A timer_t is the kernel's timer id, for every notification kind.  Only a
// SIGEV_THREAD timer has user-space state (its function, value and thread
// attributes), kept in a registry keyed by kernel id (thread_timers.cpp).
// glibc 2.26 makes every timer_t a pointer to a malloc'ed record instead;
// timer_t is opaque, and this way a stale or made-up timer_t gets EINVAL
// from the kernel instead of crashing the process (glibc 2.34 does the same
// for all but SIGEV_THREAD timers).
//
// Every function returns 0 (or a count) or -errno, and never touches errno.
#pragma once

#include <signal.h>
#include <time.h>

#include <climits>
#include <cstdint>

namespace lambshm::timer {

inline timer_t to_timer_t(int kernel_id) {
  return reinterpret_cast<timer_t>(static_cast<intptr_t>(kernel_id));
}

// The kernel takes an int: refuse what would be truncated into another id.
inline int to_kernel_id(timer_t t, int* kernel_id) {
  intptr_t v = reinterpret_cast<intptr_t>(t);
  if (v < 0 || v > INT_MAX) return -EINVAL;
  *kernel_id = static_cast<int>(v);
  return 0;
}

// timer_create: any notification kind; evp == nullptr is SIGEV_SIGNAL with
// SIGALRM and the timer id as value (the kernel's default, as POSIX says).
int create(clockid_t clock, const struct sigevent* evp, int* kernel_id);
// timer_delete; forgets a SIGEV_THREAD timer's state (thread_timers.cpp).
int destroy(int kernel_id);
int gettime(int kernel_id, struct itimerspec* value);
int settime(int kernel_id, int flags, const struct itimerspec* value, struct itimerspec* old);
int getoverrun(int kernel_id);

// timer_create for SIGEV_THREAD (thread_timers.cpp).
int create_thread_timer(clockid_t clock, const struct sigevent* evp, int* kernel_id);

// The old ABI's int ids (old_timer_ids.cpp, x86_64 only).  old_id_claim
// gives a free old id for `kernel_id`, or -EINVAL when all are taken.
int old_id_claim(int kernel_id);
int old_to_kernel_id(int old_id, int* kernel_id);
void old_id_release(int old_id, int kernel_id);

}  // namespace lambshm::timer
