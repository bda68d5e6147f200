// The errno edge (core/export.h): errno is written through its offset from the
// thread pointer, learnt once per process; it must land in the calling
// thread's errno, in every thread, and nowhere else.
#include "export.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <thread>
#include <vector>

namespace lambshm {
namespace {

TEST(ErrnoEdge, SetsTheCallersErrnoBeforeAndAfterLearningTheOffset) {
  errno = 0;
  EXPECT_EQ(posix_result(-EAGAIN), -1);  // maybe the first error: learns the offset
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_NE(g_errno_offset.load(), 0);
  EXPECT_EQ(posix_result(-ETIMEDOUT), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  EXPECT_EQ(posix_result(7), 7);
  EXPECT_EQ(errno, ETIMEDOUT);  // success leaves errno alone
}

TEST(ErrnoEdge, EachThreadGetsItsOwnErrno) {
  errno = 0;
  constexpr int kThreads = 8;
  std::vector<int> seen(kThreads, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([i, &seen] {
      errno = 0;
      posix_result(-(EPERM + i));
      seen[i] = errno;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(seen[i], EPERM + i);
  EXPECT_EQ(errno, 0);  // this thread's errno was not touched
}

// Declared nonnull, as glibc declares the sem_* arguments.
__attribute__((nonnull)) inline int check(int* p) { return opaque(p) == nullptr ? -EINVAL : 0; }

// Passing null to it is the point of the test: not for UBSan to report.
__attribute__((no_sanitize_undefined)) int check_null() {
  int* volatile null = nullptr;
  return check(null);
}

TEST(ErrnoEdge, OpaqueKeepsTheNullCheckOfANonnullArgument) {
  // A null check on an argument glibc declares nonnull must survive inlining.
  EXPECT_EQ(check_null(), -EINVAL);
}

}  // namespace
}  // namespace lambshm
