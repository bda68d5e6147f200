#include <semaphore.h>

#include "export.h"
#include "sem_ops.h"

using lambshm::opaque;  // glibc declares these arguments nonnull; we still check (export.h)
using lambshm::posix_result;
namespace ops = lambshm::sem;

// sem_wait(3): the waits, and sem_clockwait, which POSIX documents with
// sem_timedwait.  The three that block are cancellation points (see
// core/sem_ops.h).
LAMBSHM_EXPORT int sem_wait(sem_t* sem) {
  return posix_result(ops::wait(opaque(sem), nullptr, CLOCK_REALTIME));
}

LAMBSHM_EXPORT int sem_timedwait(sem_t* sem, const struct timespec* abstime) {
  return posix_result(ops::timedwait(opaque(sem), opaque(abstime), CLOCK_REALTIME));
}

// glibc 2.30: the deadline is on `clock`, CLOCK_REALTIME or CLOCK_MONOTONIC.
LAMBSHM_EXPORT int sem_clockwait(sem_t* sem, clockid_t clock, const struct timespec* abstime) {
  return posix_result(ops::clockwait(opaque(sem), clock, opaque(abstime)));
}

LAMBSHM_EXPORT int sem_trywait(sem_t* sem) noexcept {
  return posix_result(ops::trywait(opaque(sem)));
}
