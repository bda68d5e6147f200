#include <semaphore.h>

#include "export.h"
#include "sem_ops.h"

LAMBSHM_EXPORT int sem_post(sem_t* sem) noexcept {
  return lambshm::posix_result(lambshm::sem::post(sem));
}
