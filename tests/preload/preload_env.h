// The preload suite's GoogleTest programs run under LD_PRELOAD with
// LAMBSHM_DIR set, before the first call, to a fresh directory.  Paths of the
// libraries and helpers come from environment variables meson sets.
#pragma once

#include <string>

#include "test_util.h"

namespace lambshm::test {

const std::string& backing_dir();
inline std::string preload_library() { return helper("LAMBSHM_PRELOAD_LIB"); }
inline std::string compose_library() { return helper("LAMBSHM_COMPOSE_LIB"); }
// tests/probe/probe-stock: bound to libc's GLIBC_2.34 functions.
inline std::string probe_stock() { return helper("LAMBSHM_PROBE_STOCK"); }
// tests/probe/probe: bound to lambshm's librt.so.1 and libpthread.so.0.
inline std::string probe_overlay() { return helper("LAMBSHM_PROBE"); }

}  // namespace lambshm::test
