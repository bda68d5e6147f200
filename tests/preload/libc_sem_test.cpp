// libc's own functions for unnamed semaphores, which the preload library
// leaves alone, on the semaphores it creates: at every version, and across
// processes (the shared-futex flag sem_open writes must be the one libc
// expects).  And why sem_close could not be left to libc.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include "preload_env.h"

namespace lambshm::test {
namespace {

TEST(LibcOnOurSemaphores, EveryUnnamedFunctionAtEveryVersion) {
  std::string name = unique_name("libc");
  sem_t* sem = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED);
  for (const char* v : kVersions) {
    SCOPED_TRACE(v);
    int value = -1;
    EXPECT_EQ(version_of<SemOp>("sem_post", v)(sem), 0);
    EXPECT_EQ(version_of<SemOp>("sem_post", v)(sem), 0);
    EXPECT_EQ(version_of<SemGet>("sem_getvalue", v)(sem, &value), 0);
    EXPECT_EQ(value, 2);
    EXPECT_EQ(version_of<SemOp>("sem_wait", v)(sem), 0);
    EXPECT_EQ(version_of<SemOp>("sem_trywait", v)(sem), 0);
    errno = 0;
    EXPECT_EQ(version_of<SemOp>("sem_trywait", v)(sem), -1);
    EXPECT_EQ(errno, EAGAIN);
    struct timespec past = {1, 0};
    errno = 0;
    EXPECT_EQ(version_of<SemTimed>("sem_timedwait", v)(sem, &past), -1);
    EXPECT_EQ(errno, ETIMEDOUT);
  }
  // sem_clockwait (glibc 2.30, libc since 2.34) on a monotonic deadline.
  for (const char* v : {kNew, "GLIBC_2.30"}) {
    SCOPED_TRACE(v);
    auto clockwait = version_of<SemClock>("sem_clockwait", v);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    errno = 0;
    EXPECT_EQ(clockwait(sem, CLOCK_MONOTONIC, &now), -1);
    EXPECT_EQ(errno, ETIMEDOUT);
    ASSERT_EQ(sem_post(sem), 0);
    now.tv_sec += 30;
    EXPECT_EQ(clockwait(sem, CLOCK_MONOTONIC, &now), 0);
  }
  EXPECT_EQ(sem_close(sem), 0);
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
}

TEST(LibcOnOurSemaphores, LibcsOwnSemCloseDoesNotKnowThem) {
  // Why sem_close is interposed: libc looks the address up in its own table.
  std::string name = unique_name("close");
  sem_t* sem = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED);
  errno = 0;
  EXPECT_EQ(libc_version_of<SemOp>("sem_close", kNew)(sem), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(sem_close(sem), 0);
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
}

TEST(LibcOnOurSemaphores, AWaiterInAnotherProcessIsWoken) {
  // The probe (stock glibc, under the preload library too) opens the
  // semaphore by name and blocks in libc's sem_timedwait; libc's sem_post
  // here must wake it, which takes the shared-futex flag sem_open wrote.
  std::string name = unique_name("wake");
  sem_t* sem = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED);
  ProcResult r;
  std::thread waiter([&] {
    r = run({probe_stock(), "sem_open " + name + " 0", "sem_timedwait_ms 30000"});
  });
  for (int i = 0; i < 10000 && waiters(sem) == 0; ++i) usleep(1000);
  EXPECT_EQ(waiters(sem), 1u) << "the probe never blocked";
  EXPECT_EQ(sem_post(sem), 0);
  waiter.join();
  EXPECT_NE(r.out.find("sem_timedwait_ms 30000 -> 0"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(sem_close(sem), 0);
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
}

}  // namespace
}  // namespace lambshm::test
