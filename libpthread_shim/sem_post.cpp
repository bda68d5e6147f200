#include <semaphore.h>

#include "export.h"
#include "sem_ops.h"

// opaque: glibc declares the argument nonnull; we still check (export.h).
LAMBSHM_EXPORT int sem_post(sem_t* sem) noexcept {
  return lambshm::posix_result(lambshm::sem::post(lambshm::opaque(sem)));
}
