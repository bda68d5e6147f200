#include <semaphore.h>

#include "export.h"
#include "sem_ops.h"

// Both are cancellation points (see core/semaphore.h).
LAMBSHM_EXPORT int sem_wait(sem_t* sem) {
  return lambshm::posix_result(lambshm::sem::wait(sem, nullptr, CLOCK_REALTIME));
}

LAMBSHM_EXPORT int sem_timedwait(sem_t* sem, const struct timespec* abstime) {
  return lambshm::posix_result(lambshm::sem::timedwait(sem, abstime, CLOCK_REALTIME));
}

LAMBSHM_EXPORT int sem_trywait(sem_t* sem) noexcept {
  return lambshm::posix_result(lambshm::sem::trywait(sem));
}

LAMBSHM_EXPORT int sem_getvalue(sem_t* sem, int* value) noexcept {
  return lambshm::posix_result(lambshm::sem::getvalue(sem, value));
}
