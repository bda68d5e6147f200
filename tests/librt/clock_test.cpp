// clock_* through our librt (GLIBC_2.2.5 on x86_64; aarch64's librt has
// none), against libc's own functions, which ours forward to: the same
// results and errno, clock_nanosleep's error-number return, its
// cancellation point.
#include "rt_abi.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <vector>

#include "rt_util.h"
#include "stock_rt.h"

namespace lambshm::test {
namespace {

#ifndef LAMBSHM_VERSION_clock_gettime
TEST(Clock, NotInThisArchitecturesLibrt) { GTEST_SKIP() << "librt 2.26 has no clock_* here"; }
#else

// Every clock id Linux knows, plus invalid ones and CPU-time clock encodings.
std::vector<clockid_t> clocks() {
  return {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID,
          CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
          CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, 10 /* unused */, CLOCK_TAI, 12, 100,
          -1, INT_MIN, INT_MAX,
          // CPU clocks of pid 1, of a pid that cannot exist, of thread 1
          (clockid_t)((~1u) << 3 | 2), (clockid_t)((~4194305u) << 3 | 2),
          (clockid_t)((~1u) << 3 | 6)};
}

int err(int r) { return r < 0 ? errno : 0; }

TEST(Clock, BoundToOurLibrt) {
  for (auto [fn, name] : {std::pair<const void*, const char*>{(const void*)&clock_getres, "clock_getres"},
                          {(const void*)&clock_gettime, "clock_gettime"},
                          {(const void*)&clock_settime, "clock_settime"},
                          {(const void*)&clock_nanosleep, "clock_nanosleep"},
                          {(const void*)&clock_getcpuclockid, "clock_getcpuclockid"}}) {
    EXPECT_EQ(fn, ours(name, LAMBSHM_BASE_VERSION)) << name;
    EXPECT_NE(library_of(fn).find("librt.so.1"), std::string::npos) << name;
  }
}

TEST(Clock, GetresMatchesLibc) {
  for (clockid_t c : clocks()) {
    struct timespec a = {-1, -1}, b = {-1, -1};
    errno = 0;
    int ra = clock_getres(c, &a), ea = err(ra);
    errno = 0;
    int rb = stock_rt::clock_getres(c, &b), eb = err(rb);
    EXPECT_EQ(ra, rb) << "clock " << c;
    EXPECT_EQ(ea, eb) << "clock " << c;
    EXPECT_EQ(a.tv_sec, b.tv_sec) << "clock " << c;
    EXPECT_EQ(a.tv_nsec, b.tv_nsec) << "clock " << c;
  }
  EXPECT_EQ(clock_getres(CLOCK_MONOTONIC, nullptr), 0);  // POSIX: a null res is allowed
}

TEST(Clock, GettimeMatchesLibc) {
  for (clockid_t c : clocks()) {
    struct timespec a, b;
    errno = 0;
    int ra = clock_gettime(c, &a), ea = err(ra);
    errno = 0;
    int rb = stock_rt::clock_gettime(c, &b), eb = err(rb);
    EXPECT_EQ(ra, rb) << "clock " << c;
    EXPECT_EQ(ea, eb) << "clock " << c;
  }
  // Ours reads the same clock: sandwiched between two reads of libc's.
  for (clockid_t c : {CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME}) {
    struct timespec before, mine, after;
    ASSERT_EQ(stock_rt::clock_gettime(c, &before), 0);
    ASSERT_EQ(clock_gettime(c, &mine), 0);
    ASSERT_EQ(stock_rt::clock_gettime(c, &after), 0);
    auto ns = [](const timespec& t) { return t.tv_sec * 1000000000LL + t.tv_nsec; };
    EXPECT_LE(ns(before), ns(mine)) << "clock " << c;
    EXPECT_LE(ns(mine), ns(after)) << "clock " << c;
  }
}

TEST(Clock, SettimeRefusesWhatItMust) {
  // Never a valid request for CLOCK_REALTIME: this process may be root.
  const struct timespec bad_ns = {1, 1000000000}, negative_ns = {1, -1}, ok = {1, 0};
  struct Case {
    clockid_t clock;
    const struct timespec* tp;
  } cases[] = {{CLOCK_REALTIME, &bad_ns}, {CLOCK_REALTIME, &negative_ns},
               {CLOCK_MONOTONIC, &ok},    {CLOCK_BOOTTIME, &ok},
               {CLOCK_PROCESS_CPUTIME_ID, &ok}, {CLOCK_THREAD_CPUTIME_ID, &ok},
               {100, &ok},                {-1, &ok}};
  for (const Case& c : cases) {
    errno = 0;
    int ra = clock_settime(c.clock, c.tp), ea = err(ra);
    errno = 0;
    int rb = stock_rt::clock_settime(c.clock, c.tp), eb = err(rb);
    EXPECT_EQ(ra, -1) << "clock " << c.clock;
    EXPECT_EQ(ra, rb) << "clock " << c.clock;
    EXPECT_EQ(ea, eb) << "clock " << c.clock;
    EXPECT_EQ(ea, EINVAL) << "clock " << c.clock;
  }
}

TEST(Clock, SettimeWithoutPrivilegeIsEperm) {
  int code = in_child([] {
    if (!drop_privileges()) return 77;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    errno = 0;
    int ra = clock_settime(CLOCK_REALTIME, &now), ea = errno;
    errno = 0;
    int rb = stock_rt::clock_settime(CLOCK_REALTIME, &now), eb = errno;
    return ra == -1 && ea == EPERM && rb == -1 && eb == EPERM ? 0 : 1;
  });
  if (code == 77) {
    GTEST_SKIP() << "cannot drop privileges here";
  }
  EXPECT_EQ(code, 0);
}

TEST(Clock, NanosleepReturnsErrorNumbers) {
  const struct timespec zero = {0, 0}, bad_ns = {0, 1000000000}, negative_ns = {0, -1},
                        negative_s = {-1, 0};
  struct Case {
    clockid_t clock;
    int flags;
    const struct timespec* req;
  } cases[] = {
      {CLOCK_MONOTONIC, 0, &zero},          {CLOCK_REALTIME, 0, &zero},
      {CLOCK_MONOTONIC, TIMER_ABSTIME, &zero},  // long past: returns at once
      {CLOCK_REALTIME, TIMER_ABSTIME, &negative_s},
      {CLOCK_MONOTONIC, 0, &bad_ns},        {CLOCK_MONOTONIC, 0, &negative_ns},
      {CLOCK_MONOTONIC, 0, &negative_s},    {CLOCK_THREAD_CPUTIME_ID, 0, &zero},
      {CLOCK_PROCESS_CPUTIME_ID, 0, &zero}, {100, 0, &zero},
      {-1, 0, &zero},                       {CLOCK_MONOTONIC_RAW, 0, &zero},
  };
  for (const Case& c : cases) {
    errno = 12345;
    int ra = clock_nanosleep(c.clock, c.flags, c.req, nullptr);
    EXPECT_EQ(errno, 12345) << "errno untouched, clock " << c.clock;
    int rb = stock_rt::clock_nanosleep(c.clock, c.flags, c.req, nullptr);
    EXPECT_EQ(ra, rb) << "clock " << c.clock << " flags " << c.flags;
    EXPECT_NE(ra, -1);
  }
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad_ns, nullptr), EINVAL);
  EXPECT_EQ(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &zero, nullptr), EINVAL);
}

std::atomic<int> g_handled;
void count_signal(int) { g_handled.fetch_add(1); }

TEST(Clock, NanosleepInterruptedIsEintrWithTheRemainder) {
  struct sigaction sa = {}, old;
  sa.sa_handler = count_signal;
  sa.sa_flags = SA_RESTART;  // nanosleep is not restarted after a handler anyway
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  std::atomic<int> result{-1};
  struct timespec remain = {0, 0};
  pthread_t t;
  struct Arg {
    std::atomic<int>* result;
    struct timespec* remain;
  } arg = {&result, &remain};
  ASSERT_EQ(pthread_create(&t, nullptr, [](void* p) -> void* {
              auto* a = static_cast<Arg*>(p);
              const struct timespec req = {60, 0};
              a->result->store(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, a->remain));
              return nullptr;
            }, &arg), 0);
  // Signal until it returns: a signal that comes before the sleep is harmless.
  EXPECT_TRUE(eventually([&] {
    pthread_kill(t, SIGUSR1);
    return result.load() != -1;
  }));
  pthread_join(t, nullptr);
  EXPECT_EQ(result.load(), EINTR);
  EXPECT_GT(remain.tv_sec * 1000000000LL + remain.tv_nsec, 0);
  EXPECT_LE(remain.tv_sec, 60);
  sigaction(SIGUSR1, &old, nullptr);
}

TEST(Clock, NanosleepIsACancellationPoint) {
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, [](void*) -> void* {
              const struct timespec req = {60, 0};
              clock_nanosleep(CLOCK_MONOTONIC, 0, &req, nullptr);
              return (void*)1;
            }, nullptr), 0);
  ASSERT_EQ(pthread_cancel(t), 0);
  void* result;
  ASSERT_EQ(pthread_join(t, &result), 0);
  EXPECT_EQ(result, PTHREAD_CANCELED);
}

TEST(Clock, GetcpuclockidMatchesLibc) {
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(child, 0);
  // 4194314: above the kernel's PID_MAX_LIMIT.  (INT_MAX would not do: its
  // clock id overflows into CLOCK_PROCESS_CPUTIME_ID, in libc as in ours.)
  for (pid_t pid : {0, getpid(), child, 1, 4194314, INT_MAX, -1}) {
    clockid_t a = 12345, b = 12345;
    errno = 4321;
    int ra = clock_getcpuclockid(pid, &a);
    EXPECT_EQ(errno, 4321) << "returns the error number, errno untouched";
    int rb = stock_rt::clock_getcpuclockid(pid, &b);
    EXPECT_EQ(ra, rb) << "pid " << pid;
    EXPECT_EQ(a, b) << "pid " << pid;
    if (ra == 0) {
      struct timespec ts;
      EXPECT_EQ(clock_gettime(a, &ts), 0) << "pid " << pid;
    }
  }
  clockid_t c;
  EXPECT_EQ(clock_getcpuclockid(4194314, &c), ESRCH);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

#endif  // LAMBSHM_VERSION_clock_gettime

}  // namespace
}  // namespace lambshm::test
