// sem_close is ours because the table of open semaphores is: libc's
// sem_close would not find a semaphore it did not map (see interpose.h).
#include <semaphore.h>

#include "export.h"
#include "interpose.h"
#include "named_sem.h"

extern "C" int lambshm_preload_sem_close(sem_t* sem) noexcept {
  return lambshm::posix_result(lambshm::named_sem::close(sem));
}
LAMBSHM_INTERPOSE(sem_close)
