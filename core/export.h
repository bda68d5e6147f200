// The edge between the C ABI and the internals: exported functions translate
// internal results (value or -errno) into POSIX conventions here, and nowhere
// else is errno written.
#pragma once

#include <cerrno>

// Exported from the shared library; the version script assigns the version.
#define LAMBSHM_EXPORT extern "C" __attribute__((visibility("default")))

namespace lambshm {

// r >= 0 is returned as is; -errno becomes errno and -1.
inline int posix_result(int r) {
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return r;
}

}  // namespace lambshm
