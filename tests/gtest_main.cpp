// main() for every GoogleTest program without one of its own (Meson's
// `gtest_main` dependency in tests/meson.build): GoogleTest's, except that a
// program whose tests were all skipped exits 77, as every other main here
// does (gtest_exit.h).
#include <gtest/gtest.h>

#include "gtest_exit.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return lambshm::test::exit_status(RUN_ALL_TESTS());
}
