// The exit status of a GoogleTest program with its own main().
#pragma once

#include <gtest/gtest.h>

namespace lambshm::test {

// RUN_ALL_TESTS()'s result, except 77 (Meson's "skipped") when tests ran
// and every one of them was skipped: a program that proved nothing here
// (the ptrace-driven reliability tests under qemu-user) is counted as
// skipped, not as passed.
inline int exit_status(int run_all_tests_result) {
  const ::testing::UnitTest& u = *::testing::UnitTest::GetInstance();
  if (run_all_tests_result == 0 && u.test_to_run_count() > 0 &&
      u.skipped_test_count() == u.test_to_run_count())
    return 77;
  return run_all_tests_result;
}

}  // namespace lambshm::test
