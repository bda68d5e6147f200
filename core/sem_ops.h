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
//         with unregistering (one compare-and-swap).
// All functions return 0 or -errno.
#pragma once

#include <semaphore.h>
#include <time.h>

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
int post(sem_t* sem);
int trywait(sem_t* sem);
// Blocks until the value can be decremented, `deadline` (absolute, on `clock`;
// nullptr for none) passes (-ETIMEDOUT) or a signal handler runs (-EINTR).
// A cancellation point: it acts on pending cancellation first, and a thread
// cancelled while blocked unregisters itself as a waiter.
int wait(sem_t* sem, const struct timespec* deadline, clockid_t clock);
// wait() with glibc's validation of `deadline` first (-EINVAL).
int timedwait(sem_t* sem, const struct timespec* deadline, clockid_t clock);
int getvalue(sem_t* sem, int* value);

// The bytes of a new process-shared semaphore, as sem_open writes them to its file.
// Inline so that named semaphores need nothing else from sem_ops.cpp: the
// preload library creates semaphores but leaves waiting to libc, and the wait
// functions would make it import libpthread-only symbols on glibc < 2.34.
inline void make_shared_image(unsigned value, unsigned char (&out)[sizeof(sem_t)]) {
  memset(out, 0, sizeof out);
  Layout l{value, kSharedFlag, 0};
  memcpy(out, &l, sizeof l);
}

}  // namespace lambshm::sem
