// The process's umask, which a memfd does not apply by itself: a create
// applies it by hand, as the kernel does to a file (docs/small-objects.md).
//
// umask(2) cannot read it without setting it, which races with every other
// thread, so it is read from /proc/self/status (Linux 4.7) and kept.  The
// kept value is trusted only while every change goes through umask_changed():
// the preload library interposes umask() and calls it.  Elsewhere (the
// overlay, where umask() is libc's own) each read goes to /proc.
#pragma once

#include <sys/types.h>

namespace lambshm {

// The umask, or -errno when it cannot be known.
int current_umask();

// Sets the umask through the kernel and remembers it: umask()'s result.
mode_t set_umask(mode_t mask);

}  // namespace lambshm
