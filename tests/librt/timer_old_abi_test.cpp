// The old x86_64 timer ABI (timer_*@GLIBC_2.2.5, int timer ids), called
// through its exact version with dlvsym on our librt.so.1.  aarch64 has no
// such versions: the tests skip there.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

#include "librt_versions.h"
#include "rt_util.h"

namespace lambshm::test {
namespace {

#ifndef LAMBSHM_COMPAT_timer_create_2_2_5
TEST(TimerOldAbi, NotOnThisArchitecture) { GTEST_SKIP() << "no old timer ABI here"; }
#else

struct OldAbi {
  int (*create)(clockid_t, struct sigevent*, int*);
  int (*destroy)(int);
  int (*settime)(int, int, const struct itimerspec*, struct itimerspec*);
  int (*gettime)(int, struct itimerspec*);
  int (*getoverrun)(int);
};

OldAbi old_abi() {
  return {
      reinterpret_cast<decltype(OldAbi::create)>(
          ours("timer_create", LAMBSHM_COMPAT_timer_create_2_2_5)),
      reinterpret_cast<decltype(OldAbi::destroy)>(
          ours("timer_delete", LAMBSHM_COMPAT_timer_delete_2_2_5)),
      reinterpret_cast<decltype(OldAbi::settime)>(
          ours("timer_settime", LAMBSHM_COMPAT_timer_settime_2_2_5)),
      reinterpret_cast<decltype(OldAbi::gettime)>(
          ours("timer_gettime", LAMBSHM_COMPAT_timer_gettime_2_2_5)),
      reinterpret_cast<decltype(OldAbi::getoverrun)>(
          ours("timer_getoverrun", LAMBSHM_COMPAT_timer_getoverrun_2_2_5)),
  };
}


// POSIX timers of this process, as the kernel lists them (absent: -1).
int kernel_timer_count() {
  std::ifstream f("/proc/self/timers");
  if (!f) return -1;
  int n = 0;
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("ID:", 0) == 0) ++n;
  return n;
}

TEST(TimerOldAbi, EveryEntryPointExistsAndDiffersFromTheNewOne) {
  OldAbi o = old_abi();
  ASSERT_NE(o.create, nullptr);
  ASSERT_NE(o.destroy, nullptr);
  ASSERT_NE(o.settime, nullptr);
  ASSERT_NE(o.gettime, nullptr);
  ASSERT_NE(o.getoverrun, nullptr);
  EXPECT_NE((void*)o.create, ours("timer_create", LAMBSHM_VERSION_timer_create));
  EXPECT_NE((void*)o.destroy, ours("timer_delete", LAMBSHM_VERSION_timer_delete));
}

TEST(TimerOldAbi, IntIdsWorkEverywhere) {
  OldAbi o = old_abi();
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_NONE;
  int a = -1, b = -1;
  ASSERT_EQ(o.create(CLOCK_MONOTONIC, &ev, &a), 0);
  ASSERT_EQ(o.create(CLOCK_REALTIME, &ev, &b), 0);
  EXPECT_GE(a, 0);
  EXPECT_LT(a, 256);
  EXPECT_NE(a, b);

  const struct itimerspec arm = {{1, 0}, {100, 0}};
  struct itimerspec old, v;
  EXPECT_EQ(o.settime(a, 0, &arm, &old), 0);
  EXPECT_EQ(ns(old.it_value), 0);
  EXPECT_EQ(o.gettime(a, &v), 0);
  EXPECT_GT(ns(v.it_value), 0);
  EXPECT_LE(ns(v.it_value), ns(arm.it_value));
  EXPECT_EQ(ns(v.it_interval), ns(arm.it_interval));
  EXPECT_EQ(o.gettime(b, &v), 0);
  EXPECT_EQ(ns(v.it_value), 0) << "b was never armed";
  EXPECT_EQ(o.getoverrun(a), 0);

  // Kernel errors come through.
  struct itimerspec bad = arm;
  bad.it_value.tv_nsec = 1000000000;
  EXPECT_EQ(o.settime(a, 0, &bad, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);

  EXPECT_EQ(o.destroy(a), 0);
  EXPECT_EQ(o.destroy(b), 0);
  // A deleted id is free again, and refused until reused.
  EXPECT_EQ(o.gettime(a, &v), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(o.destroy(a), -1);
  EXPECT_EQ(errno, EINVAL);
  int c;
  ASSERT_EQ(o.create(CLOCK_MONOTONIC, &ev, &c), 0);
  EXPECT_EQ(c, std::min(a, b)) << "the lowest free slot is reused";
  EXPECT_EQ(o.destroy(c), 0);
}

TEST(TimerOldAbi, BadIdsAreEinvalNotACrash) {
  OldAbi o = old_abi();
  struct itimerspec v = {};
  for (int id : {-1, 256, 1000, INT32_MIN, 255}) {
    errno = 0;
    EXPECT_EQ(o.gettime(id, &v), -1) << id;
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(o.settime(id, 0, &v, nullptr), -1) << id;
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(o.getoverrun(id), -1) << id;
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(o.destroy(id), -1) << id;
    EXPECT_EQ(errno, EINVAL);
  }
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_NONE;
  EXPECT_EQ(o.create(CLOCK_MONOTONIC, &ev, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  // The new timer's errors come through, and nothing is left behind.
  int id;
  EXPECT_EQ(o.create(100, &ev, &id), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST(TimerOldAbi, TableOf256ThenEinvalWithoutALeak) {
  OldAbi o = old_abi();
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_NONE;
  int before = kernel_timer_count();
  std::vector<int> ids;
  for (int i = 0; i < 256; ++i) {
    int id;
    ASSERT_EQ(o.create(CLOCK_MONOTONIC, &ev, &id), 0) << i;
    ids.push_back(id);
  }
  int id;
  EXPECT_EQ(o.create(CLOCK_MONOTONIC, &ev, &id), -1);
  EXPECT_EQ(errno, EINVAL);
  if (before >= 0) {
    EXPECT_EQ(kernel_timer_count(), before + 256) << "the 257th was deleted";
  }
  for (int i : ids) EXPECT_EQ(o.destroy(i), 0);
  if (before >= 0) {
    EXPECT_EQ(kernel_timer_count(), before);
  }
}

std::atomic<int> g_calls;
void count(union sigval v) { g_calls.fetch_add(v.sival_int); }

TEST(TimerOldAbi, SigevThread) {
  g_calls = 0;
  OldAbi o = old_abi();
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = count;
  ev.sigev_value.sival_int = 1;
  int id;
  ASSERT_EQ(o.create(CLOCK_MONOTONIC, &ev, &id), 0);
  const struct itimerspec soon = {{0, 0}, {0, 1000}};
  ASSERT_EQ(o.settime(id, 0, &soon, nullptr), 0);
  EXPECT_TRUE(eventually([] { return g_calls.load() == 1; }));
  EXPECT_EQ(o.destroy(id), 0);
}

int old_signal_delivery() {
  OldAbi o = old_abi();
  block(SIGUSR1);
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGUSR1;
  ev.sigev_value.sival_int = 99;
  int id;
  if (o.create(CLOCK_MONOTONIC, &ev, &id) != 0) return 10;
  const struct itimerspec soon = {{0, 0}, {0, 1000}};
  if (o.settime(id, 0, &soon, nullptr) != 0) return 11;
  siginfo_t info;
  if (wait_for(SIGUSR1, &info) != SIGUSR1) return 12;
  if (info.si_code != SI_TIMER || info.si_value.sival_int != 99) return 13;
  return o.destroy(id) == 0 ? 0 : 14;
}

TEST(TimerOldAbi, SigevSignal) { EXPECT_EQ(in_child(old_signal_delivery), 0); }

#endif  // LAMBSHM_COMPAT_timer_create_2_2_5

}  // namespace
}  // namespace lambshm::test
