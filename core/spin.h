// Bounded, adaptive spinning before a semaphore wait goes to sleep: a waiter
// that watches the semaphore while its poster runs on another CPU takes the
// token without a futex wait, and the poster skips the wake.  The rules
// (docs/design.md, "Spinning before a wait sleeps", has the reasons):
//  - a spin only reads the semaphore, so the protocol stays glibc's and any
//    post, ours or stock glibc's, ends it;
//  - only while nobody sleeps on it, and only when this thread may run on
//    more than one CPU;
//  - per thread, at most kMaxBudget spin hints: a spin that takes a token
//    restores the full budget, one that runs out halves it, and below
//    kMinBudget the thread no longer spins;
//  - one wait in kProbePeriod spins kProbeBudget, so two processes stuck
//    waking each other get out of it, for a bounded cost.
#pragma once

#include <cstdint>

namespace lambshm::spin {

inline constexpr uint32_t kMaxBudget = 128;
inline constexpr uint32_t kMinBudget = 4;
inline constexpr uint32_t kProbePeriod = 64;
inline constexpr uint32_t kProbeBudget = 4 * kMaxBudget;

// Tells the CPU that this is a spin-wait loop (and a hyperthread sibling may
// have the core).
inline void relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield" ::: "memory");
#endif
}

// Whether this thread may run on more than one CPU (asked once per process).
bool several_cpus();

// This thread's spin budget: how long its next wait may spin (0: not at all),
// and what each wait's spin teaches it.
class Budget {
 public:
  static uint32_t next() {
    if (budget_ < kMaxBudget && ++since_probe_ >= kProbePeriod) {
      since_probe_ = 0;
      return kProbeBudget;
    }
    return budget_;
  }
  static void took_a_token() { budget_ = kMaxBudget; }
  static void ran_out() { budget_ = budget_ / 2 < kMinBudget ? 0 : budget_ / 2; }

 private:
  static inline thread_local uint32_t budget_ = kMaxBudget;
  static inline thread_local uint32_t since_probe_ = 0;
};

}  // namespace lambshm::spin
