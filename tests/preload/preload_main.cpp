#include <gtest/gtest.h>
#include <stdlib.h>

#include "gtest_exit.h"
#include "preload_env.h"
#include "test_util.h"

namespace lambshm::test {
namespace {
std::string g_backing_dir;
}
const std::string& backing_dir() { return g_backing_dir; }
}  // namespace lambshm::test

int main(int argc, char** argv) {
  if (getenv("LD_PRELOAD") == nullptr) {
    fprintf(stderr, "run under LD_PRELOAD=liblambshm-preload.so (meson test does)\n");
    return 1;
  }
  lambshm::test::TempDir root("preload");
  lambshm::test::g_backing_dir = root / "shm";
  setenv("LAMBSHM_DIR", lambshm::test::g_backing_dir.c_str(), 1);
  ::testing::InitGoogleTest(&argc, argv);
  return lambshm::test::exit_status(RUN_ALL_TESTS());
}
