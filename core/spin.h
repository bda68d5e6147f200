// Bounded, adaptive spinning before a semaphore wait goes to sleep.
//
// Why: a wait that sleeps costs the waiter a futex system call and two
// context switches, and the poster a futex wake; on the 2-CPU virtual
// machines lambshm was measured on, one hand-off that way takes 10 to 15 us,
// so a ping-pong between two processes (a request and its reply) costs 20 to
// 30 us per round trip with glibc, which always sleeps at once.  When the
// poster is running on another CPU, its post arrives within a fraction of a
// microsecond: a waiter that watches the semaphore for that long takes the
// token without entering the kernel, and neither side pays for a wake-up
// (musl spins 100 pause instructions for this reason).
//
// The policy (see wait_slow in sem_ops.cpp):
//  - Spinning only reads the semaphore.  It neither registers as a waiter nor
//    writes anything, so the shared state and the protocol stay glibc's, and
//    a post by anyone (lambshm or stock glibc) ends the spin at once.
//  - Only while nobody sleeps on the semaphore.  A post wakes a sleeper; a
//    spinner that took the token instead would leave that sleeper to wake for
//    nothing.  Sleepers also mean the semaphore is busy, where spinning pays
//    least.
//  - Only when this thread may run on more than one CPU: otherwise the poster
//    cannot run while we spin, and every spin is wasted.
//  - Bounded and adaptive, per thread: a spin lasts at most kMaxBudget
//    iterations of the CPU's spin-wait hint.  A spin that takes a token sets
//    the budget back to the full kMaxBudget; one that runs out halves it, and
//    below kMinBudget the thread does not spin at all.  So a thread whose
//    partner answers at once keeps spinning, and one whose tokens come late
//    (a Pool worker waiting for the worker that holds the lock while it
//    reads the next task), or whose partner waits for a CPU, sleeps at once
//    after a few waits, as glibc always does.
//  - One wait in kProbePeriod that spins less than the full budget spins
//    kProbeBudget instead, four full budgets.  A pair of processes that fell
//    into sleeping and waking each other after a disturbance (another process
//    took a CPU for a moment) stays there unless one of them spins longer
//    than the other needs to wake up: musl's fixed spin gets out of it by
//    luck, this gets out of it on purpose, for a bounded cost.
//
// The numbers (bench/RESULTS.md has the runs; "here" is the 2-CPU AMD EPYC
// virtual machines it was measured on):
//  - A pause costs 25 to 45 ns here (short runs are cheaper), so a full spin
//    is 3 to 6 us and a probe 13 to 23 us.  musl spins 100 pauses.
//  - A hand-off through a sleep and a wake-up took 5 to 12 us per side when
//    the machine was busy with other work, and about 15 us when it was idle
//    (waking an idle virtual CPU is slow): a ping-pong round trip cost glibc
//    10 to 30 us.  Between two processes that both spin it took 0.1 us.
//  - When spinning keeps failing, the probe costs at most 23 us every 64
//    waits: 0.4 us a wait, against 10 us or more for the sleeps themselves.
//  On CPUs with a short pause (10 cycles on older Intel parts) every spin is
//  shorter; so are musl's.
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
