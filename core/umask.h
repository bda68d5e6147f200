// The process's umask, which a memfd does not apply by itself: a create
// applies it by hand, as the kernel does to a file (docs/small-objects.md).
//
// umask(2) cannot read it without setting it, which races with every other
// thread, so it is read from /proc/self/status (Linux 4.7) once and kept.
// The preload library interposes umask(), which calls set_umask(): the kept
// value is then always right.  Elsewhere (the overlay, where umask() is
// libc's own) each create writes the kept value back with umask(2), which
// says whether it was still right (umask.cpp).
#pragma once

#include <sys/types.h>

namespace lambshm {

// The umask, or -errno when it cannot be known.
int current_umask();

// Sets the umask through the kernel and remembers it: umask()'s result.
mode_t set_umask(mode_t mask);

}  // namespace lambshm
