// The spin policy of core/spin.h: bounded, adaptive, per thread, with a long
// probe now and then.
#include "spin.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

namespace lambshm::spin {
namespace {

// The budget is per thread: each test starts from a fresh thread's state.
template <typename F>
void in_new_thread(F f) {
  std::thread t(f);
  t.join();
}

TEST(SpinBudget, StartsFullAndStaysFullWhileSpinsTakeTokens) {
  in_new_thread([] {
    for (uint32_t i = 0; i < 3 * kProbePeriod; ++i) {
      ASSERT_EQ(Budget::next(), kMaxBudget);  // no probes while the budget is full
      Budget::took_a_token();
    }
  });
}

TEST(SpinBudget, HalvesWhenSpinsRunOutThenStopsSpinning) {
  in_new_thread([] {
    uint32_t expected = kMaxBudget;
    while (expected / 2 >= kMinBudget) {
      Budget::ran_out();
      expected /= 2;
      EXPECT_EQ(Budget::next(), expected);
    }
    Budget::ran_out();
    EXPECT_EQ(Budget::next(), 0u);
  });
}

TEST(SpinBudget, ProbesWithALongSpinOnceAPeriodUntilOneTakesAToken) {
  in_new_thread([] {
    for (int i = 0; i < 10; ++i) Budget::ran_out();
    int probes = 0, quiet = 0;
    for (uint32_t i = 0; i < 4 * kProbePeriod; ++i) {
      uint32_t b = Budget::next();
      probes += b == kProbeBudget;
      quiet += b == 0;
      if (b != 0) Budget::ran_out();
    }
    EXPECT_EQ(probes, 4);
    EXPECT_EQ(quiet, (int)(4 * kProbePeriod) - 4);
    // A probe that takes a token restores the full budget.
    for (uint32_t i = 0; i < kProbePeriod; ++i)
      if (Budget::next() == kProbeBudget) Budget::took_a_token();
    EXPECT_EQ(Budget::next(), kMaxBudget);
  });
}

TEST(SpinBudget, EachThreadHasItsOwn) {
  in_new_thread([] {
    for (int i = 0; i < 10; ++i) Budget::ran_out();
    in_new_thread([] { EXPECT_EQ(Budget::next(), kMaxBudget); });
    EXPECT_EQ(Budget::next(), 0u);
  });
}

TEST(SpinCpus, AgreesWithTheAffinityMask) {
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(several_cpus(), CPU_COUNT(&set) > 1);
}

}  // namespace
}  // namespace lambshm::spin
