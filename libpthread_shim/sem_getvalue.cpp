#include <semaphore.h>

#include "export.h"
#include "sem_ops.h"

// opaque: glibc declares the arguments nonnull; we still check (export.h).
LAMBSHM_EXPORT int sem_getvalue(sem_t* sem, int* value) noexcept {
  return lambshm::posix_result(
      lambshm::sem::getvalue(lambshm::opaque(sem), lambshm::opaque(value)));
}
