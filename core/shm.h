// shm_open / shm_unlink on the backing directory.  Return values, never errno.
#pragma once

#include <sys/types.h>

namespace lambshm::shm {

// A descriptor (O_CLOEXEC, O_NOFOLLOW always added) or -errno.
int open(const char* name, int oflag, mode_t mode);
int unlink(const char* name);

}  // namespace lambshm::shm
