// SIGEV_THREAD timers.
//
// The kernel can only send a signal when a timer expires.  As glibc does, a
// SIGEV_THREAD timer is a kernel timer that sends SIGTIMER (glibc's internal
// signal 32) to one helper thread of ours (SIGEV_THREAD_ID); the helper waits
// for it with rt_sigtimedwait, and starts a detached thread with the timer's
// attributes that runs the user's function.
//
// State: a registry (singly linked list) of records {serial, kernel id,
// function, value, attributes} under one lock.  The signal carries the
// record's serial, a 64-bit number never reused, not its address: a signal
// still queued for a deleted timer finds nothing and is dropped, even if a
// new record now lives at the same address (glibc compares addresses).
//
// Locking: `g_lock` guards the registry.  timer_create of a SIGEV_THREAD
// timer and timer_delete of any timer while the registry is not empty hold it
// across the kernel call, so that a kernel id freed by one thread and reused
// by another can never leave two records with one id.  The helper holds it
// while it starts a thread, since the attributes it passes belong to the
// record.  `g_start_lock` serialises starting the helper.  Neither lock is
// held while user code runs.
//
// fork: the child has no helper and no kernel timers (POSIX: timers are not
// inherited), so a fork handler empties the registry and lets the next
// SIGEV_THREAD timer start a new helper; prepare/parent handlers hold both
// locks across fork so the child never sees them taken.
#include <pthread.h>
#include <sys/syscall.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "futex.h"
#include "linux_syscall.h"
#include "mutex.h"
#include "notify/notify_thread.h"
#include "timer.h"

namespace lambshm::timer {
namespace {

// glibc's SIGTIMER.  Applications cannot use it (their SIGRTMIN is 34), and
// glibc's own timer helper waits for it the same way, so both coexist.
constexpr int kSigTimer = notify::kSigCancel;

struct Record {
  Record* next;
  uint64_t serial;
  int kernel_id;
  notify::Callback callback;
};

Mutex g_lock;
Record* g_records;                   // guarded by g_lock
std::atomic<size_t> g_record_count;  // written under g_lock; read without it
std::atomic<uint64_t> g_next_serial{1};

Mutex g_start_lock;
std::atomic<uint32_t> g_helper_tid;  // 0 until the helper runs; a futex word
bool g_fork_handlers;                // guarded by g_start_lock

void free_record(Record* r) {
  notify::destroy_callback(&r->callback);
  free(r);
}

void notify_expiry(uint64_t serial) {
  MutexLock lock(g_lock);
  for (Record* r = g_records; r != nullptr; r = r->next) {
    if (r->serial != serial) continue;
    notify::fire(r->callback);  // a failure loses the expiry, as in glibc
    return;
  }
}

void* helper_main(void*) {
  // Before anyone knows our thread id, so SIGTIMER stays queued for us.
  notify::block_helper_signals();
  g_helper_tid.store((uint32_t)sys::call(SYS_gettid), std::memory_order_release);
  futex::wake(reinterpret_cast<uint32_t*>(&g_helper_tid), INT32_MAX, /*shared=*/false);
  const notify::KernelSigset wanted = notify::sig_bit(kSigTimer);
  for (;;) {
    siginfo_t info;
    long sig = sys::call(SYS_rt_sigtimedwait, &wanted, &info, nullptr,
                         sizeof(notify::KernelSigset));
    if (sig == kSigTimer && info.si_code == SI_TIMER)
      notify_expiry(reinterpret_cast<uintptr_t>(info.si_value.sival_ptr));
  }
}

void before_fork() {
  g_start_lock.lock();
  g_lock.lock();
}

void after_fork_parent() {
  g_lock.unlock();
  g_start_lock.unlock();
}

void after_fork_child() {
  g_lock.reset_after_fork();
  g_start_lock.reset_after_fork();
  Record* r = g_records;
  g_records = nullptr;
  g_record_count.store(0, std::memory_order_relaxed);
  g_helper_tid.store(0, std::memory_order_relaxed);
  while (r != nullptr) {
    Record* next = r->next;
    free_record(r);
    r = next;
  }
}

// The helper's thread id, starting the helper on first use; -errno.
int helper_tid() {
  uint32_t tid = g_helper_tid.load(std::memory_order_acquire);
  if (tid != 0) return (int)tid;
  MutexLock lock(g_start_lock);
  tid = g_helper_tid.load(std::memory_order_acquire);
  if (tid != 0) return (int)tid;
  if (!g_fork_handlers) {
    if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) return -ENOMEM;
    g_fork_handlers = true;
  }
  int r = notify::start_helper(helper_main, nullptr);
  if (r < 0) return r;
  while ((tid = g_helper_tid.load(std::memory_order_acquire)) == 0)
    futex::wait(reinterpret_cast<uint32_t*>(&g_helper_tid), 0, nullptr, CLOCK_MONOTONIC,
                /*shared=*/false);
  return (int)tid;
}

// Unlinks the record of `kernel_id`, if any.  g_lock held.
Record* unlink_record(int kernel_id) {
  for (Record** p = &g_records; *p != nullptr; p = &(*p)->next) {
    if ((*p)->kernel_id != kernel_id) continue;
    Record* r = *p;
    *p = r->next;
    g_record_count.fetch_sub(1, std::memory_order_relaxed);
    return r;
  }
  return nullptr;
}

}  // namespace

int create_thread_timer(clockid_t clock, const struct sigevent* evp, int* kernel_id) {
  // glibc would call a null function from the notification thread.
  if (evp->sigev_notify_function == nullptr) return -EINVAL;
  int tid = helper_tid();
  if (tid < 0) return -EAGAIN;  // glibc's errno when its helper cannot start

  auto* record = static_cast<Record*>(malloc(sizeof(Record)));
  if (record == nullptr) return -ENOMEM;
  if (int r = notify::init_callback(*evp, &record->callback); r < 0) {
    free(record);
    return r;
  }
  record->serial = g_next_serial.fetch_add(1, std::memory_order_relaxed);

  struct sigevent kernel_event = {};
  kernel_event.sigev_notify = SIGEV_SIGNAL | SIGEV_THREAD_ID;
  kernel_event.sigev_signo = kSigTimer;
  kernel_event.sigev_value.sival_ptr = reinterpret_cast<void*>(record->serial);
  kernel_event._sigev_un._tid = tid;

  MutexLock lock(g_lock);
  int id;
  long k = sys::call(SYS_timer_create, clock, &kernel_event, &id);
  if (k < 0) {
    free_record(record);
    return (int)k;
  }
  record->kernel_id = id;
  record->next = g_records;
  g_records = record;
  g_record_count.fetch_add(1, std::memory_order_release);
  *kernel_id = id;
  return 0;
}

int destroy(int kernel_id) {
  // No SIGEV_THREAD timer exists: nothing to forget, no lock.  A thread
  // timer's record is counted before its id is returned to anyone.
  if (g_record_count.load(std::memory_order_acquire) == 0)
    return (int)sys::call(SYS_timer_delete, kernel_id);
  Record* gone = nullptr;
  long r;
  {
    MutexLock lock(g_lock);
    r = sys::call(SYS_timer_delete, kernel_id);
    if (r == 0) gone = unlink_record(kernel_id);
  }
  if (gone != nullptr) free_record(gone);
  return (int)r;
}

}  // namespace lambshm::timer
