// shm_open and shm_unlink on the backing directory, for every program in the
// process whichever glibc it was built against (see interpose.h).
#include <sys/mman.h>

#include "export.h"
#include "interpose.h"
#include "shm.h"

extern "C" int lambshm_preload_shm_open(const char* name, int oflag, mode_t mode) noexcept {
  return lambshm::posix_result(lambshm::shm::open(name, oflag, mode));
}
LAMBSHM_INTERPOSE(shm_open)

extern "C" int lambshm_preload_shm_unlink(const char* name) noexcept {
  return lambshm::posix_result(lambshm::shm::unlink(name));
}
LAMBSHM_INTERPOSE(shm_unlink)
