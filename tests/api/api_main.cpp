#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#include "api_env.h"
#include "gtest_exit.h"
#include "test_util.h"

namespace lambshm::test {
namespace {
std::string g_backing_dir;
}
const std::string& backing_dir() { return g_backing_dir; }

std::string memfd_unavailable() {
  constexpr long kTmpfsMagic = 0x01021994;
  const char* memfd = getenv("LAMBSHM_MEMFD");
  if (memfd != nullptr && strcmp(memfd, "0") == 0) return "LAMBSHM_MEMFD=0: objects are plain files";
  struct statfs fs;
  std::string parent = g_backing_dir.substr(0, g_backing_dir.rfind('/'));
  if (statfs(parent.c_str(), &fs) != 0) return "cannot statfs " + parent;
  if (fs.f_type == kTmpfsMagic) return parent + " is tmpfs: objects are plain files there";
  return "";
}
}  // namespace lambshm::test

int main(int argc, char** argv) {
  lambshm::test::TempDir root("api");
  lambshm::test::g_backing_dir = root / "shm";
  setenv("LAMBSHM_DIR", lambshm::test::g_backing_dir.c_str(), 1);
  ::testing::InitGoogleTest(&argc, argv);
  return lambshm::test::exit_status(RUN_ALL_TESTS());
}
