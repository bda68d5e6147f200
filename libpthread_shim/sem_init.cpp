#include <semaphore.h>

#include "export.h"
#include "sem_ops.h"

LAMBSHM_EXPORT int sem_init(sem_t* sem, int pshared, unsigned value) noexcept {
  return lambshm::posix_result(lambshm::sem::init(sem, pshared, value));
}

// glibc's sem_destroy does nothing, and neither need we: a semaphore owns no resources.
LAMBSHM_EXPORT int sem_destroy(sem_t*) noexcept { return 0; }
