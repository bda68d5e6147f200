#include "sem_ops.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace lambshm {
namespace {

// An atomic read: other threads change the word meanwhile (and TSan says so).
uint32_t waiters(sem_t* s) {
  uint64_t& data = reinterpret_cast<sem::Layout*>(s)->data;
  return (uint32_t)(std::atomic_ref<uint64_t>(data).load(std::memory_order_relaxed) >> 32);
}

timespec from_now(int ms, clockid_t clock = CLOCK_REALTIME) {
  timespec ts;
  clock_gettime(clock, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

// Polls until `pred` holds (bounded), for states another thread reaches.
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 5000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

TEST(SemOps, InitWritesGlibcsLayout) {
  sem_t s;
  memset(&s, 0xaa, sizeof s);
  ASSERT_EQ(sem::init(&s, 1, 3), 0);
  auto* l = reinterpret_cast<sem::Layout*>(&s);
  EXPECT_EQ(l->data, 3u);
  EXPECT_EQ(l->private_flag, 128u);  // shared: plain futex operations
  EXPECT_EQ(l->pad, 0u);
  ASSERT_EQ(sem::init(&s, 0, 0), 0);
  EXPECT_EQ(l->private_flag, 0u);  // private: FUTEX_PRIVATE_FLAG operations
}

TEST(SemOps, SharedImageIsWhatGlibcWritesToSemFiles) {
  // Observed with glibc 2.31: value 3 -> 03 00 00 00 00 00 00 00 80 00 00 00, then zeros.
  unsigned char image[32];
  sem::make_shared_image(3, image);
  unsigned char expected[32] = {3, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0};
  EXPECT_EQ(memcmp(image, expected, sizeof image), 0);
}

TEST(SemOps, InitRejectsValuesAboveSemValueMax) {
  sem_t s;
  EXPECT_EQ(sem::init(&s, 0, SEM_VALUE_MAX), 0);
  EXPECT_EQ(sem::init(&s, 0, (unsigned)SEM_VALUE_MAX + 1), -EINVAL);
  EXPECT_EQ(sem::init(nullptr, 0, 0), -EINVAL);
}

TEST(SemOps, PostAndWaitCount) {
  sem_t s;
  sem::init(&s, 0, 0);
  int v = -1;
  EXPECT_EQ(sem::trywait(&s), -EAGAIN);
  EXPECT_EQ(sem::post(&s), 0);
  EXPECT_EQ(sem::post(&s), 0);
  EXPECT_EQ(sem::getvalue(&s, &v), 0);
  EXPECT_EQ(v, 2);
  EXPECT_EQ(sem::wait(&s, nullptr, CLOCK_REALTIME), 0);
  EXPECT_EQ(sem::trywait(&s), 0);
  EXPECT_EQ(sem::trywait(&s), -EAGAIN);
  EXPECT_EQ(sem::getvalue(&s, &v), 0);
  EXPECT_EQ(v, 0);
}

TEST(SemOps, PostAtSemValueMaxIsEoverflowAndChangesNothing) {
  sem_t s;
  sem::init(&s, 1, SEM_VALUE_MAX);
  EXPECT_EQ(sem::post(&s), -EOVERFLOW);
  int v;
  sem::getvalue(&s, &v);
  EXPECT_EQ(v, SEM_VALUE_MAX);
}

TEST(SemOps, TimedwaitValidatesTheDeadlineFirst) {
  sem_t s;
  sem::init(&s, 0, 5);  // even with a token available, as glibc does
  timespec bad{0, 1000000000};
  EXPECT_EQ(sem::timedwait(&s, &bad, CLOCK_REALTIME), -EINVAL);
  bad.tv_nsec = -1;
  EXPECT_EQ(sem::timedwait(&s, &bad, CLOCK_REALTIME), -EINVAL);
  EXPECT_EQ(sem::timedwait(&s, nullptr, CLOCK_REALTIME), -EINVAL);
  int v;
  sem::getvalue(&s, &v);
  EXPECT_EQ(v, 5);
}

TEST(SemOps, TimedwaitTakesAnAvailableTokenWhateverTheDeadline) {
  sem_t s;
  sem::init(&s, 0, 1);
  timespec past{-5, 0};
  EXPECT_EQ(sem::timedwait(&s, &past, CLOCK_REALTIME), 0);
}

TEST(SemOps, TimedwaitTimesOutAndUnregisters) {
  sem_t s;
  sem::init(&s, 0, 0);
  timespec past{-1, 0};  // negative: timed out without sleeping
  EXPECT_EQ(sem::timedwait(&s, &past, CLOCK_REALTIME), -ETIMEDOUT);
  EXPECT_EQ(waiters(&s), 0u);
  timespec soon = from_now(20);
  EXPECT_EQ(sem::timedwait(&s, &soon, CLOCK_REALTIME), -ETIMEDOUT);
  EXPECT_EQ(waiters(&s), 0u);
  timespec mono = from_now(20, CLOCK_MONOTONIC);
  EXPECT_EQ(sem::timedwait(&s, &mono, CLOCK_MONOTONIC), -ETIMEDOUT);
  EXPECT_EQ(waiters(&s), 0u);
}

TEST(SemOps, ABlockedWaiterIsWokenByPost) {
  for (int pshared : {0, 1}) {
    sem_t s;
    sem::init(&s, pshared, 0);
    std::atomic<int> result{1};
    std::thread t([&] { result = sem::wait(&s, nullptr, CLOCK_REALTIME); });
    ASSERT_TRUE(eventually([&] { return waiters(&s) == 1; }));
    EXPECT_EQ(sem::post(&s), 0);
    t.join();
    EXPECT_EQ(result, 0);
    EXPECT_EQ(waiters(&s), 0u);
    int v;
    sem::getvalue(&s, &v);
    EXPECT_EQ(v, 0);
  }
}

TEST(SemOps, ManyThreadsNeitherLoseNorInventTokens) {
  sem_t s;
  sem::init(&s, 0, 0);
  constexpr int kThreads = 4, kEach = 50000;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kEach; ++j) ASSERT_EQ(sem::wait(&s, nullptr, CLOCK_REALTIME), 0);
    });
    threads.emplace_back([&] {
      for (int j = 0; j < kEach; ++j) ASSERT_EQ(sem::post(&s), 0);
    });
  }
  for (auto& t : threads) t.join();
  int v;
  sem::getvalue(&s, &v);
  EXPECT_EQ(v, 0);
  EXPECT_EQ(waiters(&s), 0u);
}

TEST(SemOps, ProcessSharedAcrossFork) {
  auto* s = static_cast<sem_t*>(
      mmap(nullptr, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(s, MAP_FAILED);
  sem::init(s, 1, 0);
  constexpr int kChildren = 4, kEach = 2000;
  std::vector<pid_t> pids;
  for (int i = 0; i < kChildren; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      for (int j = 0; j < kEach; ++j)
        if (sem::wait(s, nullptr, CLOCK_REALTIME) != 0) _exit(1);
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (int j = 0; j < kChildren * kEach; ++j) ASSERT_EQ(sem::post(s), 0);
  for (pid_t pid : pids) {
    int status;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(waiters(s), 0u);
  munmap(s, sizeof(sem_t));
}

void on_signal(int) {}

TEST(SemOps, ASignalHandlerInterruptsAWaitWithEintr) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART
  struct sigaction old;
  sigaction(SIGUSR1, &sa, &old);
  sem_t s;
  sem::init(&s, 0, 0);
  std::atomic<int> result{1};
  pthread_t waiter{};
  std::thread t([&] {
    waiter = pthread_self();
    result = sem::wait(&s, nullptr, CLOCK_REALTIME);
  });
  ASSERT_TRUE(eventually([&] { return waiters(&s) == 1; }));
  // Registered is not yet asleep: a signal handled just before the futex
  // call interrupts nothing, and the wait then sleeps on.  Signal until the
  // wait returns (under valgrind that window is wide).
  ASSERT_TRUE(eventually([&] {
    pthread_kill(t.native_handle(), SIGUSR1);
    return result != 1;
  }));
  t.join();
  EXPECT_EQ(result, -EINTR);
  EXPECT_EQ(waiters(&s), 0u);
  sigaction(SIGUSR1, &old, nullptr);
}

struct CancelArgs {
  sem_t* sem;
  std::atomic<bool> started{false};
};

void* wait_forever(void* p) {
  auto* args = static_cast<CancelArgs*>(p);
  args->started = true;
  sem::wait(args->sem, nullptr, CLOCK_REALTIME);
  return nullptr;
}

TEST(SemOps, CancellingABlockedWaiterUnregistersIt) {
  sem_t s;
  sem::init(&s, 1, 0);
  CancelArgs args{&s};
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, wait_forever, &args), 0);
  ASSERT_TRUE(eventually([&] { return waiters(&s) == 1; }));
  ASSERT_EQ(pthread_cancel(t), 0);
  void* ret;
  ASSERT_EQ(pthread_join(t, &ret), 0);
  EXPECT_EQ(ret, PTHREAD_CANCELED);
  EXPECT_EQ(waiters(&s), 0u);
  // The semaphore still works, and nobody consumed a token.
  EXPECT_EQ(sem::post(&s), 0);
  int v;
  sem::getvalue(&s, &v);
  EXPECT_EQ(v, 1);
}

void* wait_after_cancel(void* p) {
  auto* args = static_cast<CancelArgs*>(p);
  while (!args->started) {
  }
  sem::wait(args->sem, nullptr, CLOCK_REALTIME);  // must act on the pending cancel
  return reinterpret_cast<void*>(1);
}

TEST(SemOps, AWaitActsOnPendingCancellationEvenWithATokenAvailable) {
  sem_t s;
  sem::init(&s, 0, 1);
  CancelArgs args{&s};
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, wait_after_cancel, &args), 0);
  ASSERT_EQ(pthread_cancel(t), 0);
  args.started = true;
  void* ret;
  ASSERT_EQ(pthread_join(t, &ret), 0);
  EXPECT_EQ(ret, PTHREAD_CANCELED);
  int v;
  sem::getvalue(&s, &v);
  EXPECT_EQ(v, 1);  // the token was not taken
}

}  // namespace
}  // namespace lambshm
