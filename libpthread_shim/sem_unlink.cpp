#include <semaphore.h>

#include "export.h"
#include "named_sem.h"

LAMBSHM_EXPORT int sem_unlink(const char* name) noexcept {
  return lambshm::posix_result(lambshm::named_sem::unlink(name));
}
