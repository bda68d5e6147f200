// The API suites run with LAMBSHM_DIR set, before the first call, to a fresh
// directory that does not exist yet (so the first call proves creation).
#pragma once

#include <string>

namespace lambshm::test {

// The backing directory of this test process.
const std::string& backing_dir();

// Where stock glibc keeps shm objects on this machine.
inline const char kStockShmDir[] = "/dev/shm";

}  // namespace lambshm::test
