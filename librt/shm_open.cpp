#include <sys/mman.h>

#include "export.h"
#include "shm.h"

LAMBSHM_EXPORT int shm_open(const char* name, int oflag, mode_t mode) noexcept {
  return lambshm::posix_result(lambshm::shm::open(name, oflag, mode));
}

LAMBSHM_EXPORT int shm_unlink(const char* name) noexcept {
  return lambshm::posix_result(lambshm::shm::unlink(name));
}
