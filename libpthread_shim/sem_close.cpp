#include <semaphore.h>

#include "export.h"
#include "named_sem.h"

LAMBSHM_EXPORT int sem_close(sem_t* sem) noexcept {
  return lambshm::posix_result(lambshm::named_sem::close(sem));
}
