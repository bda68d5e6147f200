// aio_suspend, without the pool lock (POSIX lists it as async-signal-safe):
// every published result bumps one completion counter, and a suspended
// caller sleeps on that counter until one of its requests has a result.
// Completions wake all suspended callers; each re-checks its own list.
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>

#include "aio_internal.h"
#include "futex.h"
#include "notify/cancel.h"

namespace lambshm::aio {
namespace {

std::atomic<uint32_t> g_completions{0};  // futex word
std::atomic<uint32_t> g_suspended{0};    // callers that may sleep on it

uint32_t* completions_word() { return reinterpret_cast<uint32_t*>(&g_completions); }

bool any_finished(const struct aiocb* const list[], int nent) {
  for (int i = 0; i < nent; ++i)
    if (list[i] != nullptr && error_of(list[i]) != EINPROGRESS) return true;
  return false;
}

void leave(void*) { g_suspended.fetch_sub(1, std::memory_order_relaxed); }

int wait_registered(const struct aiocb* const list[], int nent, const struct timespec* deadline) {
  for (;;) {
    // Read the counter before the results: a result published after this
    // read bumps the counter, and the sleep below then returns at once.
    uint32_t seen = g_completions.load(std::memory_order_seq_cst);
    if (any_finished(list, nent)) return 0;
    // glibc lets cancellation act only while actually sleeping, asynchronously.
    futex::WaitResult w = lambshm::cancel::point([&] {
      return futex::wait(completions_word(), seen, deadline, CLOCK_MONOTONIC, /*shared=*/false);
    });
    switch (w) {
      case futex::WaitResult::kTimedOut: return -EAGAIN;
      case futex::WaitResult::kInterrupted: return -EINTR;
      case futex::WaitResult::kFailed: return -ENOSYS;
      case futex::WaitResult::kWoken:
      case futex::WaitResult::kValueChanged: break;
    }
  }
}

// pthread_cleanup_push is setjmp-based without exceptions: no object with a
// destructor and no state live across the sleep in this frame.
int wait_slow(const struct aiocb* const list[], int nent, const struct timespec* deadline) {
  g_suspended.fetch_add(1, std::memory_order_seq_cst);
  volatile int result;
  pthread_cleanup_push(leave, nullptr);
  result = wait_registered(list, nent, deadline);
  pthread_cleanup_pop(1);
  return result;
}

}  // namespace

void announce_completion() {
  g_completions.fetch_add(1, std::memory_order_seq_cst);
  if (g_suspended.load(std::memory_order_seq_cst) != 0)
    futex::wake(completions_word(), INT_MAX, /*shared=*/false);
}

void reset_suspend_after_fork() { g_suspended.store(0, std::memory_order_relaxed); }

int suspend(const struct aiocb* const list[], int nent, const struct timespec* timeout) {
  if (nent < 0) return -EINVAL;
  if (nent > 0 && list == nullptr) return -EINVAL;
  // As glibc: return at once when an entry has finished, or when there is no
  // entry at all to wait for.
  bool any = false;
  for (int i = 0; i < nent; ++i) {
    if (list[i] == nullptr) continue;
    if (error_of(list[i]) != EINPROGRESS) return 0;
    any = true;
  }
  if (!any) return 0;

  struct timespec deadline;
  if (timeout != nullptr) {
    if (timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000) return -EINVAL;
    if (timeout->tv_sec < 0) return -EAGAIN;  // already past
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += timeout->tv_nsec;
    long carry = deadline.tv_nsec >= 1000000000 ? 1 : 0;
    deadline.tv_nsec -= carry * 1000000000;
    if (timeout->tv_sec > LONG_MAX - deadline.tv_sec - carry)
      timeout = nullptr;  // beyond any clock: no deadline
    else
      deadline.tv_sec += timeout->tv_sec + carry;
  }
  return wait_slow(list, nent, timeout != nullptr ? &deadline : nullptr);
}

}  // namespace lambshm::aio
