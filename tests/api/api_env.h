// The API suites run with LAMBSHM_DIR set, before the first call, to a fresh
// directory that does not exist yet (so the first call proves creation).
#pragma once

#include <string>

namespace lambshm::test {

// The backing directory of this test process.
const std::string& backing_dir();

// Why shm objects here are not memfds held by a keeper (docs/design.md), or
// "" when they are: the backing directory is on tmpfs, or LAMBSHM_MEMFD=0.
std::string memfd_unavailable();
#define REQUIRE_MEMFD()                                                    \
  do {                                                                     \
    std::string why = ::lambshm::test::memfd_unavailable();                \
    if (!why.empty()) GTEST_SKIP() << why;                                 \
  } while (0)

// Where stock glibc keeps shm objects on this machine.
inline const char kStockShmDir[] = "/dev/shm";

}  // namespace lambshm::test
