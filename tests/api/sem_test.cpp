// Every sem_* function through lambshm's libpthread.so.0 (pre-2.34 versions,
// and glibc 2.30's sem_clockwait), with stock glibc 2.36 as the reference and
// as the other party of shared semaphores.
#include "old_abi.h"

// Null arguments are passed on purpose: lambshm refuses them where glibc crashes.
#pragma GCC diagnostic ignored "-Wnonnull"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api_env.h"
#include "stock.h"
#include "symver.h"
#include "test_util.h"

// glibc-private, exported by the shim for stock librt.so.1.
extern "C" const char* __shm_directory(size_t* length);
LAMBSHM_SYMVER(__shm_directory, "__shm_directory@GLIBC_PRIVATE");

namespace lambshm::test {
namespace {

uint32_t waiters(sem_t* s) {
  uint64_t data;
  memcpy(&data, s, sizeof data);
  return (uint32_t)(data >> 32);
}

template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 5000 && !pred(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return pred();
}

int err(int r) { return r < 0 ? errno : 0; }
int value_of(sem_t* s) {
  int v = -1;
  EXPECT_EQ(sem_getvalue(s, &v), 0);
  return v;
}

sem_t* shared_anonymous_sem() {
  void* p = mmap(nullptr, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  EXPECT_NE(p, MAP_FAILED);
  return static_cast<sem_t*>(p);
}

// --- Unnamed semaphores ---------------------------------------------------

TEST(UnnamedSem, ErrorsMatchStockGlibc) {
  sem_t ours, theirs;
  EXPECT_EQ(err(sem_init(&ours, 0, (unsigned)SEM_VALUE_MAX + 1)),
            err(stock::sem_init(&theirs, 0, (unsigned)SEM_VALUE_MAX + 1)));
  EXPECT_EQ(errno, EINVAL);

  ASSERT_EQ(sem_init(&ours, 1, SEM_VALUE_MAX), 0);
  ASSERT_EQ(stock::sem_init(&theirs, 1, SEM_VALUE_MAX), 0);
  // data and private; glibc leaves the padding after them as it was.
  EXPECT_EQ(memcmp(&ours, &theirs, 12), 0) << "same bytes as stock sem_init";
  EXPECT_EQ(err(sem_post(&ours)), EOVERFLOW);
  EXPECT_EQ(err(stock::sem_post(&theirs)), EOVERFLOW);

  ASSERT_EQ(sem_init(&ours, 0, 0), 0);
  ASSERT_EQ(stock::sem_init(&theirs, 0, 0), 0);
  EXPECT_EQ(memcmp(&ours, &theirs, 12), 0);
  EXPECT_EQ(err(sem_trywait(&ours)), EAGAIN);
  EXPECT_EQ(err(stock::sem_trywait(&theirs)), EAGAIN);
  for (timespec bad : {timespec{0, -1}, timespec{0, 1000000000}, timespec{1, 2000000000}}) {
    EXPECT_EQ(err(sem_timedwait(&ours, &bad)), EINVAL);
    EXPECT_EQ(err(stock::sem_timedwait(&theirs, &bad)), EINVAL);
  }
  timespec past{-1, 0};
  EXPECT_EQ(err(sem_timedwait(&ours, &past)), ETIMEDOUT);
  EXPECT_EQ(err(stock::sem_timedwait(&theirs, &past)), ETIMEDOUT);
  timespec epoch{0, 0};
  EXPECT_EQ(err(sem_timedwait(&ours, &epoch)), ETIMEDOUT);
  EXPECT_EQ(err(stock::sem_timedwait(&theirs, &epoch)), ETIMEDOUT);
  EXPECT_EQ(sem_destroy(&ours), 0);
}

TEST(UnnamedSem, NullPointersAreEinvalWhereStockWouldCrash) {
  EXPECT_EQ(err(sem_post(nullptr)), EINVAL);
  EXPECT_EQ(err(sem_wait(nullptr)), EINVAL);
  EXPECT_EQ(err(sem_trywait(nullptr)), EINVAL);
  EXPECT_EQ(err(sem_init(nullptr, 0, 0)), EINVAL);
  sem_t s;
  sem_init(&s, 0, 0);
  EXPECT_EQ(err(sem_timedwait(&s, nullptr)), EINVAL);
  EXPECT_EQ(err(sem_clockwait(&s, CLOCK_MONOTONIC, nullptr)), EINVAL);
  EXPECT_EQ(err(sem_getvalue(&s, nullptr)), EINVAL);
}

TEST(UnnamedSem, CountsAndBlocks) {
  sem_t s;
  ASSERT_EQ(sem_init(&s, 0, 2), 0);
  EXPECT_EQ(value_of(&s), 2);
  EXPECT_EQ(sem_wait(&s), 0);
  EXPECT_EQ(sem_trywait(&s), 0);
  EXPECT_EQ(value_of(&s), 0);
  std::atomic<int> r{-2};
  std::thread t([&] { r = sem_wait(&s); });
  ASSERT_TRUE(eventually([&] { return waiters(&s) == 1; }));
  EXPECT_EQ(r, -2);
  EXPECT_EQ(sem_post(&s), 0);
  t.join();
  EXPECT_EQ(r, 0);
  EXPECT_EQ(waiters(&s), 0u);
}

// One semaphore, two implementations: stock glibc waits, lambshm posts, and
// the other way round, for private (threads) and shared (processes) ones.
TEST(UnnamedSem, InteroperatesWithStockGlibcBetweenThreads) {
  for (int pshared : {0, 1}) {
    sem_t s;
    ASSERT_EQ(stock::sem_init(&s, pshared, 0), 0);
    std::atomic<int> r{-2};
    std::thread stock_waiter([&] { r = stock::sem_wait(&s); });
    ASSERT_TRUE(eventually([&] { return waiters(&s) == 1; }));
    EXPECT_EQ(sem_post(&s), 0);
    stock_waiter.join();
    EXPECT_EQ(r, 0);

    ASSERT_EQ(sem_init(&s, pshared, 0), 0);
    r = -2;
    std::thread our_waiter([&] { r = sem_wait(&s); });
    ASSERT_TRUE(eventually([&] { return waiters(&s) == 1; }));
    EXPECT_EQ(stock::sem_post(&s), 0);
    our_waiter.join();
    EXPECT_EQ(r, 0);
    EXPECT_EQ(waiters(&s), 0u);
  }
}

TEST(UnnamedSem, InteroperatesWithStockGlibcBetweenProcesses) {
  sem_t* to_child = shared_anonymous_sem();
  sem_t* to_parent = shared_anonymous_sem();
  ASSERT_EQ(sem_init(to_child, 1, 0), 0);
  ASSERT_EQ(stock::sem_init(to_parent, 1, 0), 0);
  constexpr int kRounds = 2000;
  pid_t pid = fork();
  if (pid == 0) {  // the child uses stock glibc only
    for (int i = 0; i < kRounds; ++i) {
      if (stock::sem_wait(to_child) != 0 || stock::sem_post(to_parent) != 0) _exit(1);
    }
    _exit(0);
  }
  for (int i = 0; i < kRounds; ++i) {
    ASSERT_EQ(sem_post(to_child), 0);
    ASSERT_EQ(sem_wait(to_parent), 0);
  }
  int status;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(value_of(to_child), 0);
  EXPECT_EQ(waiters(to_child), 0u);
  EXPECT_EQ(waiters(to_parent), 0u);
}

void* cancellable_wait(void* s) {
  sem_wait(static_cast<sem_t*>(s));
  return nullptr;
}

TEST(UnnamedSem, ACancelledWaiterLeavesTheWaiterCountRight) {
  sem_t* s = shared_anonymous_sem();
  ASSERT_EQ(sem_init(s, 1, 0), 0);
  pthread_t threads[3];
  for (pthread_t& t : threads) ASSERT_EQ(pthread_create(&t, nullptr, cancellable_wait, s), 0);
  ASSERT_TRUE(eventually([&] { return waiters(s) == 3; }));
  for (pthread_t& t : threads) pthread_cancel(t);
  for (pthread_t& t : threads) {
    void* ret;
    pthread_join(t, &ret);
    EXPECT_EQ(ret, PTHREAD_CANCELED);
  }
  EXPECT_EQ(waiters(s), 0u);
  EXPECT_EQ(value_of(s), 0);
}

// --- sem_clockwait (glibc 2.30) -------------------------------------------

timespec clock_in(clockid_t clock, long ms) {
  timespec t;
  clock_gettime(clock, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (ms % 1000) * 1000000;
  if (t.tv_nsec >= 1000000000) {
    t.tv_sec += 1;
    t.tv_nsec -= 1000000000;
  }
  return t;
}

bool reached(clockid_t clock, const timespec& deadline) {
  timespec now;
  clock_gettime(clock, &now);
  return now.tv_sec > deadline.tv_sec ||
         (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec);
}

// Only CLOCK_REALTIME and CLOCK_MONOTONIC; another clock is EINVAL before
// anything else, so a semaphore with a token keeps it.
TEST(SemClockwait, ErrorsMatchStockGlibc) {
  sem_t ours, theirs;
  ASSERT_EQ(sem_init(&ours, 0, 1), 0);
  ASSERT_EQ(stock::sem_init(&theirs, 0, 1), 0);
  for (clockid_t bad : {CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW,
                        CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
                        CLOCK_TAI, (clockid_t)-1, (clockid_t)1000}) {
    timespec t = clock_in(CLOCK_REALTIME, 10000);
    EXPECT_EQ(err(sem_clockwait(&ours, bad, &t)), EINVAL) << "clock " << bad;
    EXPECT_EQ(err(stock::sem_clockwait(&theirs, bad, &t)), EINVAL) << "clock " << bad;
  }
  EXPECT_EQ(value_of(&ours), 1);
  int theirs_value = -1;
  EXPECT_EQ(stock::sem_getvalue(&theirs, &theirs_value), 0);
  EXPECT_EQ(theirs_value, 1);
  for (clockid_t clock : {CLOCK_REALTIME, CLOCK_MONOTONIC}) {
    for (timespec bad : {timespec{0, -1}, timespec{0, 1000000000}, timespec{1, 2000000000}}) {
      EXPECT_EQ(err(sem_clockwait(&ours, clock, &bad)), EINVAL);
      EXPECT_EQ(err(stock::sem_clockwait(&theirs, clock, &bad)), EINVAL);
    }
    // A token is taken whatever the deadline, even a past one.
    timespec epoch{0, 0};
    ASSERT_EQ(sem_init(&ours, 0, 1), 0);
    ASSERT_EQ(stock::sem_init(&theirs, 0, 1), 0);
    EXPECT_EQ(sem_clockwait(&ours, clock, &epoch), 0);
    EXPECT_EQ(stock::sem_clockwait(&theirs, clock, &epoch), 0);
    EXPECT_EQ(value_of(&ours), 0);
    for (timespec past : {timespec{-1, 0}, epoch}) {
      EXPECT_EQ(err(sem_clockwait(&ours, clock, &past)), ETIMEDOUT);
      EXPECT_EQ(err(stock::sem_clockwait(&theirs, clock, &past)), ETIMEDOUT);
    }
    EXPECT_EQ(waiters(&ours), 0u);
    EXPECT_EQ(waiters(&theirs), 0u);
  }
}

// A deadline 150 ms ahead on the monotonic clock is long past on the
// realtime clock (which counts from 1970): the clock given is the one used.
TEST(SemClockwait, WaitsOnTheClockGiven) {
  using Clockwait = int (*)(sem_t*, clockid_t, const timespec*);
  for (Clockwait clockwait : {Clockwait(sem_clockwait), Clockwait(stock::sem_clockwait)}) {
    bool stock_glibc = clockwait != Clockwait(sem_clockwait);
    sem_t s;
    ASSERT_EQ(sem_init(&s, 0, 0), 0);
    timespec deadline = clock_in(CLOCK_MONOTONIC, 150);
    EXPECT_EQ(err(clockwait(&s, CLOCK_REALTIME, &deadline)), ETIMEDOUT) << stock_glibc;
    EXPECT_FALSE(reached(CLOCK_MONOTONIC, deadline)) << "returned at once; stock: " << stock_glibc;
    EXPECT_EQ(err(clockwait(&s, CLOCK_MONOTONIC, &deadline)), ETIMEDOUT) << stock_glibc;
    EXPECT_TRUE(reached(CLOCK_MONOTONIC, deadline)) << "not before the deadline; stock: "
                                                    << stock_glibc;
    EXPECT_EQ(waiters(&s), 0u);
  }
}

// One waits with sem_clockwait, the other implementation posts.
TEST(SemClockwait, WakesAndInteroperatesWithStockGlibc) {
  for (clockid_t clock : {CLOCK_REALTIME, CLOCK_MONOTONIC}) {
    for (int pshared : {0, 1}) {
      sem_t s;
      ASSERT_EQ(sem_init(&s, pshared, 0), 0);
      std::atomic<int> r{-2};
      timespec far = clock_in(clock, 20000);
      std::thread ours([&] { r = sem_clockwait(&s, clock, &far); });
      ASSERT_TRUE(eventually([&] { return waiters(&s) == 1; }));
      EXPECT_EQ(stock::sem_post(&s), 0);
      ours.join();
      EXPECT_EQ(r, 0);

      r = -2;
      std::thread theirs([&] { r = stock::sem_clockwait(&s, clock, &far); });
      ASSERT_TRUE(eventually([&] { return waiters(&s) == 1; }));
      EXPECT_EQ(sem_post(&s), 0);
      theirs.join();
      EXPECT_EQ(r, 0);
      EXPECT_EQ(waiters(&s), 0u);
      EXPECT_EQ(value_of(&s), 0);
    }
  }
}

void* cancellable_clockwait(void* s) {
  timespec far = clock_in(CLOCK_MONOTONIC, 60000);
  sem_clockwait(static_cast<sem_t*>(s), CLOCK_MONOTONIC, &far);
  return nullptr;
}

// A cancellation point: a cancelled waiter unregisters itself.
TEST(SemClockwait, IsACancellationPoint) {
  sem_t* s = shared_anonymous_sem();
  ASSERT_EQ(sem_init(s, 1, 0), 0);
  pthread_t threads[2];
  for (pthread_t& t : threads) ASSERT_EQ(pthread_create(&t, nullptr, cancellable_clockwait, s), 0);
  ASSERT_TRUE(eventually([&] { return waiters(s) == 2; }));
  for (pthread_t& t : threads) pthread_cancel(t);
  for (pthread_t& t : threads) {
    void* ret;
    pthread_join(t, &ret);
    EXPECT_EQ(ret, PTHREAD_CANCELED);
  }
  EXPECT_EQ(waiters(s), 0u);
  EXPECT_EQ(value_of(s), 0);
}

// --- Named semaphores -----------------------------------------------------

std::string sem_file(const std::string& name) { return backing_dir() + "/sem." + name; }
bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}
bool mapped(const void* addr) { return !mapping_at(addr).empty(); }

TEST(NamedSem, CreatesSemNameInTheBackingDirectoryWithGlibcsBytes) {
  std::string name = unique_name("create");
  mode_t old = umask(022);
  sem_t* s = sem_open(("/" + name).c_str(), O_CREAT | O_EXCL, 0666, 3);
  umask(old);
  ASSERT_NE(s, SEM_FAILED) << strerror(errno);
  struct stat st;
  ASSERT_EQ(stat(sem_file(name).c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_FALSE(exists(std::string(kStockShmDir) + "/sem." + name));
  unsigned char bytes[32];
  int fd = open(sem_file(name).c_str(), O_RDONLY);
  ASSERT_EQ(read(fd, bytes, 32), 32);
  close(fd);
  unsigned char expected[32] = {3, 0, 0, 0, 0, 0, 0, 0, 0x80};
  EXPECT_EQ(memcmp(bytes, expected, 32), 0);
  EXPECT_EQ(value_of(s), 3);
  EXPECT_EQ(sem_close(s), 0);
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
  EXPECT_FALSE(exists(sem_file(name)));
}

TEST(NamedSem, OpeningTwiceReturnsTheSameAddressAndClosingCounts) {
  std::string name = unique_name("twice");
  sem_t* a = sem_open(name.c_str(), O_CREAT, 0600, 0);
  ASSERT_NE(a, SEM_FAILED);
  sem_t* b = sem_open(name.c_str(), 0);
  sem_t* c = sem_open(("//" + name).c_str(), O_CREAT, 0600, 99);  // value ignored: it exists
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  EXPECT_EQ(value_of(a), 0);
  EXPECT_EQ(sem_close(a), 0);
  EXPECT_EQ(sem_close(a), 0);
  EXPECT_TRUE(mapped(a));
  EXPECT_EQ(sem_close(a), 0);
  EXPECT_FALSE(mapped(a));  // unmapped with the last reference
  EXPECT_EQ(err(sem_close(a)), EINVAL);
  sem_unlink(name.c_str());
}

// Re-opening a name this process already has open checks permission as the
// first open did: glibc opens the file O_RDWR each time and says EACCES.
TEST(NamedSem, ReopeningWithoutWritePermissionIsEaccesLikeStock) {
  if (!is_root()) GTEST_SKIP() << "needs root to act as another user";
  std::string name = unique_name("ro");
  // Resolves (creates) the backing directory here: nobody may not create it.
  std::string warm = unique_name("warm");
  sem_t* warm_sem = sem_open(warm.c_str(), O_CREAT, 0600, 0);
  ASSERT_NE(warm_sem, SEM_FAILED);
  sem_close(warm_sem);
  sem_unlink(warm.c_str());
  auto reopen_errno = [&](auto open, auto unlink) {
    return as_nobody([&]() -> int {
      sem_t* first = open(name.c_str(), O_CREAT | O_EXCL, 0444, 1);
      if (first == SEM_FAILED) return 90;
      errno = 0;
      sem_t* again = open(name.c_str(), O_CREAT, 0444, 1);
      int created_again = again == SEM_FAILED ? errno : 0;
      errno = 0;
      sem_t* plain = open(name.c_str(), 0, 0, 0);
      int opened = plain == SEM_FAILED ? errno : 0;
      unlink(name.c_str());
      return created_again == opened ? created_again : 91;
    });
  };
  int ours = reopen_errno([](const char* n, int f, mode_t m, unsigned v) { return sem_open(n, f, m, v); },
                          sem_unlink);
  int theirs = reopen_errno(stock::sem_open, stock::sem_unlink);
  EXPECT_EQ(theirs, EACCES) << "stock glibc";
  EXPECT_EQ(ours, theirs);
  EXPECT_FALSE(exists(sem_file(name)));
}

// The owner with read and write permission keeps the shortcut: the mapping
// already held, no descriptor.
TEST(NamedSem, ReopeningAsTheOwnerReturnsTheMappingHeld) {
  std::string name = unique_name("own");
  sem_t* a = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(a, SEM_FAILED);
  EXPECT_EQ(sem_open(name.c_str(), O_CREAT, 0600, 0), a);
  EXPECT_EQ(sem_close(a), 0);
  EXPECT_EQ(sem_close(a), 0);
  sem_unlink(name.c_str());
}

TEST(NamedSem, CloseOfSomethingNotOpenedIsEinval) {
  sem_t unnamed;
  sem_init(&unnamed, 0, 0);
  EXPECT_EQ(err(sem_close(&unnamed)), EINVAL);
  EXPECT_EQ(err(sem_close(nullptr)), EINVAL);
}

TEST(NamedSem, CreationErrors) {
  std::string name = unique_name("errors");
  errno = 0;
  EXPECT_EQ(sem_open(name.c_str(), 0), SEM_FAILED);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(sem_open(name.c_str(), O_CREAT, 0600, (unsigned)SEM_VALUE_MAX + 1), SEM_FAILED);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_FALSE(exists(sem_file(name)));
  sem_t* s = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, SEM_VALUE_MAX);
  ASSERT_NE(s, SEM_FAILED);
  EXPECT_EQ(sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0), SEM_FAILED);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(err(sem_post(s)), EOVERFLOW);
  sem_close(s);
  sem_unlink(name.c_str());
  EXPECT_EQ(err(sem_unlink(name.c_str())), ENOENT);
}

TEST(NamedSem, NameRules) {
  for (const char* bad : {"", "/", "a/b", ".", "..", "//a/"}) {
    EXPECT_EQ(sem_open(bad, O_CREAT, 0600, 0), SEM_FAILED) << "'" << bad << "'";
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(err(sem_unlink(bad)), ENOENT) << "'" << bad << "'";
  }
  EXPECT_EQ(sem_open(nullptr, 0), SEM_FAILED);
  EXPECT_EQ(errno, EINVAL);
  // "sem." + name must fit NAME_MAX: 251 bytes is the longest name.
  std::string name = unique_name("L");
  name += std::string(251 - name.size(), 'x');
  sem_t* s = sem_open(name.c_str(), O_CREAT, 0600, 1);
  ASSERT_NE(s, SEM_FAILED) << strerror(errno);
  sem_close(s);
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
  name += "x";
  EXPECT_EQ(sem_open(name.c_str(), O_CREAT, 0600, 1), SEM_FAILED);
  EXPECT_EQ(errno, ENAMETOOLONG);
  EXPECT_EQ(err(sem_unlink(name.c_str())), ENAMETOOLONG);
}

TEST(NamedSem, UnlinkedWhileOpenStillWorksAndTheNameCanBeReused) {
  std::string name = unique_name("reuse");
  sem_t* old_sem = sem_open(name.c_str(), O_CREAT, 0600, 5);
  ASSERT_NE(old_sem, SEM_FAILED);
  ASSERT_EQ(sem_unlink(name.c_str()), 0);
  EXPECT_EQ(sem_post(old_sem), 0);
  EXPECT_EQ(value_of(old_sem), 6);
  sem_t* fresh = sem_open(name.c_str(), O_CREAT, 0600, 1);
  ASSERT_NE(fresh, SEM_FAILED);
  EXPECT_NE(fresh, old_sem);
  EXPECT_EQ(value_of(fresh), 1);
  EXPECT_EQ(value_of(old_sem), 6);
  sem_close(old_sem);
  sem_close(fresh);
  sem_unlink(name.c_str());
}

TEST(NamedSem, NeverFollowsAPlantedSymlinkOrMapsAForeignFile) {
  TempDir victim("victim");
  std::string target = victim / "precious";
  int t = open(target.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_EQ(write(t, std::string(64, 'z').data(), 64), 64);
  close(t);
  std::string name = unique_name("planted");
  ASSERT_EQ(symlink(target.c_str(), sem_file(name).c_str()), 0);
  EXPECT_EQ(sem_open(name.c_str(), 0), SEM_FAILED);
  EXPECT_EQ(errno, ELOOP);
  EXPECT_EQ(sem_open(name.c_str(), O_CREAT, 0600, 0), SEM_FAILED);
  EXPECT_EQ(errno, ELOOP);
  char buf[64];
  t = open(target.c_str(), O_RDONLY);
  ASSERT_EQ(read(t, buf, 64), 64);
  close(t);
  EXPECT_EQ(std::string(buf, 64), std::string(64, 'z'));
  EXPECT_EQ(sem_unlink(name.c_str()), 0);

  // A file too small to hold a semaphore would fault on first use: refused.
  std::string small = unique_name("small");
  close(open(sem_file(small).c_str(), O_CREAT | O_WRONLY, 0600));
  EXPECT_EQ(sem_open(small.c_str(), O_CREAT, 0600, 0), SEM_FAILED);
  EXPECT_EQ(errno, EINVAL);
  sem_unlink(small.c_str());
}

TEST(NamedSem, LeavesNoTemporaryFilesBehind) {
  std::vector<std::string> before = list_dir(backing_dir());
  for (int i = 0; i < 50; ++i) {
    std::string name = unique_name("tmp");
    sem_t* s = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, i);
    ASSERT_NE(s, SEM_FAILED);
    sem_close(s);
    sem_unlink(name.c_str());
  }
  EXPECT_EQ(list_dir(backing_dir()), before);
}

TEST(NamedSem, ManyOpenAtOnceWithNoFixedLimit) {
  constexpr int kCount = 5000;  // musl stops at 256
  std::vector<std::string> names;
  std::set<sem_t*> seen;
  for (int i = 0; i < kCount; ++i) {
    names.push_back(unique_name("many"));
    sem_t* s = sem_open(names.back().c_str(), O_CREAT | O_EXCL, 0600, i % 7);
    ASSERT_NE(s, SEM_FAILED) << i << ": " << strerror(errno);
    ASSERT_TRUE(seen.insert(s).second);
  }
  int i = 0;
  for (const std::string& n : names) {
    sem_t* s = sem_open(n.c_str(), 0);
    ASSERT_NE(s, SEM_FAILED);
    EXPECT_EQ(value_of(s), i++ % 7);
    EXPECT_EQ(sem_close(s), 0);
    EXPECT_EQ(sem_close(s), 0);
    EXPECT_EQ(sem_unlink(n.c_str()), 0);
  }
}

TEST(ShmDirectory, NamesTheBackingDirectoryWithATrailingSlash) {
  size_t length = 0;
  const char* dir = __shm_directory(&length);
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(std::string(dir, length), backing_dir() + "/");
  EXPECT_EQ(strlen(dir), length);
}

}  // namespace
}  // namespace lambshm::test
