// One line of diagnostics on stderr: "<prefix><message>\n" in one write(2),
// so that lines from several processes never interleave, and without stdio
// (whose state a program may own).  Shared by the libraries' debug_log and
// the keeper's log.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdio>

#include "linux_syscall.h"

namespace lambshm {

// `line` (of `size` bytes) holds the prefix in its first `prefix` bytes.
inline void write_log_line(char* line, size_t size, int prefix, const char* format, va_list ap) {
  int m = vsnprintf(line + prefix, size - prefix - 1, format, ap);
  size_t length = prefix + (m < 0 ? 0 : (size_t)m);
  if (length > size - 2) length = size - 2;
  line[length++] = '\n';
  sys::write(2, line, length);
}

}  // namespace lambshm
