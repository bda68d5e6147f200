#include "sem_ops.h"

#include <pthread.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstddef>

#include "futex.h"
#include "spin.h"

namespace lambshm::sem {

static_assert(sizeof(sem_t) == 32, "glibc's sem_t on LP64");
static_assert(alignof(sem_t) >= alignof(uint64_t));
static_assert(sizeof(Layout) <= sizeof(sem_t));
static_assert(offsetof(Layout, data) == 0 && offsetof(Layout, private_flag) == 8 &&
              offsetof(Layout, pad) == 12);
static_assert(std::endian::native == std::endian::little,
              "the value must be the low 32-bit word of data, as glibc's futex word");
static_assert(SEM_VALUE_MAX == 0x7fffffff);
static_assert(kSharedFlag == FUTEX_PRIVATE_FLAG);
static_assert(std::atomic_ref<uint64_t>::is_always_lock_free);

namespace {

constexpr uint64_t kOneWaiter = uint64_t{1} << kWaitersShift;

using detail::data;

Layout* layout(sem_t* sem) { return reinterpret_cast<Layout*>(sem); }
uint32_t* futex_word(sem_t* sem) { return reinterpret_cast<uint32_t*>(&layout(sem)->data); }
bool is_shared(sem_t* sem) {
  return (std::atomic_ref<uint32_t>(layout(sem)->private_flag).load(std::memory_order_relaxed) &
          kSharedFlag) != 0;
}

// The cleanup handler of a waiter that is cancelled while registered.
void unregister_waiter(void* sem) {
  data(static_cast<sem_t*>(sem)).fetch_sub(kOneWaiter, std::memory_order_relaxed);
}

futex::WaitResult sleep_cancellable(sem_t* sem, const struct timespec* deadline, clockid_t clock) {
  int old_type;
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old_type);
  futex::WaitResult r = futex::wait(futex_word(sem), 0, deadline, clock, is_shared(sem));
  pthread_setcanceltype(old_type, &old_type);
  return r;
}

// Watches the semaphore, only reading it, for up to `budget` iterations:
// until a token shows up, someone goes to sleep on it, or the budget runs out.
// (spin.h has the policy and the numbers behind it.)
enum class Spin { kToken, kSleepers, kExhausted };
Spin watch(sem_t* sem, uint32_t budget) {
  for (uint32_t i = 0; i < budget; ++i) {
    uint64_t d = data(sem).load(std::memory_order_relaxed);
    if ((d & kValueMask) != 0) return Spin::kToken;
    if ((d >> kWaitersShift) != 0) return Spin::kSleepers;
    spin::relax();
  }
  return Spin::kExhausted;
}

// Spins first, when that may pay: true if the spin took a token.
bool spin_for_token(sem_t* sem) {
  uint32_t budget = spin::Budget::next();
  if (budget == 0 || !spin::several_cpus()) return false;
  switch (watch(sem, budget)) {
    case Spin::kToken:
      if (trywait(sem) != 0) return false;  // another waiter was quicker
      spin::Budget::took_a_token();
      return true;
    case Spin::kExhausted: spin::Budget::ran_out(); return false;
    case Spin::kSleepers: return false;  // spinning was not allowed: nothing learnt
  }
  return false;
}

// Registered as a waiter, loops until a token is taken (and the registration
// dropped with it, in one compare-and-swap) or the wait fails.
int wait_registered(sem_t* sem, const struct timespec* deadline, clockid_t clock) {
  uint64_t d = data(sem).load(std::memory_order_relaxed);
  for (;;) {
    if ((d & kValueMask) != 0) {
      if (data(sem).compare_exchange_weak(d, d - 1 - kOneWaiter, std::memory_order_acquire,
                                          std::memory_order_relaxed))
        return 0;
      continue;
    }
    futex::WaitResult r = deadline != nullptr && deadline->tv_sec < 0
                              ? futex::WaitResult::kTimedOut
                              : sleep_cancellable(sem, deadline, clock);
    switch (r) {
      case futex::WaitResult::kTimedOut: unregister_waiter(sem); return -ETIMEDOUT;
      case futex::WaitResult::kInterrupted: unregister_waiter(sem); return -EINTR;
      case futex::WaitResult::kFailed: unregister_waiter(sem); return -ENOSYS;
      case futex::WaitResult::kWoken:
      case futex::WaitResult::kValueChanged: break;
    }
    d = data(sem).load(std::memory_order_relaxed);
  }
}

// Registers as a waiter and sleeps until a token comes (or the wait fails).
// pthread_cleanup_push is setjmp-based when exceptions are off: keep this
// frame free of objects with destructors and of state live across the sleep.
int sleep_for_token(sem_t* sem, const struct timespec* deadline, clockid_t clock) {
  data(sem).fetch_add(kOneWaiter, std::memory_order_relaxed);
  volatile int result;
  pthread_cleanup_push(unregister_waiter, sem);
  result = wait_registered(sem, deadline, clock);
  pthread_cleanup_pop(0);
  return result;
}

}  // namespace

// No token at once: spin, when that may pay, then sleep.
int detail::wait_slow(sem_t* sem, const struct timespec* deadline, clockid_t clock) {
  if (spin_for_token(sem)) return 0;
  return sleep_for_token(sem, deadline, clock);
}

void detail::wake_one(sem_t* sem) { futex::wake(futex_word(sem), 1, is_shared(sem)); }

int init(sem_t* sem, int pshared, unsigned value) {
  if (sem == nullptr || value > SEM_VALUE_MAX) return -EINVAL;
  Layout* l = layout(sem);
  data(sem).store(value, std::memory_order_relaxed);
  l->private_flag = pshared != 0 ? kSharedFlag : 0;
  l->pad = 0;
  return 0;
}

int timedwait(sem_t* sem, const struct timespec* deadline, clockid_t clock) {
  if (deadline == nullptr || deadline->tv_nsec < 0 || deadline->tv_nsec >= 1000000000)
    return -EINVAL;
  return wait(sem, deadline, clock);
}

int clockwait(sem_t* sem, clockid_t clock, const struct timespec* deadline) {
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return -EINVAL;
  return timedwait(sem, deadline, clock);
}

}  // namespace lambshm::sem
