#include <semaphore.h>

#include "export.h"
#include "sem_ops.h"

LAMBSHM_EXPORT int sem_init(sem_t* sem, int pshared, unsigned value) noexcept {
  return lambshm::posix_result(lambshm::sem::init(sem, pshared, value));
}
